"""SPEC §3 E on the real local cluster with the real CLI: this stack as the cluster manager of
CAPI Clusters, publishing ClusterProfiles, spec through pulumi-kubernetes and status through the
``ClusterProfileStatus`` resource of the project's own provider (inventory/stack/status.py).

The Clusters are served as ``cluster.x-k8s.io/v1beta2`` (Cluster API v1.11's CRD), so their
status is written in that schema. The steps share one stack and run in file order.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from tests.integration.controlplane import REPO, ControlPlane
from tests.integration.inventory_objects import CAPI_V1BETA2, PROFILES, SVELTOS, Inventory, kubeconfig_text
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import local_backend_env, resource_changes, workspace_options

STATUS_MANAGER = "cluster-inventory-status"  # inventory/stack/status.py FIELD_MANAGER
CA = b"-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n"


@dataclass
class World:
    run_id: str
    stack: ProjectStack
    inventory: Inventory
    capi_ns: str
    fleet_ns: str
    manager: str
    markers: list[str]

    def profile(self, name: str) -> dict[str, Any]:
        return self.inventory.custom_object(PROFILES, self.fleet_ns, name)

    def condition(self, name: str) -> dict[str, Any]:
        (healthy,) = [c for c in self.profile(name)["status"]["conditions"] if c["type"] == "ControlPlaneHealthy"]
        return healthy

    def set_capi_status(self, name: str, conditions: list[dict[str, str]]) -> None:
        group, version, plural = CAPI_V1BETA2
        self.inventory.custom.patch_namespaced_custom_object_status(
            group, version, self.capi_ns, plural, name,
            {"status": {"conditions": [{"lastTransitionTime": "2026-01-01T00:00:00Z", "message": "", **c}
                                       for c in conditions]}})


def kubeconfig_with_ca(server: str, token: str) -> str:
    config = json.loads(kubeconfig_text(server, token))
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(CA).decode()
    return json.dumps(config)


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    capi_ns, fleet_ns, manager = f"capi-{run_id}", f"fleet-{run_id}", f"mgr-{run_id}"
    inv.namespace(capi_ns)
    inv.namespace(fleet_ns)
    markers = [f"SECRET-E-{run_id}-{i}" for i in range(3)]
    for index, name in enumerate(("alpha", "beta", "gamma")):
        inv.capi_cluster(capi_ns, name, {"clusterprofile-name": name, "clusterprofile-namespace": fleet_ns,
                                         "env": "prod"},
                         kubeconfig_with_ca(f"https://{name}.example:6443", markers[index]))
    # gamma's ClusterProfile already exists, written by another cluster manager ("test-manager").
    inv.cluster_profile(fleet_ns, "gamma", [])
    tmp = tmp_path_factory.mktemp("cluster-manager")
    stack = ProjectStack(tmp / "project")
    stack.configure(
        kubeconfig=str(control_plane.kubeconfig), capiNamespaces=[capi_ns], profileNamespaces=[fleet_ns],
        pushMode="off", sveltosMode="direct", clusterProfileMode="direct", clusterManagerName=manager,
        clusterProfileLabels=["env"], managedByValue=f"ci-{run_id}", eventsNamePrefix=f"ci-{run_id}",
        scheduleIntervalMinutes=0)
    world = World(run_id, stack, inv, capi_ns, fleet_ns, manager, markers)
    world.set_capi_status("alpha", [{"type": "ControlPlaneAvailable", "status": "True", "reason": "Available"}])
    yield world
    stack.destroy()
    for ns in (capi_ns, fleet_ns):
        control_plane.delete_namespace(ns)


def test_up_publishes_profiles_with_spec_and_status(world: World) -> None:
    world.stack.up()
    alpha = world.profile("alpha")
    assert alpha["spec"] == {"displayName": "alpha", "clusterManager": {"name": world.manager}}
    assert alpha["metadata"]["labels"]["x-k8s.io/cluster-manager"] == world.manager
    assert alpha["metadata"]["labels"]["env"] == "prod"
    assert world.condition("alpha")["status"] == "True"
    assert world.condition("alpha")["reason"] == "Available"
    assert world.condition("beta")["status"] == "Unknown"
    (provider,) = alpha["status"]["accessProviders"]
    assert provider["name"] == "kubeconfig-secretreader"
    assert provider["cluster"]["server"] == "https://alpha.example:6443"
    assert base64.b64decode(provider["cluster"]["certificate-authority-data"]) == CA
    assert provider["cluster"]["extensions"] == [{"name": "client.authentication.k8s.io/exec", "extension": {
        "name": "alpha-kubeconfig", "key": "value", "namespace": world.capi_ns}}]


def test_status_is_written_through_the_status_subresource_by_its_own_field_manager(world: World) -> None:
    managed = world.profile("alpha")["metadata"]["managedFields"]
    status_writers = {(m["manager"], m.get("subresource", "")) for m in managed if "f:status" in m["fieldsV1"]}
    assert status_writers == {(STATUS_MANAGER, "status")}
    # pulumi-kubernetes wrote the object itself and no status.
    assert any(m.get("subresource", "") == "" and "f:spec" in m["fieldsV1"] for m in managed)


def test_feature_b_makes_sveltos_clusters_of_the_published_profiles_in_the_same_up(world: World) -> None:
    names = world.inventory.custom_names(SVELTOS, world.fleet_ns)
    assert {f"{world.fleet_ns}/alpha", f"{world.fleet_ns}/beta"} <= names
    secret = world.inventory.core.read_namespaced_secret("alpha-sveltos-kubeconfig", world.fleet_ns)
    assert world.markers[0] in base64.b64decode(secret.data["kubeconfig"]).decode()


def test_a_profile_of_another_cluster_manager_is_left_alone_and_reported(world: World) -> None:
    gamma = world.profile("gamma")
    assert gamma["spec"]["clusterManager"] == {"name": "test-manager"}
    assert "status" not in gamma or not gamma["status"].get("conditions")
    skipped = world.stack.stack.outputs()["skipped"].value
    assert any(f"Cluster {world.capi_ns}/gamma" in s and "test-manager" in s for s in skipped)


def test_second_run_changes_nothing(world: World) -> None:
    preview = world.stack.preview()
    assert set(preview.change_summary) <= {"same"}
    result = world.stack.up()
    assert set(resource_changes(result)) == {"same"}


def test_refresh_reads_the_status_back_unchanged(world: World) -> None:
    result = world.stack.stack.refresh(on_output=world.stack.output.append, color="never")
    assert set(resource_changes(result)) == {"same"}
    preview = world.stack.preview()
    assert set(preview.change_summary) <= {"same"}


def test_a_condition_change_updates_the_status_in_place(world: World) -> None:
    before = world.condition("alpha")
    world.set_capi_status("alpha", [{"type": "ControlPlaneAvailable", "status": "False", "reason": "NotAvailable",
                                     "message": "etcd has no quorum", "lastTransitionTime": "2026-02-01T00:00:00Z"}])
    result = world.stack.up()
    assert resource_changes(result).get("update") == 1
    assert {"create", "delete", "replace"}.isdisjoint(resource_changes(result))
    after = world.condition("alpha")
    assert (after["status"], after["reason"], after["message"]) == ("False", "NotAvailable", "etcd has no quorum")
    assert (before["lastTransitionTime"], after["lastTransitionTime"]) == ("2026-01-01T00:00:00Z",
                                                                          "2026-02-01T00:00:00Z")


def test_entries_of_other_writers_survive_an_update(world: World) -> None:
    group, version, plural = PROFILES
    world.inventory.custom.patch_namespaced_custom_object_status(
        group, version, world.fleet_ns, plural, "alpha",
        {"apiVersion": f"{group}/{version}", "kind": "ClusterProfile",
         "metadata": {"name": "alpha", "namespace": world.fleet_ns},
         "status": {"conditions": [{"type": "Joined", "status": "True", "reason": "Joined", "message": "",
                                    "lastTransitionTime": "2026-01-01T00:00:00Z"}]}},
        field_manager="someone-else", _content_type="application/apply-patch+yaml")
    world.set_capi_status("alpha", [{"type": "ControlPlaneAvailable", "status": "True", "reason": "Available"}])
    world.stack.up()
    types = {c["type"]: c["status"] for c in world.profile("alpha")["status"]["conditions"]}
    assert types == {"Joined": "True", "ControlPlaneHealthy": "True"}


def test_no_credential_in_state_or_cli_output(world: World) -> None:
    state = world.stack.state_text()
    printed = "\n".join(world.stack.output)
    for needle in world.markers:
        assert needle not in state and needle not in printed


def test_removing_a_cluster_deletes_its_profile_counted_against_max_deletions(world: World) -> None:
    group, version, plural = CAPI_V1BETA2
    world.inventory.custom.delete_namespaced_custom_object(group, version, world.capi_ns, plural, "beta")
    before = world.inventory.custom_object(PROFILES, world.fleet_ns, "beta")
    world.stack.configure(maxDeletions=0)
    result = world.stack.up()  # held back, with its status: the rest of the run goes ahead
    assert {"delete", "replace"}.isdisjoint(resource_changes(result))
    held = world.stack.stack.outputs()["heldBackDeletions"].value
    assert list(held) == [world.capi_ns]
    assert any(f"ClusterProfile/{world.fleet_ns}/beta" in line for line in world.stack.stack.outputs()["skipped"].value)
    after = world.inventory.custom_object(PROFILES, world.fleet_ns, "beta")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    world.stack.configure(maxDeletions=None)
    result = world.stack.up()
    assert resource_changes(result).get("delete", 0) >= 2  # the profile and its status (and B's objects)
    assert f"{world.fleet_ns}/beta" not in world.inventory.custom_names(PROFILES, world.fleet_ns)
    assert f"{world.fleet_ns}/beta" not in world.inventory.custom_names(SVELTOS, world.fleet_ns)


def test_destroy_removes_the_published_profiles_and_leaves_the_foreign_one(world: World) -> None:
    world.stack.destroy()
    assert world.inventory.custom_names(PROFILES, world.fleet_ns) == {f"{world.fleet_ns}/gamma"}


def test_the_driver_publishes_the_status_too(world: World) -> None:
    """`python -m inventory deploy` runs the program inline: the project's provider plugin still
    finds this Python and the package (inventory/stack/driver.py)."""
    env = {**os.environ, **world.stack.env}
    for action in ("up", "destroy"):
        done = subprocess.run(
            [sys.executable, "-m", "inventory", "deploy", action, "--yes", "--stack", world.stack.name,
             "--cwd", str(world.stack.workdir)], check=False, cwd=REPO, env=env, capture_output=True, text=True,
            timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        if action == "up":
            assert world.condition("alpha")["status"] == "True"
    assert world.inventory.custom_names(PROFILES, world.fleet_ns) == {f"{world.fleet_ns}/gamma"}


def test_pulumi_kubernetes_does_not_write_a_status(control_plane: ControlPlane, tmp_path: Path) -> None:
    """Why the status is a resource of its own: given a whole ClusterProfile, status included,
    pulumi-kubernetes applies it to the object, where the API server drops the status."""
    import pulumi
    import pulumi_kubernetes as k8s

    namespace = control_plane.new_namespace()
    condition = {"type": "ControlPlaneHealthy", "status": "True", "reason": "Test", "message": "",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}

    def program() -> None:
        provider = k8s.Provider("p", kubeconfig=control_plane.kubeconfig.read_text())
        k8s.yaml.v2.ConfigGroup("profile", objs=[{
            "apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ClusterProfile",
            "metadata": {"name": "x", "namespace": namespace}, "spec": {"clusterManager": {"name": "m"}},
            "status": {"conditions": [condition]}}], opts=pulumi.ResourceOptions(provider=provider))

    env = local_backend_env(tmp_path)
    stack = auto.create_or_select_stack(stack_name="status", project_name="k8s-status", program=program,
                                        opts=workspace_options(tmp_path, env))
    try:
        stack.up()
        group, version, plural = PROFILES
        live = Inventory(control_plane.api).custom.get_namespaced_custom_object(group, version, namespace, plural, "x")
        assert not live.get("status")
        assert [m.get("subresource", "") for m in live["metadata"]["managedFields"]] == [""]
    finally:
        stack.destroy()
        control_plane.delete_namespace(namespace)
