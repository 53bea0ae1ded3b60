"""Feature E's ClusterProfile status through the project's own provider plugin
(provider/pulumi-resource-cluster-inventory, inventory/stack/status_provider.py), with the real
CLI, the real kube-apiserver and the real ClusterProfile CRD: import, preview diffs, update in
place, delete of exactly this field manager's fields, refresh, secrecy, and the move of a stack
that holds the status as the dynamic resource of before. The steps share one stack, in file order.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.controlplane import REPO, ControlPlane
from tests.integration.inventory_objects import CAPI_V1BETA2, PROFILES, Inventory, kubeconfig_text
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import resource_changes

STATUS_TYPE = "cluster-inventory:index:ClusterProfileStatus"
LEGACY_TYPE = "pulumi-python:dynamic/inventory:ClusterProfileStatus"
STATUS_MANAGER = "cluster-inventory-status"
# The last commit of main whose ClusterProfileStatus was a Python dynamic resource.
DYNAMIC_COMMIT = "a874058"
# How the state marks a secret (the export the Automation API makes shows its plaintext beside it;
# what is at rest is checked in test_no_credential_in_state_previews_or_outputs).
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"


@dataclass
class World:
    stack: ProjectStack
    inventory: Inventory
    capi_ns: str
    fleet_ns: str
    markers: list[str]
    client_key: str

    def profile(self, name: str) -> dict[str, Any]:
        return self.inventory.custom_object(PROFILES, self.fleet_ns, name)

    def conditions(self, name: str) -> dict[str, str]:
        return {c["type"]: c["status"] for c in self.profile(name).get("status", {}).get("conditions", [])}

    def set_capi_condition(self, name: str, status: str, reason: str) -> None:
        group, version, plural = CAPI_V1BETA2
        self.inventory.custom.patch_namespaced_custom_object_status(
            group, version, self.capi_ns, plural, name, {"status": {"conditions": [{
                "type": "ControlPlaneAvailable", "status": status, "reason": reason, "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})

    def apply_as(self, manager: str, name: str, status: dict[str, Any], *, force: bool = False) -> None:
        group, version, plural = PROFILES
        self.inventory.custom.patch_namespaced_custom_object_status(
            group, version, self.fleet_ns, plural, name,
            {"apiVersion": f"{group}/{version}", "kind": "ClusterProfile",
             "metadata": {"name": name, "namespace": self.fleet_ns}, "status": status},
            field_manager=manager, force=force, _content_type="application/apply-patch+yaml")

    def resources(self) -> list[dict[str, Any]]:
        resources: list[dict[str, Any]] = self.stack.stack.export_stack().deployment.get("resources", [])
        return resources

    def resource(self, urn: str) -> dict[str, Any]:
        return next(r for r in self.resources() if r["urn"] == urn)

    def status_urn(self, name: str) -> str:
        (urn,) = [r["urn"] for r in self.resources()
                  if r["type"] == STATUS_TYPE and r.get("id") == f"{self.fleet_ns}/{name}"]
        return str(urn)

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["pulumi", *args, "--stack", self.stack.name, "--non-interactive"],
                              cwd=self.stack.workdir, env={**os.environ, **self.stack.env},
                              capture_output=True, text=True, timeout=600, check=False)
        self.stack.output.extend([done.stdout, done.stderr])
        if check:
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done


def _condition(type_: str, status: str = "True") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": type_, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    capi_ns, fleet_ns = f"capi-{run_id}", f"fleet-{run_id}"
    inv.namespace(capi_ns)
    inv.namespace(fleet_ns)
    markers = [f"SECRET-P-{run_id}-{i}" for i in range(2)]
    for index, name in enumerate(("alpha", "beta")):
        inv.capi_cluster(capi_ns, name, {"clusterprofile-name": name, "clusterprofile-namespace": fleet_ns},
                         kubeconfig_text(f"https://{name}.example:6443", markers[index]))
    stack = ProjectStack(tmp_path_factory.mktemp("status-provider") / "project")
    # The management cluster's kubeconfig as content (a secret in the stack config, as the program
    # demands): it reaches the provider, the default provider of an import included.
    kubeconfig = control_plane.kubeconfig.read_text()
    client_key = yaml.safe_load(kubeconfig)["users"][0]["user"]["client-key-data"]
    stack.configure(
        capiNamespaces=[capi_ns], profileNamespaces=[fleet_ns], pushMode="off",
        sveltosMode="off", clusterProfileMode="direct", clusterManagerName=f"mgr-{run_id}",
        managedByValue=f"ci-{run_id}", eventsNamePrefix=f"ci-{run_id}", scheduleIntervalMinutes=0)
    stack.configure_secret("kubeconfig", kubeconfig)
    world = World(stack, inv, capi_ns, fleet_ns, markers, client_key)
    world.set_capi_condition("alpha", "True", "Available")
    world.set_capi_condition("beta", "True", "Available")
    yield world
    stack.destroy()
    for ns in (capi_ns, fleet_ns):
        control_plane.delete_namespace(ns)


def test_up_writes_the_statuses_through_the_projects_provider(world: World) -> None:
    world.stack.up()
    types = [r["type"] for r in world.resources()]
    assert types.count(STATUS_TYPE) == 2 and types.count("pulumi:providers:cluster-inventory") == 1
    assert LEGACY_TYPE not in types and not any(t.startswith("pulumi:providers:pulumi-python") for t in types)
    assert world.conditions("alpha") == {"ControlPlaneHealthy": "True"}
    managed = world.profile("alpha")["metadata"]["managedFields"]
    assert {(m["manager"], m.get("subresource", "")) for m in managed if "f:status" in m["fieldsV1"]} == {
        (STATUS_MANAGER, "status")}


def test_a_steady_run_changes_nothing(world: World) -> None:
    assert set(world.stack.preview().change_summary) <= {"same"}


def test_preview_shows_the_status_diff_and_up_updates_in_place(world: World) -> None:
    world.set_capi_condition("alpha", "False", "NotAvailable")
    output_from = len(world.stack.output)
    preview = world.stack.preview()
    assert preview.change_summary.get("update") == 1 and set(preview.change_summary) <= {"same", "update"}
    shown = "\n".join(world.stack.output[output_from:])
    assert f"{STATUS_TYPE}" in shown and '"NotAvailable"' in shown  # the detailed diff names the new reason
    result = world.stack.up()
    assert resource_changes(result).get("update") == 1
    assert {"create", "delete", "replace"}.isdisjoint(resource_changes(result))
    assert world.conditions("alpha") == {"ControlPlaneHealthy": "False"}


def test_refresh_finds_nothing_changed_and_sees_another_writer_take_a_field(world: World) -> None:
    result = world.stack.stack.refresh(on_output=world.stack._echo, color="never")
    assert set(resource_changes(result)) == {"same"}
    # Another writer takes ControlPlaneHealthy over (a forced apply): this manager no longer owns it.
    world.apply_as("intruder", "beta", {"conditions": [_condition("ControlPlaneHealthy", "Unknown")]}, force=True)
    result = world.stack.stack.refresh(on_output=world.stack._echo, color="never")
    assert resource_changes(result).get("update") == 1
    result = world.stack.up()
    assert resource_changes(result).get("update") == 1
    assert world.conditions("beta") == {"ControlPlaneHealthy": "True"}
    # The intruder still co-owns the entry's key (the value it applied is the same); it lets go,
    # or a delete of this status could not remove the entry (docs/cluster-manager.md).
    world.apply_as("intruder", "beta", {"conditions": []})


def test_import_by_the_cli_adopts_the_owned_status_then_preview_is_a_no_op(world: World) -> None:
    urn = world.status_urn("alpha")
    parent = world.resource(urn)["parent"]
    (provider,) = [r for r in world.resources() if r["type"] == "pulumi:providers:cluster-inventory"]
    before = world.resource(urn)["outputs"]
    world.pulumi("state", "delete", urn, "--yes")
    assert world.conditions("alpha") == {"ControlPlaneHealthy": "False"}  # forgetting touches nothing
    name = urn.rsplit("::", 1)[1]
    world.pulumi("import", STATUS_TYPE, name, f"{world.fleet_ns}/alpha", "--yes", "--generate-code=false",
                 "--protect=false",
                 "--parent", f"inventory={parent}",
                 "--provider", f"{provider['urn'].rsplit('::', 1)[1]}={provider['urn']}")
    imported = world.resource(urn)
    assert imported["outputs"]["status"] == before["status"]
    assert imported["outputs"]["managementCluster"] == before["managementCluster"]
    assert set(world.stack.preview().change_summary) <= {"same"}


def test_import_with_the_default_provider_reads_the_stack_kubeconfig(world: World) -> None:
    """No --provider: the default provider of package cluster-inventory gets the stack's own
    cluster-inventory:kubeconfig (the project's config namespace)."""
    urn = world.status_urn("beta")
    parent = world.resource(urn)["parent"]
    world.pulumi("state", "delete", urn, "--yes")
    world.pulumi("import", STATUS_TYPE, urn.rsplit("::", 1)[1], f"{world.fleet_ns}/beta", "--yes",
                 "--generate-code=false", "--protect=false", "--parent", f"inventory={parent}")
    (default,) = [r for r in world.resources()
                  if r["type"] == "pulumi:providers:cluster-inventory" and "::default" in r["urn"]]
    # The engine keeps every cluster-inventory: key as the default provider's inputs; it reads
    # only these two, and the kubeconfig is a secret there too (encrypted).
    assert SECRET_SIGNATURE in default["inputs"]["kubeconfig"]
    assert SECRET_SIGNATURE in default["outputs"]["kubeconfig"]
    preview = world.stack.preview()
    # The status moves to the program's provider unchanged; the default provider goes.
    assert preview.change_summary.get("update", 0) == 0 and preview.change_summary.get("create", 0) == 0
    assert preview.change_summary.get("delete", 0) <= 1
    world.stack.up()
    assert set(world.stack.preview().change_summary) <= {"same"}


def test_an_import_of_a_profile_that_does_not_exist_fails_naming_it(world: World) -> None:
    done = world.pulumi("import", STATUS_TYPE, "nothing/status", f"{world.fleet_ns}/nothing", "--yes",
                        "--generate-code=false", check=False)
    assert done.returncode != 0 and f"{world.fleet_ns}/nothing" in done.stdout + done.stderr


def test_delete_removes_only_this_managers_fields(world: World) -> None:
    world.apply_as("someone-else", "beta", {"conditions": [_condition("Joined")],
                                            "properties": [{"name": "theirs", "value": "kept"}]})
    world.pulumi("destroy", "--yes", "--target", world.status_urn("beta"))
    status = world.profile("beta")["status"]
    assert {c["type"] for c in status["conditions"]} == {"Joined"}
    assert status["properties"] == [{"name": "theirs", "value": "kept"}]
    assert not status.get("accessProviders") and "version" not in status
    # The next run applies it again, beside the other writer's entries.
    world.stack.up()
    assert world.conditions("beta") == {"Joined": "True", "ControlPlaneHealthy": "True"}


def test_no_credential_in_state_previews_or_outputs(world: World) -> None:
    state = world.stack.state_text()
    printed = "\n".join(world.stack.output)
    for needle in (*world.markers, world.client_key, base64.b64decode(world.client_key).decode()[40:80]):
        assert needle not in state, "a credential in the state"
        assert needle not in printed, "a credential in the CLI's output"
    (provider,) = [r for r in world.resources()
                   if r["type"] == "pulumi:providers:cluster-inventory" and "::default" not in r["urn"]]
    assert SECRET_SIGNATURE in provider["inputs"]["kubeconfig"]
    for resource in world.resources():
        if resource["type"] == STATUS_TYPE:
            assert set(resource["outputs"]) <= {"apiVersion", "kind", "namespace", "name", "status",
                                                "managementCluster"}


def test_the_import_option_adopts_a_status_that_matches(control_plane: ControlPlane, world: World,
                                                       tmp_path: Path) -> None:
    """A program of its own declares alpha's status with ``import_``: the engine reads it through
    the provider, finds no difference and adopts it."""
    import pulumi
    from pulumi import automation as auto

    from inventory.stack.status import ClusterProfileStatus, StatusProvider, owned
    from tests.integration.pulumi_stack import local_backend_env, workspace_options

    live = owned(world.profile("alpha"))
    cluster = world.resource(world.status_urn("alpha"))["outputs"]["managementCluster"]
    declared = {"status": live}

    def program() -> None:
        provider = StatusProvider("p", kubeconfig=str(control_plane.kubeconfig), context=None)
        ClusterProfileStatus("alpha", namespace=world.fleet_ns, object_name="alpha", status=declared["status"],
                             management_cluster=cluster, opts=pulumi.ResourceOptions(
                                 provider=provider, import_=f"{world.fleet_ns}/alpha", retain_on_delete=True))

    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": "import-option", "runtime": "python",
        "plugins": {"providers": [{"name": "cluster-inventory", "path": str(REPO / "provider")}]}}))
    env = local_backend_env(tmp_path)
    stack = auto.create_or_select_stack(stack_name="import", project_name="import-option", program=program,
                                        opts=workspace_options(tmp_path, env))
    try:
        # A declared status that differs is imported and then updated (pulumi 3.259 allows that).
        declared["status"] = {**live, "conditions": [_condition("ControlPlaneHealthy", "Unknown")]}
        differing = stack.preview(diff=True, color="never").change_summary
        assert (differing.get("import"), differing.get("update")) == (1, 1), differing
        declared["status"] = live
        assert resource_changes(stack.up()).get("import") == 1
        assert set(stack.preview().change_summary) <= {"same"}
    finally:
        stack.destroy()  # retain_on_delete: forgets alpha's status, which the world's stack still owns
    assert world.conditions("alpha") == {"ControlPlaneHealthy": "False"}


def old_code(tmp: Path) -> Path | None:
    """The repository at DYNAMIC_COMMIT (inventory/ and Pulumi.yaml), or None without that history."""
    done = subprocess.run(["git", "-C", str(REPO), "archive", DYNAMIC_COMMIT, "inventory", "Pulumi.yaml",
                           "__main__.py"], capture_output=True, check=False)
    if done.returncode != 0:
        return None
    tmp.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=done.stdout, check=True)
    return tmp


def old_stack(control_plane: ControlPlane, world: World, tmp_path: Path, fleet_ns: str) -> ProjectStack:
    """A stack of the code of DYNAMIC_COMMIT publishing the world's Clusters into ``fleet_ns``."""
    old = old_code(tmp_path / "old")
    if old is None:
        pytest.skip(f"commit {DYNAMIC_COMMIT} is not in this clone's history")
    world.inventory.namespace(fleet_ns)
    stack = ProjectStack(tmp_path / "project", name="migrate")
    for name in ("inventory", "__main__.py", "provider"):
        (stack.workdir / name).unlink()
    shutil.copy(old / "Pulumi.yaml", stack.workdir / "Pulumi.yaml")
    (stack.workdir / "inventory").symlink_to(old / "inventory")
    (stack.workdir / "__main__.py").symlink_to(old / "__main__.py")
    stack.configure(
        kubeconfig=str(control_plane.kubeconfig), capiNamespaces=[world.capi_ns], profileNamespaces=[fleet_ns],
        pushMode="off", sveltosMode="off", clusterProfileMode="direct", clusterManagerName="mgr-migrate",
        managedByValue="ci-migrate", eventsNamePrefix="ci-migrate", scheduleIntervalMinutes=0)
    # The Clusters of the world send their profiles to fleet_ns here.
    for name in ("alpha", "beta"):
        world.inventory.set_cluster_labels(world.capi_ns, name, {"clusterprofile-namespace": fleet_ns})
    return stack


def to_this_code(stack: ProjectStack) -> None:
    shutil.copy(REPO / "Pulumi.yaml", stack.workdir / "Pulumi.yaml")
    for name in ("inventory", "__main__.py"):
        (stack.workdir / name).unlink()
        (stack.workdir / name).symlink_to(REPO / name)
    (stack.workdir / "provider").symlink_to(REPO / "provider")


def back_to_the_world(world: World, fleet_ns: str) -> None:
    for name in ("alpha", "beta"):
        world.inventory.set_cluster_labels(world.capi_ns, name, {"clusterprofile-namespace": world.fleet_ns})
    world.inventory.core.delete_namespace(fleet_ns)


def test_a_stack_not_yet_moved_refreshes_and_destroys_with_this_code(control_plane: ControlPlane, world: World,
                                                                     tmp_path: Path) -> None:
    """Pulumi's dynamic provider plugin runs the old status's read and delete with this code
    (inventory/stack/status.py keeps ``_StatusProvider``), before any `up` moved the stack."""
    fleet_ns = f"{world.fleet_ns}-n"
    stack = old_stack(control_plane, world, tmp_path, fleet_ns)
    try:
        stack.up()
        to_this_code(stack)
        result = stack.stack.refresh(on_output=stack._echo, color="never")
        assert set(resource_changes(result)) == {"same"}
        stack.destroy()
        assert world.inventory.custom_names(PROFILES, fleet_ns) == set()
    finally:
        stack.destroy()
        back_to_the_world(world, fleet_ns)


def test_a_stack_holding_the_dynamic_status_moves_in_place(control_plane: ControlPlane, world: World,
                                                           tmp_path: Path) -> None:
    """An `up` with the code of before, then with this one: every status is updated in place
    under its alias, none is deleted or created, and the applied status never goes away."""
    fleet_ns = f"{world.fleet_ns}-m"
    stack = old_stack(control_plane, world, tmp_path, fleet_ns)
    try:
        stack.up()
        legacy = [r for r in stack.stack.export_stack().deployment["resources"] if r["type"] == LEGACY_TYPE]
        assert len(legacy) == 2
        group, version, plural = PROFILES
        live = world.inventory.custom.get_namespaced_custom_object(group, version, fleet_ns, plural, "alpha")
        before = live["status"]

        to_this_code(stack)
        result = stack.up()
        changes = resource_changes(result)
        print(f"the move's changes: {changes}")  # docs/cluster-manager.md quotes them (pytest -s)
        assert changes.get("update") == 2, changes
        assert {"create-replacement", "delete-replaced", "replace"}.isdisjoint(changes), changes
        resources = stack.stack.export_stack().deployment["resources"]
        statuses = [r for r in resources if r["type"] == STATUS_TYPE]
        assert len(statuses) == 2 and not [r for r in resources if r["type"] == LEGACY_TYPE]
        assert all(set(r["outputs"]) <= {"apiVersion", "kind", "namespace", "name", "status", "managementCluster"}
                   for r in statuses)
        live = world.inventory.custom.get_namespaced_custom_object(group, version, fleet_ns, plural, "alpha")
        assert live["status"] == before
        shown = len(stack.output)
        assert set(stack.preview().change_summary) <= {"same"}, "".join(stack.output[shown:])
    finally:
        stack.destroy()
        back_to_the_world(world, fleet_ns)
