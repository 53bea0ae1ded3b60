"""SPEC §3 E, working with what exists, on the real local cluster with the real CLI: ClusterProfiles
that are already there when this stack publishes its own (docs/cluster-manager.md, "Working with
what exists"; docs/migration.md).

- ``handmade`` names this stack's cluster manager but was written by hand (no stack's stamp), with
  status entries of its own writer; ``orphan`` names it too, stamped by another stack (another stack
  with the same ``clusterManagerName``, or one whose state was lost under another name). Both are
  adoptions: refused, naming them and what to do, without ``adoptExisting``; taken over in place
  (same UID, no DELETE event, the other writer's entries kept) with it.
- ``foreign`` names another cluster manager: reported and left alone, ``adoptExisting`` or not
  (``spec.clusterManager.name`` is immutable).
- A profile stamped by *this* stack that its state does not hold (the state was lost, the stack
  created again under the same name) is this stack's own: taken back without ``adoptExisting``,
  in place, like every object this program writes.

The steps share one stack and run in file order.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from inventory.stack.adoption import OWNER_ANNOTATION
from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import CAPI_V1BETA2, PROFILES, Inventory, kubeconfig_text
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import resource_changes
from tests.integration.watching import ObjectWatch

STATUS_MANAGER = "cluster-inventory-status"  # inventory/stack/status.py FIELD_MANAGER
OTHER_WRITER = "another-writer"
ANOTHER_STACK = "organization/cluster-inventory/an-old-stack"
APPLY = "application/apply-patch+yaml"
CA = b"-----BEGIN CERTIFICATE-----\nadoption\n-----END CERTIFICATE-----\n"
CLUSTERS = ("handmade", "orphan", "foreign", "fresh")


@dataclass
class World:
    run_id: str
    stack: ProjectStack
    inventory: Inventory
    capi_ns: str
    fleet_ns: str
    manager: str
    config: dict[str, Any]
    before: dict[str, dict[str, Any]] = field(default_factory=dict)  # the profiles as they were

    def profile(self, name: str) -> dict[str, Any]:
        return self.inventory.custom_object(PROFILES, self.fleet_ns, name)

    def conditions(self, name: str) -> dict[str, dict[str, Any]]:
        return {c["type"]: c for c in self.profile(name).get("status", {}).get("conditions", [])}

    def watch(self) -> ObjectWatch:
        group, version, plural = PROFILES
        return ObjectWatch(lambda **kw: self.inventory.custom.list_namespaced_custom_object(
            group, version, self.fleet_ns, plural, **kw), "")

    def skipped(self) -> list[str]:
        return list(self.stack.stack.outputs()["skipped"].value)


def _profile(namespace: str, name: str, manager: str, annotations: dict[str, str]) -> dict[str, Any]:
    group, version, _ = PROFILES
    return {"apiVersion": f"{group}/{version}", "kind": "ClusterProfile",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations,
                         "labels": {"x-k8s.io/cluster-manager": manager}},
            "spec": {"displayName": f"{name}, written before this stack", "clusterManager": {"name": manager}}}


def _other_writers_status(inv: Inventory, namespace: str, name: str) -> None:
    """Status entries another writer applied under its own field manager: a condition of its own,
    a property, and a stale ControlPlaneHealthy."""
    group, version, plural = PROFILES
    inv.custom.patch_namespaced_custom_object_status(group, version, namespace, plural, name, {
        "apiVersion": f"{group}/{version}", "kind": "ClusterProfile",
        "metadata": {"name": name, "namespace": namespace},
        "status": {
            "conditions": [
                {"type": "Joined", "status": "True", "reason": "Joined", "message": "",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "ControlPlaneHealthy", "status": "False", "reason": "Stale", "message": "written by hand",
                 "lastTransitionTime": "2025-06-01T00:00:00Z"}],
            "properties": [{"name": "example.com/zone", "value": "zone-a"}]}},
        field_manager=OTHER_WRITER, _content_type=APPLY)


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    capi_ns, fleet_ns, manager = f"capi-{run_id}", f"fleet-{run_id}", f"mgr-{run_id}"
    inv.namespace(capi_ns)
    inv.namespace(fleet_ns)
    for name in CLUSTERS:
        config = json.loads(kubeconfig_text(f"https://{name}.example:6443", f"TOKEN-{run_id}-{name}"))
        config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(CA).decode()
        inv.capi_cluster(capi_ns, name, {"clusterprofile-name": name, "clusterprofile-namespace": fleet_ns},
                         json.dumps(config))
        group, version, plural = CAPI_V1BETA2
        inv.custom.patch_namespaced_custom_object_status(group, version, capi_ns, plural, name, {"status": {
            "conditions": [{"type": "ControlPlaneAvailable", "status": "True", "reason": "Available", "message": "",
                            "lastTransitionTime": "2026-03-01T00:00:00Z"}]}})
    group, version, plural = PROFILES
    inv.custom.create_namespaced_custom_object(group, version, fleet_ns, plural,
                                               _profile(fleet_ns, "handmade", manager, {}))
    _other_writers_status(inv, fleet_ns, "handmade")
    inv.custom.create_namespaced_custom_object(group, version, fleet_ns, plural, _profile(
        fleet_ns, "orphan", manager, {OWNER_ANNOTATION: ANOTHER_STACK}))
    inv.cluster_profile(fleet_ns, "foreign", [])  # cluster manager "test-manager"
    config = {"kubeconfig": str(control_plane.kubeconfig), "capiNamespaces": [capi_ns],
              "profileNamespaces": [fleet_ns], "pushMode": "off", "sveltosMode": "off", "clusterProfileMode": "direct",
              "clusterManagerName": manager, "managedByValue": f"ci-{run_id}", "eventsNamePrefix": f"ci-{run_id}",
              "scheduleIntervalMinutes": 0}
    stack = ProjectStack(tmp_path_factory.mktemp("cluster-manager-adoption") / "project")
    stack.configure(**config)
    world = World(run_id, stack, inv, capi_ns, fleet_ns, manager, config)
    world.before = {name: world.profile(name) for name in ("handmade", "orphan", "foreign")}
    yield world
    world.stack.destroy()
    for ns in (capi_ns, fleet_ns):
        control_plane.delete_namespace(ns)


def test_without_adopt_existing_up_skips_the_profiles_naming_them_and_what_to_do(world: World) -> None:
    """A name another writer holds costs only the object planned under it (SPEC §9): the run goes on."""
    world.stack.up()
    skipped = "\n".join(world.skipped())
    for name, holder in (("handmade", "not written by any stack"), ("orphan", f"stamped by stack {ANOTHER_STACK}")):
        assert (f"Cluster {world.capi_ns}/{name}: ClusterProfile {world.fleet_ns}/{name} not declared: the name is "
                f"taken by an existing ClusterProfile {world.fleet_ns}/{name} that this stack does not manage "
                f"({holder})") in skipped
    assert "pulumi config set cluster-inventory:adoptExisting true" in skipped
    assert f"ClusterProfile {world.fleet_ns}/foreign not declared" not in skipped  # not an adoption: left alone
    for name, before in world.before.items():
        assert world.profile(name)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert world.inventory.custom_names(PROFILES, world.fleet_ns) == {
        f"{world.fleet_ns}/{name}" for name in ("handmade", "orphan", "foreign", "fresh")}


def test_with_adopt_existing_the_profiles_are_taken_over_in_place(world: World) -> None:
    world.stack.configure(adoptExisting=True)
    with world.watch() as seen:
        world.stack.up()
    assert seen.of("DELETED") == set()
    assert seen.of("ADDED") == set()  # fresh was created by the run before
    for name in ("handmade", "orphan"):
        profile = world.profile(name)
        assert profile["metadata"]["uid"] == world.before[name]["metadata"]["uid"]
        assert profile["spec"] == {"displayName": name, "clusterManager": {"name": world.manager}}
        assert profile["metadata"]["annotations"][OWNER_ANNOTATION].endswith("/cluster-inventory/test")
        assert profile["metadata"]["labels"]["app.kubernetes.io/managed-by"] == f"ci-{world.run_id}"
        healthy = world.conditions(name)["ControlPlaneHealthy"]
        assert (healthy["status"], healthy["reason"]) == ("True", "Available")
        (provider,) = profile["status"]["accessProviders"]
        assert provider["cluster"]["server"] == f"https://{name}.example:6443"
        assert provider["cluster"]["extensions"][0]["extension"] == {
            "name": f"{name}-kubeconfig", "key": "value", "namespace": world.capi_ns}


def test_the_other_writers_status_entries_survive_the_adoption(world: World) -> None:
    profile = world.profile("handmade")
    conditions = world.conditions("handmade")
    assert set(conditions) == {"Joined", "ControlPlaneHealthy"}
    assert conditions["Joined"]["status"] == "True"
    # The stale ControlPlaneHealthy changed status, so its transition time is Cluster API's.
    assert conditions["ControlPlaneHealthy"]["lastTransitionTime"] == "2026-03-01T00:00:00Z"
    properties = {p["name"]: p["value"] for p in profile["status"]["properties"]}
    assert properties["example.com/zone"] == "zone-a"
    writers = {m["manager"] for m in profile["metadata"]["managedFields"]
               if m.get("subresource") == "status" and "f:status" in m["fieldsV1"]}
    assert writers == {STATUS_MANAGER, OTHER_WRITER}


def test_a_profile_of_another_cluster_manager_is_left_alone_even_with_adopt_existing(world: World) -> None:
    foreign = world.profile("foreign")
    assert foreign["metadata"]["resourceVersion"] == world.before["foreign"]["metadata"]["resourceVersion"]
    assert foreign["spec"]["clusterManager"] == {"name": "test-manager"}
    assert not foreign.get("status", {}).get("conditions")
    assert OWNER_ANNOTATION not in (foreign["metadata"].get("annotations") or {})
    (reported,) = [s for s in world.skipped() if f"Cluster {world.capi_ns}/foreign" in s]
    assert "test-manager" in reported and "delete it" in reported


def test_adopted_profiles_are_the_stacks_own_once_adopt_existing_is_off_again(world: World) -> None:
    world.stack.configure(adoptExisting=None)
    start = len(world.stack.output)
    preview = world.stack.preview()
    assert set(resource_changes(preview)) <= {"same"}, "\n".join(world.stack.output[start:])
    result = world.stack.up()
    assert set(resource_changes(result)) == {"same"}


def test_a_stack_that_lost_its_state_takes_its_own_profiles_back_in_place(world: World) -> None:
    """The stack is removed with its state (`pulumi stack rm --force` leaves the objects) and created
    again under the same name: the profiles carry its own stamp, so no adoptExisting is needed."""
    uids = {name: world.profile(name)["metadata"]["uid"] for name in ("handmade", "orphan", "fresh")}
    times = {name: world.conditions(name)["ControlPlaneHealthy"]["lastTransitionTime"] for name in uids}
    world.stack.stack.workspace.remove_stack(world.stack.name, force=True)
    world.stack = ProjectStack(world.stack.workdir, world.stack.name)
    world.stack.configure(**world.config)
    with world.watch() as seen:
        result = world.stack.up()
    assert {"delete", "replace"}.isdisjoint(resource_changes(result))
    assert seen.of("DELETED") == set() and seen.of("ADDED") == set()
    for name, uid in uids.items():
        assert world.profile(name)["metadata"]["uid"] == uid
        assert world.conditions(name)["ControlPlaneHealthy"]["lastTransitionTime"] == times[name]
    assert set(world.conditions("handmade")) == {"Joined", "ControlPlaneHealthy"}
    assert world.profile("foreign")["metadata"]["resourceVersion"] == \
        world.before["foreign"]["metadata"]["resourceVersion"]
    assert set(resource_changes(world.stack.up())) == {"same"}


def test_removing_an_adopted_profile_whose_old_writer_co_owns_its_condition(world: World) -> None:
    """``handmade``'s old writer applied a ControlPlaneHealthy of its own before the adoption, so it
    co-owns that condition's key: releasing this program's fields alone would leave the condition
    without its required fields (the API server's 422). The delete removes this program's entries
    instead, and the profile goes with its Cluster."""
    group, version, plural = CAPI_V1BETA2
    world.inventory.custom.delete_namespaced_custom_object(group, version, world.capi_ns, plural, "handmade")
    with world.watch() as seen:
        result = world.stack.up()
    assert resource_changes(result).get("delete", 0) >= 2  # the profile and its status
    assert f"{world.fleet_ns}/handmade" not in world.inventory.custom_names(PROFILES, world.fleet_ns)
    assert "handmade" in {name.rsplit("/", 1)[-1] for name in seen.of("DELETED")}
    assert set(resource_changes(world.stack.up())) == {"same"}


def test_destroy_removes_what_was_adopted_and_leaves_the_foreign_profile(world: World) -> None:
    world.stack.destroy()
    assert world.inventory.custom_names(PROFILES, world.fleet_ns) == {f"{world.fleet_ns}/foreign"}
