"""SPEC §8 on the real local cluster with the real CLI: credential changes reach consumers as
updates of the same objects (same UID, no DELETE event on a watch), and a new address for the
same management cluster replaces nothing. The steps share one stack and run in file order."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import (
    SVELTOS,
    Inventory,
    exec_provider,
    kubeconfig_text,
    secret_reader_provider,
)
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import resource_changes
from tests.integration.watching import ObjectWatch

PLUGIN = Path(__file__).parent / "plugins" / "rotating-token"
REFRESH_AT = "cluster-inventory.io/credential-refresh-at"


@dataclass
class Fleet:
    run_id: str
    stack: ProjectStack
    inventory: Inventory
    capi_ns: str
    fleet_ns: str
    consumer: str
    kubeconfig: Path

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/managed-by=ci-{self.run_id}"

    @property
    def push_secret(self) -> str:
        return f"{self.consumer}/{self.fleet_ns}-one-kubeconfig"

    def uids(self) -> dict[str, str]:
        items = self.inventory.core.list_secret_for_all_namespaces(label_selector=self.selector).items
        uids = {f"{s.metadata.namespace}/{s.metadata.name}": s.metadata.uid for s in items}
        for item in self.inventory.custom.list_namespaced_custom_object(*SVELTOS[:2], self.fleet_ns, SVELTOS[2],
                                                                        label_selector=self.selector)["items"]:
            uids[f"SveltosCluster/{item['metadata']['name']}"] = item["metadata"]["uid"]
        return uids

    def secret_text(self, namespaced_name: str, key: str) -> str:
        namespace, name = namespaced_name.split("/")
        secret = self.inventory.core.read_namespaced_secret(name, namespace)
        return base64.b64decode(secret.data[key]).decode()

    def up_watched(self) -> tuple[auto.UpResult, ObjectWatch]:
        with ObjectWatch(self.inventory.core.list_secret_for_all_namespaces, self.selector) as seen:
            result = self.stack.up()
        return result, seen


@pytest.fixture(scope="module")
def fleet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    capi_ns, fleet_ns, consumer = f"capi-{run_id}", f"fleet-{run_id}", f"team-{run_id}"
    label = f"consumer-{run_id}"
    for ns in (capi_ns, fleet_ns):
        inv.namespace(ns)
    inv.namespace(consumer, {label: ""})
    inv.capi_cluster(capi_ns, "one", {"clusterprofile-name": "one", "clusterprofile-namespace": fleet_ns},
                     kubeconfig_text("https://one.example:6443", f"CAPI-{run_id}-0"))
    inv.secret(fleet_ns, "reader-source", {"kubeconfig": kubeconfig_text("https://r.example:6443", f"R-{run_id}-0")})
    inv.cluster_profile(fleet_ns, "reader", [secret_reader_provider("https://r.example:6443", "reader-source",
                                                                    "kubeconfig")])
    inv.cluster_profile(fleet_ns, "minted", [exec_provider("token-plugin", "https://m.example:6443")])
    tmp = tmp_path_factory.mktemp("in-place")
    providers = tmp / "providers.json"
    providers.write_text(json.dumps({"providers": [{
        "name": "token-plugin",
        "execConfig": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(PLUGIN),
                       "provideClusterInfo": True, "interactiveMode": "Never"}}]}))
    # The stack's own copy of the kubeconfig, so a step can give it a new server address.
    kubeconfig = tmp / "mgmt.kubeconfig"
    kubeconfig.write_text(control_plane.kubeconfig.read_text())
    stack = ProjectStack(tmp / "project")
    stack.configure(kubeconfig=str(kubeconfig), capiNamespaces=[capi_ns], profileNamespaces=[fleet_ns],
                    consumerNamespaceLabel=label, execProviderFile=str(providers), managedByValue=f"ci-{run_id}",
                    execProviderBindings={"token-plugin": {"namespaces": [fleet_ns]}},
                    scheduleIntervalMinutes=0)
    stack.up()
    yield Fleet(run_id, stack, inv, capi_ns, fleet_ns, consumer, kubeconfig)
    stack.destroy()
    for ns in (capi_ns, fleet_ns, consumer):
        control_plane.delete_namespace(ns)


def test_rotated_capi_kubeconfig_updates_the_push_secret_in_place(fleet: Fleet) -> None:
    before = fleet.uids()
    rotated = kubeconfig_text("https://one.example:6443", f"CAPI-{fleet.run_id}-1")
    fleet.inventory.core.patch_namespaced_secret("one-kubeconfig", fleet.capi_ns, {"stringData": {"value": rotated}})
    result, seen = fleet.up_watched()
    assert resource_changes(result) == {"same": resource_changes(result)["same"], "update": 1}
    assert seen.of("DELETED") == set() and seen.of("ADDED") == set()
    assert seen.of("MODIFIED") == {fleet.push_secret}
    assert fleet.uids() == before
    assert fleet.secret_text(fleet.push_secret, "config") == rotated


def test_changed_secretreader_source_updates_the_sveltos_secret_in_place(fleet: Fleet) -> None:
    before = fleet.uids()
    changed = kubeconfig_text("https://r.example:6443", f"R-{fleet.run_id}-1")
    fleet.inventory.core.patch_namespaced_secret("reader-source", fleet.fleet_ns, {"stringData": {"kubeconfig": changed}})
    result, seen = fleet.up_watched()
    assert "replace" not in resource_changes(result) and "delete" not in resource_changes(result)
    assert seen.of("DELETED") == set() and seen.of("ADDED") == set()
    assert seen.of("MODIFIED") == {f"{fleet.fleet_ns}/reader-sveltos-kubeconfig"}
    assert fleet.uids() == before
    assert fleet.secret_text(f"{fleet.fleet_ns}/reader-sveltos-kubeconfig", "kubeconfig") == changed


def test_reminted_exec_credential_updates_the_sveltos_secret_in_place(fleet: Fleet) -> None:
    core = fleet.inventory.core
    before_uids = fleet.uids()
    before = core.read_namespaced_secret("minted-sveltos-kubeconfig", fleet.fleet_ns)
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    core.patch_namespaced_secret("minted-sveltos-kubeconfig", fleet.fleet_ns,
                                 {"metadata": {"annotations": {REFRESH_AT: past}}})
    result, seen = fleet.up_watched()
    after = core.read_namespaced_secret("minted-sveltos-kubeconfig", fleet.fleet_ns)
    assert after.data != before.data  # a new credential was minted ...
    assert "replace" not in resource_changes(result) and "delete" not in resource_changes(result)
    assert seen.of("DELETED") == set() and seen.of("ADDED") == set()  # ... and written over the old one
    assert fleet.uids() == before_uids


def test_a_new_address_for_the_same_cluster_replaces_nothing(fleet: Fleet) -> None:
    before = fleet.uids()
    document: dict[str, Any] = yaml.safe_load(fleet.kubeconfig.read_text())
    for entry in document["clusters"]:
        entry["cluster"]["server"] = entry["cluster"]["server"].replace("127.0.0.1", "localhost")
    for entry in document["contexts"]:
        entry["name"] = "renamed"
    document["current-context"] = "renamed"
    fleet.kubeconfig.write_text(yaml.safe_dump(document))
    preview = fleet.stack.preview()
    assert {"replace", "create-replacement", "delete-replaced", "delete", "create"}.isdisjoint(preview.change_summary)
    result, seen = fleet.up_watched()
    assert set(resource_changes(result)) <= {"same", "update"}
    assert resource_changes(result).get("update", 0) <= 1  # the provider itself, at most
    assert seen.events == []
    assert fleet.uids() == before


def test_a_stack_pinned_to_another_cluster_refuses_to_run_and_changes_nothing(fleet: Fleet) -> None:
    before = fleet.uids()
    fleet.stack.configure(managementClusterId="00000000-0000-0000-0000-000000000000")
    try:
        with pytest.raises(auto.CommandError, match="managementClusterId is 00000000-.*but the kubeconfig reaches"):
            fleet.stack.up()
    finally:
        fleet.stack.configure(managementClusterId=None)
    assert fleet.uids() == before


def test_the_stack_records_the_cluster_it_wrote_to(fleet: Fleet, control_plane: ControlPlane) -> None:
    uid = fleet.inventory.core.read_namespace("kube-system").metadata.uid
    assert fleet.stack.stack.outputs()["managementCluster"].value == uid
