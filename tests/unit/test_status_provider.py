"""The project's provider plugin (inventory/stack/status_provider.py) call by call, with the
cluster side replaced by a recorder; tests/integration/test_status_provider.py runs it for real.

What import adopts (``owned``) is cut from a live object's managedFields."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.provider.experimental.provider import (
    CheckRequest,
    ConfigureRequest,
    CreateRequest,
    DeleteRequest,
    DiffRequest,
    PropertyDiffKind,
    ReadRequest,
    UpdateRequest,
)

from inventory.stack import status_provider
from inventory.stack.status import FIELD_MANAGER, RESOURCE_TYPE, owned, removal_patch
from inventory.stack.status_provider import StatusProvider, plain, wrap

URN = f"urn:pulumi:s::cluster-inventory::cluster-inventory:index:Inventory${RESOURCE_TYPE}::cp/status"
KUBECONFIG = "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: SECRET-TOKEN\n"
CONDITION = {"type": "ControlPlaneHealthy", "status": "True", "reason": "Available", "message": "",
             "lastTransitionTime": "2026-01-01T00:00:00Z"}
STATUS = {"conditions": [CONDITION], "version": {"kubernetes": "v1.31.0"},
          "properties": [{"name": "clusterset.k8s.io", "value": "prod"}]}
PROPS = {"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ClusterProfile", "namespace": "fleet",
         "name": "alpha", "status": STATUS, "managementCluster": "uid-1"}


class Recorder:
    def __init__(self, live: dict[str, Any] | None = None) -> None:
        self.applied: list[tuple[str, dict[str, Any]]] = []
        self.live = live

    def apply(self, props: dict[str, Any], status: dict[str, Any], *, missing_ok: bool = False) -> None:
        self.applied.append((f"{props['namespace']}/{props['name']}", status))

    def clear(self, props: dict[str, Any]) -> None:
        self.apply(props, {"conditions": []}, missing_ok=True)

    def owned_status(self, props: dict[str, Any]) -> dict[str, Any] | None:
        return None if self.live is None else owned(self.live)

    def identity(self) -> str:
        return "uid-live"


def provider(recorder: Recorder) -> StatusProvider:
    served = StatusProvider()
    served.cluster = recorder  # type: ignore[assignment]
    return served


def props(values: dict[str, Any]) -> dict[str, PropertyValue]:
    return {key: wrap(value) for key, value in values.items()}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def diff(olds: dict[str, Any], news: dict[str, Any]) -> Any:
    return run(provider(Recorder()).diff(DiffRequest(URN, "fleet/alpha", props(olds), props(news), [])))


def test_a_steady_status_is_no_change() -> None:
    result = diff(PROPS, PROPS)
    assert result.changes is False and not result.replaces


def test_a_new_condition_updates_in_place() -> None:
    news = {**PROPS, "status": {**STATUS, "conditions": [{**CONDITION, "status": "False"}]}}
    result = diff(PROPS, news)
    assert result.changes is True and result.replaces == [] and result.diffs == ["status"]
    assert result.detailed_diff["status"].kind == PropertyDiffKind.UPDATE


@pytest.mark.parametrize("key", ["namespace", "name", "managementCluster"])
def test_a_new_identity_replaces_deleting_first(key: str) -> None:
    result = diff(PROPS, {**PROPS, key: "other"})
    assert result.replaces == [key] and result.delete_before_replace is True


def test_state_of_the_dynamic_resource_it_replaced_is_rewritten_in_place() -> None:
    legacy = {**PROPS, "__provider": "gASV...", "kubeconfig": KUBECONFIG, "context": None}
    result = diff(legacy, PROPS)
    assert result.changes is True and result.replaces == []
    assert set(result.diffs) == {"__provider", "kubeconfig", "context"}


def test_an_unknown_status_in_a_preview_is_a_change() -> None:
    news = {**props(PROPS), "status": PropertyValue(Computed())}
    result = run(provider(Recorder()).diff(DiffRequest(URN, "fleet/alpha", props(PROPS), news, [])))
    assert result.changes is True and result.replaces == []


def test_create_and_update_apply_the_status_and_return_no_credential() -> None:
    recorder = Recorder()
    served = provider(recorder)
    created = run(served.create(CreateRequest(URN, props(PROPS), 60, False)))
    assert created.resource_id == "fleet/alpha"
    assert {key: plain(value) for key, value in created.properties.items()} == PROPS
    news = {**PROPS, "status": {"conditions": [CONDITION]}}
    run(served.update(UpdateRequest(URN, "fleet/alpha", props(PROPS), props(news), 60, [], False)))
    assert recorder.applied == [("fleet/alpha", STATUS), ("fleet/alpha", {"conditions": [CONDITION]})]


def test_a_preview_applies_nothing() -> None:
    recorder = Recorder()
    served = provider(recorder)
    run(served.create(CreateRequest(URN, props(PROPS), 60, True)))
    run(served.update(UpdateRequest(URN, "fleet/alpha", props(PROPS), props(PROPS), 60, [], True)))
    assert recorder.applied == []


def test_delete_applies_a_status_without_entries() -> None:
    recorder = Recorder()
    run(provider(recorder).delete(DeleteRequest(URN, "fleet/alpha", props(PROPS), 60)))
    assert recorder.applied == [("fleet/alpha", {"conditions": []})]


def live_profile(*, ours: bool = True) -> dict[str, Any]:
    joined = {"type": "Joined", "status": "True", "reason": "Joined", "message": "",
              "lastTransitionTime": "2026-01-01T00:00:00Z"}
    condition_fields = {".": {}, "f:type": {}, "f:status": {}, "f:reason": {}, "f:message": {},
                        "f:lastTransitionTime": {}}
    managed = [
        {"manager": "pulumi-kubernetes", "operation": "Apply", "fieldsV1": {"f:spec": {"f:displayName": {}}}},
        {"manager": "someone-else", "operation": "Apply", "subresource": "status", "fieldsV1": {"f:status": {
            "f:conditions": {'k:{"type":"Joined"}': condition_fields}}}},
    ]
    if ours:
        managed.append({"manager": FIELD_MANAGER, "operation": "Apply", "subresource": "status", "fieldsV1": {
            "f:status": {"f:conditions": {'k:{"type":"ControlPlaneHealthy"}': condition_fields},
                         "f:version": {".": {}, "f:kubernetes": {}},
                         "f:properties": {'k:{"name":"clusterset.k8s.io"}': {".": {}, "f:name": {}, "f:value": {}}}}}})
    else:  # what a delete leaves: the list field, no entry
        managed.append({"manager": FIELD_MANAGER, "operation": "Apply", "subresource": "status",
                        "fieldsV1": {"f:status": {"f:conditions": {}}}})
    return {"metadata": {"name": "alpha", "namespace": "fleet", "managedFields": managed},
            "status": {"conditions": [joined, CONDITION], "version": {"kubernetes": "v1.31.0"},
                       "properties": [{"name": "clusterset.k8s.io", "value": "prod"},
                                      {"name": "theirs", "value": "x"}]}}


def test_owned_is_what_this_field_manager_applied_and_nothing_of_others() -> None:
    assert owned(live_profile()) == STATUS


def test_after_a_delete_this_manager_owns_nothing() -> None:
    assert owned(live_profile(ours=False)) == {}


def test_a_delete_that_shares_an_entry_removes_this_managers_entries_by_key_last_first() -> None:
    """When another writer co-owns an entry (the 422 fallback of a delete), exactly this
    manager's entries go, each removal guarded by a test of its key; others' entries stay."""
    assert removal_patch(live_profile()) == [
        {"op": "test", "path": "/status/conditions/1/type", "value": "ControlPlaneHealthy"},
        {"op": "remove", "path": "/status/conditions/1"},
        {"op": "test", "path": "/status/properties/0/name", "value": "clusterset.k8s.io"},
        {"op": "remove", "path": "/status/properties/0"},
    ]
    assert removal_patch(live_profile(ours=False)) == []


def test_import_reads_the_owned_status_and_the_cluster_identity() -> None:
    read = run(provider(Recorder(live_profile())).read(ReadRequest(URN, "fleet/alpha", {}, {})))
    assert read.resource_id == "fleet/alpha"
    assert {key: plain(value) for key, value in read.properties.items()} == {**PROPS, "managementCluster": "uid-live"}
    assert read.inputs == read.properties


def test_refresh_keeps_the_recorded_cluster_and_a_gone_profile_is_gone() -> None:
    read = run(provider(Recorder(live_profile())).read(ReadRequest(URN, "fleet/alpha", props(PROPS), props(PROPS))))
    assert plain(read.properties["managementCluster"]) == "uid-1"
    gone = run(provider(Recorder(None)).read(ReadRequest(URN, "fleet/alpha", props(PROPS), props(PROPS))))
    assert gone.resource_id == ""


def test_an_import_id_must_be_namespace_and_name() -> None:
    with pytest.raises(ValueError, match="NAMESPACE/NAME"):
        run(provider(Recorder()).read(ReadRequest(URN, "alpha", {}, {})))


def test_config_keeps_its_two_keys_and_makes_kubeconfig_content_secret() -> None:
    served = StatusProvider()
    news = {"kubeconfig": PropertyValue(KUBECONFIG), "context": PropertyValue("admin"),
            "capiNamespaces": PropertyValue([PropertyValue("capi")])}
    checked = run(served.check_config(CheckRequest("urn:p", {}, news, b""))).inputs
    assert set(checked) == {"kubeconfig", "context"}
    assert checked["kubeconfig"].is_secret and not checked["context"].is_secret
    path = run(served.check_config(CheckRequest("urn:p", {}, {"kubeconfig": PropertyValue("/k")}, b""))).inputs
    assert not path["kubeconfig"].is_secret
    configured = run(served.configure(ConfigureRequest({}, checked, True, False)))
    assert configured.accept_secrets and configured.supports_preview
    assert (served.cluster.kubeconfig, served.cluster.context) == (KUBECONFIG, "admin")


def test_the_same_kubeconfig_is_no_change_whether_or_not_it_was_a_secret() -> None:
    result = run(StatusProvider().diff_config(DiffRequest(
        "urn:p", "id", {"kubeconfig": PropertyValue("/a", is_secret=True)}, {"kubeconfig": PropertyValue("/a")}, [])))
    assert result.changes is False


def test_a_new_kubeconfig_never_replaces() -> None:
    result = run(StatusProvider().diff_config(DiffRequest(
        "urn:p", "id", {"kubeconfig": PropertyValue("/a")}, {"kubeconfig": PropertyValue("/b")}, [])))
    assert result.changes is True and result.replaces == []


def test_the_plugin_script_serves_the_provider() -> None:
    """provider/pulumi-resource-cluster-inventory starts and prints the port it serves on."""
    from tests.integration.controlplane import REPO

    process = subprocess.Popen([str(REPO / "provider" / "pulumi-resource-cluster-inventory"), "127.0.0.1:1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={"PATH": "/usr/bin:/bin", "PULUMI_PYTHON_CMD": sys.executable})
    try:
        assert process.stdout is not None
        assert int(process.stdout.readline().decode().strip()) > 0
    finally:
        process.kill()
        process.wait()


def test_the_schema_names_the_resource() -> None:
    import json

    schema = json.loads(run(StatusProvider().get_schema(None)).schema)  # type: ignore[arg-type]
    assert RESOURCE_TYPE in schema["resources"] and schema["name"] == "cluster-inventory"
    assert status_provider.VERSION == schema["version"]


def test_the_driver_names_a_plugin_directory_that_is_missing(tmp_path: Any) -> None:
    """The CLI refuses every command when Pulumi.yaml's plugins.providers path leads nowhere."""
    from inventory.stack.driver import missing_plugin_dirs

    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\nplugins:\n  providers:\n"
                                          "    - name: cluster-inventory\n      path: provider\n")
    assert missing_plugin_dirs(tmp_path) == ["provider"]
    (tmp_path / "provider").mkdir()
    assert missing_plugin_dirs(tmp_path) == []


def test_reshard_stops_before_locking_anything_when_the_plugin_directory_is_missing(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from inventory.stack.reshard import main as reshard_main

    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\nplugins:\n  providers:\n"
                                          "    - name: cluster-inventory\n      path: provider\n")
    code = reshard_main(["--stack-prefix", "p-", "--from-count", "2", "--to-count", "3", "--cwd", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "plugin directories that do not exist: provider" in err and "ln -s" in err
