"""SPEC §4 rules of the Pulumi layer that need no engine: config reading, guards, outputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from inventory import __version__
from inventory.model.objects import DesiredObject, Feature
from inventory.settings import Mode, Settings
from inventory.stack.guards import GuardError
from inventory.stack.holdback import Kept
from inventory.stack.resources import (
    check_secret_config,
    counts,
    outputs,
    provider_args,
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
    settings = settings_from_config(raw)
    assert settings.push_mode is Mode.EVENTS
    assert settings.max_deletions == 5
    assert settings.capi_namespaces == ("a", "b")
    assert settings.management_cluster_selector == {"env": "mgmt"}
    assert settings.events_name_prefix == "123"  # a string key stays a string
    assert settings.kubeconfig is None  # empty means ambient


def test_counts_are_per_feature_and_kind() -> None:
    objects = [_secret("a", "x"), _secret("b", "x"), _secret("a", "p-sveltos-kubeconfig", Feature.SVELTOS)]
    assert counts(objects) == {"push": {"Secret": 2}, "sveltos": {"Secret": 1}}


def test_outputs_record_the_program_version() -> None:
    assert outputs([], [], None, Settings())["programVersion"] == __version__


def test_outputs_carry_no_credential_bytes() -> None:
    rendered = json.dumps(outputs([_secret("a", "x")], [], None, Settings()))
    assert "SECRET-BYTES" not in rendered
    assert json.loads(rendered)["managedObjects"] == {"v1 Secret Opaque": ["Secret/a/x"]}


def test_outputs_record_the_deletions_this_run_makes_and_the_cluster() -> None:
    result = outputs([_secret("a", "x")], [], None, Settings(), {"Secret/a/gone": "v1 Secret Opaque"}, "uid-1")
    assert result["pendingDeletions"] == {"v1 Secret Opaque": ["Secret/a/gone"]}
    assert result["managementCluster"] == "uid-1"


def test_outputs_keep_held_back_objects_with_their_shape_and_source_and_count_them() -> None:
    kept = {"SveltosCluster/b/p": Kept("lib.projectsveltos.io/v1beta1 SveltosCluster", "b")}
    result = outputs([_secret("a", "x")], [], None, Settings(), kept=kept, held_back={"b": 1})
    assert result["managedObjects"] == {"lib.projectsveltos.io/v1beta1 SveltosCluster": ["SveltosCluster/b/p"],
                                        "v1 Secret Opaque": ["Secret/a/x"]}
    assert result["managedObjectSources"] == {"b": ["SveltosCluster/b/p"], "stack config": ["Secret/a/x"]}
    assert result["heldBackDeletions"] == {"b": 1}


def test_provider_updates_secrets_and_configmaps_in_place_and_keys_on_the_cluster_identity() -> None:
    args = provider_args(Settings(context="mgmt"), "uid-1")
    assert args["enable_secret_mutable"] is True
    assert args["enable_config_map_mutable"] is True
    assert args["cluster_identifier"] == "uid-1"
    assert args["context"] == "mgmt"


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
