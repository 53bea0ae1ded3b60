"""``ClusterInventory`` in a Pulumi program of a user's own (examples/component, docs/component.md).

The program is the example as the docs give it: its own Pulumi.yaml and a virtualenv with the
built wheel installed and nothing of this checkout, a ConfigMap of its own through a provider of
its own, and a ``ClusterInventory`` with push Secrets (A), SveltosClusters (B) and ClusterProfiles
with their statuses (E, through the provider plugin the wheel installs). The real CLI runs its
preview, up and destroy against the local control plane. The steps share one stack and run in
file order; each asserts one behaviour.
"""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.rest import ApiException
from pulumi import automation as auto

from tests.integration.controlplane import REPO, ControlPlane
from tests.integration.inventory_objects import CAPI, PROFILES, SVELTOS, Inventory, kubeconfig_text
from tests.integration.pulumi_stack import local_backend_env, resource_changes, workspace_options
from tests.integration.wheel import install_wheel

EXAMPLE = REPO / "examples" / "component"
PROJECT = "my-platform"
COMPONENT_TYPE = "cluster-inventory:index:Inventory"
STATUS_MANAGER = "cluster-inventory-status"  # inventory/stack/status.py FIELD_MANAGER


@dataclass
class World:
    run_id: str
    stack: auto.Stack
    workdir: Path
    inventory: Inventory
    platform_ns: str
    capi_ns: str
    fleet_ns: str
    consumer: str
    settings: dict[str, Any]
    output: list[str]

    def configure(self, **inventory: Any) -> None:
        """The stack file: the program's own keys and the inventory's settings (None removes one)."""
        self.settings.update(inventory)
        settings = {k: v for k, v in self.settings.items() if v is not None}
        path = self.workdir / "Pulumi.component.yaml"
        document = yaml.safe_load(path.read_text()) if path.exists() else {}
        document["config"] = {f"{PROJECT}:kubeconfig": settings["kubeconfig"],
                              f"{PROJECT}:namespace": self.platform_ns, f"{PROJECT}:inventory": settings}
        path.write_text(yaml.safe_dump(document))

    def echo(self, line: str) -> None:
        self.output.append(line)

    def preview(self) -> auto.PreviewResult:
        return self.stack.preview(on_output=self.echo, color="never")

    def up(self) -> auto.UpResult:
        return self.stack.up(on_output=self.echo, color="never")

    def push_secret(self, cluster: str) -> Any:
        return self.inventory.core.read_namespaced_secret(f"{self.fleet_ns}-{cluster}-kubeconfig", self.consumer)


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    platform_ns, capi_ns, fleet_ns = f"platform-{run_id}", f"capi-{run_id}", f"fleet-{run_id}"
    consumer, consumer_label = f"team-{run_id}", f"consumer-{run_id}"
    for ns in (platform_ns, capi_ns, fleet_ns):
        inv.namespace(ns)
    inv.namespace(consumer, {consumer_label: ""})
    for name in ("alpha", "beta"):
        inv.capi_cluster(capi_ns, name, {"clusterprofile-name": name, "clusterprofile-namespace": fleet_ns},
                         kubeconfig_text(f"https://{name}.example:6443", f"SECRET-COMPONENT-{run_id}-{name}"))
    root = tmp_path_factory.mktemp("component")
    bin_dir = install_wheel(root)
    workdir = root / "program"
    workdir.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(EXAMPLE / name, workdir / name)
    (workdir / "venv").symlink_to(bin_dir.parent)
    env = local_backend_env(workdir)
    stack = auto.create_or_select_stack(stack_name="component", work_dir=str(workdir),
                                        opts=workspace_options(workdir, env))
    world = World(run_id, stack, workdir, inv, platform_ns, capi_ns, fleet_ns, consumer, {}, [])
    world.configure(
        kubeconfig=str(control_plane.kubeconfig), capiNamespaces=[capi_ns], profileNamespaces=[fleet_ns],
        consumerNamespaceLabel=consumer_label, consumerNamespaces=[consumer],
        clusterPlacementRoutes={capi_ns: [fleet_ns]}, sveltosMode="direct", clusterProfileMode="direct",
        clusterManagerName=f"mgr-{run_id}", managedByValue=f"ci-{run_id}", eventsNamePrefix=f"ci-{run_id}",
        scheduleIntervalMinutes=0)
    yield world
    stack.destroy(on_output=world.echo, color="never")
    for ns in (platform_ns, capi_ns, fleet_ns, consumer):
        control_plane.delete_namespace(ns)


def test_the_program_runs_the_installed_package_not_the_checkout(world: World) -> None:
    python = world.workdir / "venv" / "bin" / "python"
    assert python.exists() and not (world.workdir / "inventory").exists()
    plugin = world.workdir / "venv" / "bin" / "pulumi-resource-cluster-inventory"
    interpreter = Path(plugin.read_text().splitlines()[0].removeprefix("#!"))
    assert interpreter.resolve() == python.resolve()


def test_preview_plans_the_programs_configmap_and_the_inventory_and_writes_nothing(world: World) -> None:
    preview = world.preview()
    assert preview.change_summary.get("create", 0) >= 8  # the ConfigMap, 2 providers, the component, objects
    with pytest.raises(ApiException) as missing:
        world.inventory.core.read_namespaced_config_map("platform-settings", world.platform_ns)
    assert missing.value.status == 404


def test_up_writes_the_programs_configmap_and_the_inventorys_objects(world: World) -> None:
    assert world.up().summary.result == "succeeded"
    configmap = world.inventory.core.read_namespaced_config_map("platform-settings", world.platform_ns)
    assert configmap.data == {"owner": "platform-team"}
    secret = world.push_secret("alpha")
    assert f"SECRET-COMPONENT-{world.run_id}-alpha" in base64.b64decode(secret.data["config"]).decode()
    assert secret.metadata.annotations["cluster-inventory.io/stack"] == f"organization/{PROJECT}/component"
    assert {f"{world.fleet_ns}/alpha", f"{world.fleet_ns}/beta"} <= world.inventory.custom_names(SVELTOS, world.fleet_ns)


def test_feature_e_writes_statuses_through_the_plugin_the_wheel_installed(world: World) -> None:
    profile = world.inventory.custom_object(PROFILES, world.fleet_ns, "alpha")
    assert profile["spec"]["clusterManager"] == {"name": f"mgr-{world.run_id}"}
    status_writers = {m["manager"] for m in profile["metadata"]["managedFields"] if "f:status" in m["fieldsV1"]}
    assert status_writers == {STATUS_MANAGER}
    assert profile["status"]["accessProviders"][0]["cluster"]["server"] == "https://alpha.example:6443"


def test_the_components_children_hang_under_it_and_its_outputs_are_typed_stack_outputs(world: World) -> None:
    resources = world.stack.export_stack().deployment["resources"]
    component = f"urn:pulumi:component::{PROJECT}::{COMPONENT_TYPE}::fleet"
    children = {r["urn"].rsplit("::", 1)[1] for r in resources if r.get("parent") == component}
    assert {"management-cluster", "management-cluster-status",
            f"Secret/{world.consumer}/{world.fleet_ns}-alpha-kubeconfig",
            f"ClusterProfile/{world.fleet_ns}/alpha", f"ClusterProfile/{world.fleet_ns}/alpha/status"} <= children
    outputs = world.stack.outputs()
    recorded = outputs["clusterInventory"].value
    managed = {name for names in recorded["managedObjects"].values() for name in names}
    assert f"Secret/{world.consumer}/{world.fleet_ns}-alpha-kubeconfig" in managed
    assert outputs["fleetObjects"].value == recorded["counts"]
    assert outputs["platformSettings"].value == "platform-settings"


def test_a_second_up_changes_nothing(world: World) -> None:
    assert set(resource_changes(world.up())) == {"same"}


def test_the_guards_read_the_components_last_run_a_deletion_over_max_deletions_is_held_back(
        world: World) -> None:
    group, version, plural = CAPI
    world.inventory.custom.delete_namespaced_custom_object(group, version, world.capi_ns, plural, "beta")
    world.configure(maxDeletions=0)
    result = world.up()
    assert "delete" not in resource_changes(result)
    assert world.push_secret("beta").metadata.name == f"{world.fleet_ns}-beta-kubeconfig"
    held = world.stack.outputs()["clusterInventory"].value["heldBackDeletions"]
    assert held and sum(held.values()) >= 3  # beta's push Secret, SveltosCluster, ClusterProfile ...


def test_an_unknown_settings_key_stops_the_run_naming_it(world: World) -> None:
    world.configure(shardCont=2)
    with pytest.raises(auto.CommandError) as refused:
        world.preview()
    assert "unknown config key 'shardCont' (did you mean 'shardCount'?)" in str(refused.value)
    assert "Traceback" not in str(refused.value)
    world.configure(shardCont=None)


def test_destroy_removes_what_the_program_and_the_component_wrote(world: World) -> None:
    world.stack.destroy(on_output=world.echo, color="never")
    core = world.inventory.core
    for read in (lambda: core.read_namespaced_config_map("platform-settings", world.platform_ns),
                 lambda: world.push_secret("alpha"), lambda: world.push_secret("beta"),
                 lambda: world.inventory.custom_object(PROFILES, world.fleet_ns, "alpha")):
        with pytest.raises(ApiException) as gone:
            read()
        assert gone.value.status == 404


def test_no_credential_appears_in_the_cli_output(world: World) -> None:
    shown = "".join(world.output)
    assert "SECRET-COMPONENT-" not in shown
    assert json.dumps("SECRET-COMPONENT-")[1:-1] not in shown
