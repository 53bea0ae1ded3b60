"""SPEC §3 E, ``status.version.kubernetes`` and ``properties`` end to end, on the real local cluster
with the real CLI: what a published ClusterProfile says of a Cluster API Cluster's topology.

The local Cluster CRD is Cluster API v1.11.0's: its v1beta2 status has no ``controlPlane.versions``
(Cluster API v1.14's CRD is the first with it), so the version published is the topology's
(``spec.topology.version``, docs/cluster-manager.md). The CRD runs without Cluster API's webhooks,
so a Cluster with a topology needs no ClusterClass to exist. The steps share one stack and run in
file order.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import CAPI_V1BETA2, PROFILES, Inventory, kubeconfig_text
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import resource_changes
from tests.integration.watching import ObjectWatch

CA = b"-----BEGIN CERTIFICATE-----\nversion\n-----END CERTIFICATE-----\n"
AVAILABLE = {"type": "ControlPlaneAvailable", "status": "True", "reason": "Available", "message": "",
             "lastTransitionTime": "2026-04-01T00:00:00Z"}


@dataclass
class World:
    stack: ProjectStack
    inventory: Inventory
    capi_ns: str
    fleet_ns: str
    seen: dict[str, Any] = field(default_factory=dict)  # what an earlier step saw

    def profile(self, name: str) -> dict[str, Any]:
        return self.inventory.custom_object(PROFILES, self.fleet_ns, name)

    def cluster(self, name: str) -> dict[str, Any]:
        return self.inventory.custom_object(CAPI_V1BETA2, self.capi_ns, name)

    def properties(self, name: str) -> dict[str, str]:
        return {p["name"]: p["value"] for p in self.profile(name)["status"].get("properties", [])}

    def healthy(self, name: str) -> dict[str, Any]:
        (condition,) = [c for c in self.profile(name)["status"]["conditions"] if c["type"] == "ControlPlaneHealthy"]
        return condition

    def watch(self) -> ObjectWatch:
        group, version, plural = PROFILES
        return ObjectWatch(lambda **kw: self.inventory.custom.list_namespaced_custom_object(
            group, version, self.fleet_ns, plural, **kw), "")


def _cluster(inv: Inventory, namespace: str, fleet_ns: str, name: str, spec: dict[str, Any],
             status: dict[str, Any]) -> None:
    """A v1beta2 Cluster with its kubeconfig Secret, as Cluster API writes them."""
    group, version, plural = CAPI_V1BETA2
    inv.custom.create_namespaced_custom_object(group, version, namespace, plural, {
        "apiVersion": f"{group}/{version}", "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace, "labels": {
            "clusterprofile-name": name, "clusterprofile-namespace": fleet_ns, "clusterset.k8s.io": "prod"}},
        "spec": spec})
    inv.custom.patch_namespaced_custom_object_status(group, version, namespace, plural, name, {"status": status})
    config = json.loads(kubeconfig_text(f"https://{name}.example:6443", f"token-{name}"))
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(CA).decode()
    inv.secret(namespace, f"{name}-kubeconfig", {"value": json.dumps(config)}, type_="cluster.x-k8s.io/secret",
               labels={"cluster.x-k8s.io/cluster-name": name})


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    capi_ns, fleet_ns = f"capi-{run_id}", f"fleet-{run_id}"
    inv.namespace(capi_ns)
    inv.namespace(fleet_ns)
    # A Cluster API 1.14 control plane would report its version in status.controlPlane.versions;
    # v1.11's CRD prunes that field, so the topology's version is what is known.
    _cluster(inv, capi_ns, fleet_ns, "managed", {
        "topology": {"classRef": {"name": "quick-start"}, "version": "v1.34.1"}},
        {"phase": "Provisioned", "conditions": [AVAILABLE], "controlPlane": {"versions": [{"version": "v1.33.0"}]}})
    # No topology: Cluster API knows no version, and no class.
    _cluster(inv, capi_ns, fleet_ns, "plain", {"paused": False}, {"phase": "Provisioned", "conditions": [AVAILABLE]})
    stack = ProjectStack(tmp_path_factory.mktemp("cluster-manager-version") / "project")
    stack.configure(
        kubeconfig=str(control_plane.kubeconfig), capiNamespaces=[capi_ns], profileNamespaces=[fleet_ns],
        pushMode="off", clusterProfileMode="direct", clusterManagerName=f"mgr-{run_id}",
        managedByValue=f"ci-{run_id}", eventsNamePrefix=f"ci-{run_id}", scheduleIntervalMinutes=0)
    yield World(stack, inv, capi_ns, fleet_ns)
    stack.destroy()
    for ns in (capi_ns, fleet_ns):
        control_plane.delete_namespace(ns)


def test_the_local_crd_has_no_control_plane_versions(world: World) -> None:
    """What makes the topology's version the one published here (Cluster API < 1.14)."""
    assert "versions" not in world.cluster("managed")["status"].get("controlPlane", {})
    assert world.cluster("managed")["spec"]["topology"]["version"] == "v1.34.1"


def test_up_publishes_the_topology_version_and_class(world: World) -> None:
    result = world.stack.up()
    assert resource_changes(result).get("create", 0) >= 4  # 2 profiles and their statuses
    managed = world.profile("managed")
    assert managed["status"]["version"] == {"kubernetes": "v1.34.1"}
    assert world.properties("managed") == {"clusterset.k8s.io": "prod", "cluster.x-k8s.io/cluster-class": "quick-start",
                                           "cluster.x-k8s.io/phase": "Provisioned"}
    assert managed["metadata"]["labels"]["multicluster.x-k8s.io/clusterset"] == "prod"
    assert world.healthy("managed")["lastTransitionTime"] == "2026-04-01T00:00:00Z"
    plain = world.profile("plain")
    assert "version" not in plain["status"]
    assert world.properties("plain") == {"clusterset.k8s.io": "prod", "cluster.x-k8s.io/phase": "Provisioned"}


def test_an_upgrade_updates_the_status_in_place(world: World) -> None:
    before = world.profile("managed")
    group, version, plural = CAPI_V1BETA2
    world.inventory.custom.patch_namespaced_custom_object(group, version, world.capi_ns, plural, "managed", {
        "spec": {"topology": {"version": "v1.35.0"}}})
    preview = world.stack.preview()
    assert resource_changes(preview).get("update") == 1
    assert {"create", "delete", "replace"}.isdisjoint(resource_changes(preview))
    assert any("v1.35.0" in line for line in world.stack.output)
    with world.watch() as seen:
        result = world.stack.up()
    assert resource_changes(result).get("update") == 1
    assert {"create", "delete", "replace"}.isdisjoint(resource_changes(result))
    assert seen.of("DELETED") == set() and seen.of("ADDED") == set()
    assert seen.of("MODIFIED") == {f"{world.fleet_ns}/managed"}
    after = world.profile("managed")
    assert after["status"]["version"] == {"kubernetes": "v1.35.0"}
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]  # the spec was not written
    # ControlPlaneHealthy did not change, and neither did its transition time.
    (unchanged,) = [c for c in before["status"]["conditions"] if c["type"] == "ControlPlaneHealthy"]
    assert world.healthy("managed") == unchanged
    assert world.properties("managed")["cluster.x-k8s.io/cluster-class"] == "quick-start"


def test_a_new_class_is_a_new_property_value_in_place(world: World) -> None:
    uid = world.profile("managed")["metadata"]["uid"]
    group, version, plural = CAPI_V1BETA2
    world.inventory.custom.patch_namespaced_custom_object(group, version, world.capi_ns, plural, "managed", {
        "spec": {"topology": {"classRef": {"name": "quick-start-v2"}}}})
    result = world.stack.up()
    assert resource_changes(result).get("update") == 1
    assert world.properties("managed")["cluster.x-k8s.io/cluster-class"] == "quick-start-v2"
    assert world.profile("managed")["metadata"]["uid"] == uid
    assert set(resource_changes(world.stack.up())) == {"same"}
