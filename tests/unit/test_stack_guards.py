"""SPEC §4 rules of the Pulumi layer that need no engine: config reading, guards, outputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from inventory.objects import DesiredObject, Feature
from inventory.settings import Mode, Settings
from inventory.stack import (
    GuardError,
    check_adoption,
    check_deletion_cap,
    check_secret_config,
    counts,
    logical_names_from_urns,
    outputs,
    refresh_warning,
    settings_from_config,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _secret(namespace: str, name: str, feature: Feature = Feature.PUSH) -> DesiredObject:
    return DesiredObject("v1", "Secret", namespace, name, feature, secret_data={"config": b"SECRET-BYTES"})


def test_config_values_are_read_with_their_types() -> None:
    raw = {"cluster-inventory:pushMode": "events", "cluster-inventory:maxDeletions": "5",
           "cluster-inventory:capiNamespaces": json.dumps(["a", "b"]),
           "cluster-inventory:managementClusterSelector": json.dumps({"env": "mgmt"}),
           "cluster-inventory:eventsNamePrefix": "123", "cluster-inventory:kubeconfig": ""}
    settings = settings_from_config(raw.get)
    assert settings.push_mode is Mode.EVENTS
    assert settings.max_deletions == 5
    assert settings.capi_namespaces == ("a", "b")
    assert settings.management_cluster_selector == {"env": "mgmt"}
    assert settings.events_name_prefix == "123"  # a string key stays a string
    assert settings.kubeconfig is None  # empty means ambient


def test_deletions_up_to_the_cap_are_allowed() -> None:
    check_deletion_cap(["Secret/a/x", "Secret/a/y"], ["Secret/a/x"], Settings(max_deletions=1))


def test_deletions_over_the_cap_stop_the_run_and_say_how_to_allow_them() -> None:
    with pytest.raises(GuardError, match="would delete 2 managed objects.*allowMassDeletion"):
        check_deletion_cap(["Secret/a/x", "Secret/a/y"], [], Settings(max_deletions=1))


def test_allow_mass_deletion_lifts_the_cap() -> None:
    check_deletion_cap(["Secret/a/x", "Secret/a/y"], [], Settings(max_deletions=1, allow_mass_deletion=True))


def test_existing_object_unknown_to_the_stack_is_refused_without_adoption() -> None:
    with pytest.raises(GuardError, match="1 objects already exist.*adoptExisting"):
        check_adoption([_secret("a", "x")], [], lambda obj: True, Settings())


def test_existing_object_the_stack_already_manages_is_not_an_adoption() -> None:
    check_adoption([_secret("a", "x")], ["Secret/a/x"], lambda obj: True, Settings())


def test_adopt_existing_takes_over_without_looking() -> None:
    def must_not_be_called(obj: DesiredObject) -> bool:
        raise AssertionError("existence checked although adoptExisting is set")

    check_adoption([_secret("a", "x")], [], must_not_be_called, Settings(adopt_existing=True))


def test_counts_are_per_feature_and_kind() -> None:
    objects = [_secret("a", "x"), _secret("b", "x"), _secret("a", "p-sveltos-kubeconfig", Feature.SVELTOS)]
    assert counts(objects) == {"push": {"Secret": 2}, "sveltos": {"Secret": 1}}


def test_outputs_carry_no_credential_bytes() -> None:
    rendered = json.dumps(outputs([_secret("a", "x")], [], None, Settings()))
    assert "SECRET-BYTES" not in rendered
    assert json.loads(rendered)["managedObjects"] == ["Secret/a/x"]


def test_refresh_before_the_next_scheduled_run_warns() -> None:
    message = refresh_warning(NOW + timedelta(minutes=10), NOW, Settings(schedule_interval_minutes=30))
    assert message is not None and "before the next scheduled run" in message


def test_refresh_after_the_next_scheduled_run_is_quiet() -> None:
    assert refresh_warning(NOW + timedelta(minutes=45), NOW, Settings(schedule_interval_minutes=30)) is None


def test_no_schedule_means_no_refresh_warning() -> None:
    assert refresh_warning(NOW + timedelta(minutes=1), NOW, Settings(schedule_interval_minutes=0)) is None


def test_kubeconfig_content_in_plain_config_is_refused() -> None:
    content = "apiVersion: v1\nkind: Config\nclusters: []\n"
    with pytest.raises(GuardError, match="kubeconfig holds a kubeconfig's content"):
        check_secret_config(Settings(kubeconfig=content), lambda key: False)
    check_secret_config(Settings(kubeconfig=content), lambda key: key == "cluster-inventory:kubeconfig")


def test_kubeconfig_path_in_plain_config_is_fine() -> None:
    check_secret_config(Settings(kubeconfig="/etc/mgmt.kubeconfig"), lambda key: False)


def test_extra_secrets_in_plain_config_are_refused() -> None:
    settings = Settings(extra_secrets=({"metadata": {"name": "x"}, "stringData": {"k": "v"}},))
    with pytest.raises(GuardError, match="extraSecrets holds Secret data"):
        check_secret_config(settings, lambda key: False)
    check_secret_config(settings, lambda key: key == "cluster-inventory:extraSecrets")


def test_managed_objects_are_read_back_from_resource_urns() -> None:
    urns = [
        "urn:pulumi:prod::cluster-inventory::pulumi:pulumi:Stack::cluster-inventory-prod",
        "urn:pulumi:prod::cluster-inventory::pulumi:providers:kubernetes::management-cluster",
        "urn:pulumi:prod::cluster-inventory::cluster-inventory:index:Inventory::inventory",
        "urn:pulumi:prod::cluster-inventory::cluster-inventory:index:Inventory$kubernetes:core/v1:Secret::Secret/a/x",
        (
            "urn:pulumi:prod::cluster-inventory::cluster-inventory:index:Inventory"
            "$kubernetes:lib.projectsveltos.io/v1beta1:EventSource::EventSource/push"
        ),
    ]
    assert logical_names_from_urns(urns) == ["Secret/a/x", "EventSource/push"]
