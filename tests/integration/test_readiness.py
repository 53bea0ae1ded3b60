"""The readiness gate (requireHealthyControlPlane) on the real local cluster with the real CLI:
credentials wait for a healthy control plane, and a health flap never deletes them.

One CAPI Cluster, served as ``cluster.x-k8s.io/v1beta2``, with feature A (one consumer namespace)
and feature E on. The steps share one stack and run in file order.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import CAPI_V1BETA2, PROFILES, Inventory, kubeconfig_text
from tests.integration.project import ProjectStack


@dataclass
class World:
    stack: ProjectStack
    inventory: Inventory
    capi_ns: str
    fleet_ns: str
    consumer: str

    def set_available(self, status: str) -> None:
        group, version, plural = CAPI_V1BETA2
        self.inventory.custom.patch_namespaced_custom_object_status(
            group, version, self.capi_ns, plural, "alpha", {"status": {"conditions": [{
                "type": "ControlPlaneAvailable", "status": status, "reason": "Available" if status == "True"
                else "NotAvailable", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})

    def push_secrets(self) -> set[str]:
        return {s.metadata.name for s in self.inventory.core.list_namespaced_secret(self.consumer).items}

    def profile(self) -> dict[str, Any]:
        group, version, plural = PROFILES
        found: dict[str, Any] = self.inventory.custom.get_namespaced_custom_object(
            group, version, self.fleet_ns, plural, "alpha")
        return found

    def output(self, name: str) -> Any:
        return self.stack.stack.outputs()[name].value


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    capi_ns, fleet_ns, consumer = f"capi-{run_id}", f"fleet-{run_id}", f"team-{run_id}"
    label = f"consumer-{run_id}"
    inv.namespace(capi_ns)
    inv.namespace(fleet_ns)
    inv.namespace(consumer, {label: ""})
    inv.capi_cluster(capi_ns, "alpha", {"clusterprofile-name": "alpha", "clusterprofile-namespace": fleet_ns},
                     kubeconfig_text("https://alpha.example:6443", f"SECRET-{run_id}"))
    stack = ProjectStack(tmp_path_factory.mktemp("readiness") / "project")
    # The kubeconfig's content, as a Pulumi secret: the status resources get it as one too.
    stack.configure_secret("kubeconfig", control_plane.kubeconfig.read_text())
    stack.configure(
        capiNamespaces=[capi_ns], profileNamespaces=[fleet_ns],
        consumerNamespaceLabel=label, sveltosMode="off", clusterProfileMode="direct",
        clusterManagerName=f"mgr-{run_id}", requireHealthyControlPlane=True, managedByValue=f"ci-{run_id}",
        scheduleIntervalMinutes=0)
    world = World(stack, inv, capi_ns, fleet_ns, consumer)
    world.set_available("False")
    yield world
    stack.destroy()
    for ns in (capi_ns, fleet_ns, consumer):
        control_plane.delete_namespace(ns)


def test_an_unhealthy_cluster_waits_and_is_listed_with_the_reason(world: World) -> None:
    world.stack.up()
    assert world.push_secrets() == set()
    profile = world.profile()
    assert profile["status"]["conditions"][0]["status"] == "False"
    assert "accessProviders" not in profile["status"]
    (waiting,) = world.output("waiting")
    assert waiting.startswith(f"Cluster {world.capi_ns}/alpha: waiting for a healthy control plane")
    assert "NotAvailable" in waiting


def test_a_healthy_cluster_gets_its_credentials(world: World) -> None:
    world.set_available("True")
    world.stack.up()
    assert world.push_secrets() == {f"{world.fleet_ns}-alpha-kubeconfig"}
    assert [p["name"] for p in world.profile()["status"]["accessProviders"]] == ["kubeconfig-secretreader"]
    assert world.output("waiting") == []


def test_a_health_flap_keeps_the_credentials_and_is_reported(world: World) -> None:
    world.set_available("False")
    result = world.stack.up()
    assert "delete" not in (result.summary.resource_changes or {})
    assert world.push_secrets() == {f"{world.fleet_ns}-alpha-kubeconfig"}
    profile = world.profile()
    assert profile["status"]["conditions"][0]["status"] == "False"
    assert [p["name"] for p in profile["status"]["accessProviders"]] == ["kubeconfig-secretreader"]
    assert world.output("waiting") == []
    assert any("credentials are kept" in s or "keeps its access providers" in s for s in world.output("skipped"))


def test_the_management_kubeconfig_is_secret_in_state_and_output(world: World, control_plane: ControlPlane) -> None:
    admin = json.loads(control_plane.kubeconfig.read_text())
    key = admin["users"][0]["user"]["client-key-data"]
    state, printed = world.stack.state_text(), "\n".join(world.stack.output)
    assert key not in state and key not in printed
    assert base64.b64decode(key).decode() not in state
