"""A stack's config is checked as render checks its --config file: every `cluster-inventory:` key
the stack sets is known, and every value parses, or the run stops naming the key."""

from __future__ import annotations

import pytest

from inventory.settings import SettingsError
from inventory.stack.resources import settings_from_config


def test_a_misspelt_stack_config_key_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match=r"unknown config key 'shardCont' \(did you mean 'shardCount'\?\)"):
        settings_from_config({"cluster-inventory:shardCont": "3"})


def test_config_keys_of_other_packages_are_theirs_to_check() -> None:
    settings = settings_from_config({"kubernetes:context": "other", "cluster-inventory:maxDeletions": "7"})
    assert settings.max_deletions == 7


def test_a_list_key_whose_value_is_not_json_names_the_key_and_how_to_set_it() -> None:
    with pytest.raises(SettingsError) as refused:
        settings_from_config({"cluster-inventory:managementClusterSelector": "type=mgmt"})
    assert str(refused.value).startswith("managementClusterSelector: not valid JSON")
    assert "set it as one JSON value or part by part with `pulumi config set --path`" in str(refused.value)


def test_a_value_that_is_not_json_is_never_quoted() -> None:
    with pytest.raises(SettingsError) as refused:
        settings_from_config({"cluster-inventory:extraSecrets": "token: SECRET-TOKEN-VALUE"})
    assert "extraSecrets: not valid JSON" in str(refused.value)
    assert "SECRET-TOKEN-VALUE" not in str(refused.value)


def test_every_problem_of_the_config_is_listed_at_once() -> None:
    with pytest.raises(SettingsError) as refused:
        settings_from_config({"cluster-inventory:capiNamespaces": "[a", "cluster-inventory:pushMod": "off"})
    assert "capiNamespaces: not valid JSON" in str(refused.value) and "'pushMod'" in str(refused.value)
