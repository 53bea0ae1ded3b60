"""``ClusterInventory`` takes its settings as the project's stack takes its config: the same keys,
the same checks, the same refusals (docs/component.md)."""

from __future__ import annotations

import pytest

from inventory.settings import Mode, Settings, SettingsError
from inventory.stack.component import validated_settings
from inventory.stack.resources import settings_from_config


def test_a_mapping_of_config_keys_gives_the_settings_the_same_stack_config_gives() -> None:
    given = {"capiNamespaces": ["capi"], "sveltosMode": "off", "maxDeletions": 7,
             "secretReaderRoutes": {"fleet": ["capi"]}, "allowMassDeletion": True}
    from_stack = settings_from_config({
        "cluster-inventory:capiNamespaces": '["capi"]', "cluster-inventory:sveltosMode": "off",
        "cluster-inventory:maxDeletions": "7", "cluster-inventory:secretReaderRoutes": '{"fleet": ["capi"]}',
        "cluster-inventory:allowMassDeletion": "true"})
    assert validated_settings(given) == from_stack
    assert from_stack.sveltos_mode is Mode.OFF


def test_a_misspelt_key_is_refused_by_name_as_the_stack_refuses_it() -> None:
    with pytest.raises(SettingsError, match=r"unknown config key 'shardCont' \(did you mean 'shardCount'\?\)"):
        validated_settings({"shardCont": 3})


def test_a_bad_value_is_refused_naming_its_key() -> None:
    with pytest.raises(SettingsError, match=r"pushMode: 'both'"):
        validated_settings({"pushMode": "both"})


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(SettingsError, match=r"shardIndex: 3 must be from 0 to shardCount - 1 \(1\)"):
        validated_settings(Settings(shard_count=2, shard_index=3))


def test_the_defaults_are_pulumi_yamls() -> None:
    assert validated_settings({}) == Settings()
