"""Configured values that end up in every planned object are checked when the settings load."""

from __future__ import annotations

import pytest

from inventory.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"managedByValue": "cluster inventory"}, "managedByValue: 'cluster inventory' is not a valid label value"),
        ({"managedByValue": ""}, "managedByValue: '' is not a valid label value"),
        ({"pushSecretKey": "kube/config"}, "pushSecretKey: 'kube/config' is not a valid Secret data key"),
        ({"sveltosKubeconfigKey": ""}, "sveltosKubeconfigKey: '' is not a valid Secret data key"),
        ({"defaultProfileNamespace": "Default"}, "defaultProfileNamespace: namespace name 'Default' is not a DNS-1123"),
    ],
)
def test_output_values_the_api_server_would_reject_are_config_errors(raw: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_mapping(raw)


def test_default_output_values_are_valid() -> None:
    Settings().validate()
