"""SPEC §9 with the real CLI, provider and API server: an exec provider serves only the ClusterProfiles
stack config binds it to, and a profile hands its plugin only what the binding allows.

The operator's provider (a bash-script plugin) is bound to the fleet namespace. A tenant, with rights
only in its own namespace, writes a ClusterProfile that names that provider, with the audience of a
production cluster and its own server; another profile, in the fleet namespace, asks for BASH_ENV.
`pulumi up` mints only for the fleet's profile and names both refusals in its outputs and log.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes.client.rest import ApiException

from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import SVELTOS, Inventory, exec_provider
from tests.integration.project import ProjectStack

PLUGIN = Path(__file__).parent / "plugins" / "bash-token"
ENVS_EXTENSION = "clusterprofiles.multicluster.x-k8s.io/exec/additional-envs"


@dataclass
class World:
    stack: ProjectStack
    inventory: Inventory
    fleet_ns: str
    tenant_ns: str
    startup_marker: Path
    skipped: list[str]

    def sveltos_secret(self, namespace: str, profile: str) -> str | None:
        try:
            secret = self.inventory.core.read_namespaced_secret(f"{profile}-sveltos-kubeconfig", namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return str(secret.metadata.name)

    def sveltos_cluster(self, namespace: str, profile: str) -> bool:
        return f"{namespace}/{profile}" in self.inventory.custom_names(SVELTOS, namespace)

    def skip_of(self, subject: str) -> str:
        """The one ``skipped`` output line about ``subject`` (``Kind ns/name``)."""
        matching = [line for line in self.skipped if f" {subject}: " in line]
        assert len(matching) == 1, self.skipped
        return matching[0]


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    fleet_ns, tenant_ns = f"fleet-{run_id}", f"tenant-{run_id}"
    for ns in (fleet_ns, tenant_ns):
        inv.namespace(ns)
    tmp = tmp_path_factory.mktemp("exec-bindings")
    marker = tmp / "bash-env-ran"
    startup = tmp / "startup.sh"
    startup.write_text(f"touch {marker}\n")
    inv.cluster_profile(fleet_ns, "bound", [exec_provider("operator-token", "https://prod-us-1.example:6443")])
    inv.cluster_profile(tenant_ns, "stolen", [{
        "name": "operator-token",
        "cluster": {"server": "https://attacker.example:6443", "extensions": [
            {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "prod-us-1"}}]},
    }])
    inv.cluster_profile(fleet_ns, "startup", [{
        "name": "operator-token",
        "cluster": {"server": "https://prod-eu-1.example:6443", "extensions": [
            {"name": ENVS_EXTENSION, "extension": {"BASH_ENV": str(startup)}}]},
    }])
    providers = tmp / "providers.json"
    providers.write_text(json.dumps({"providers": [{
        "name": "operator-token",
        "execConfig": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(PLUGIN),
                       "provideClusterInfo": True, "interactiveMode": "Never"},
        "profileSourcedEnvVarsPolicy": "Replace",
    }]}))
    stack = ProjectStack(tmp / "project")
    stack.configure(kubeconfig=str(control_plane.kubeconfig), profileNamespaces=[fleet_ns, tenant_ns],
                    pushMode="off", execProviderFile=str(providers),
                    execProviderBindings={"operator-token": {"namespaces": [fleet_ns]}},
                    managedByValue=f"ci-{run_id}", scheduleIntervalMinutes=0)
    stack.up()
    skipped = list(stack.stack.outputs()["skipped"].value)
    yield World(stack, inv, fleet_ns, tenant_ns, marker, skipped)
    stack.destroy()
    for ns in (fleet_ns, tenant_ns):
        control_plane.delete_namespace(ns)


def test_a_profile_in_a_bound_namespace_gets_its_minted_credentials(world: World) -> None:
    assert world.sveltos_secret(world.fleet_ns, "bound") is not None
    assert world.sveltos_cluster(world.fleet_ns, "bound")


def test_a_tenant_profile_naming_the_operators_provider_gets_no_secret(world: World) -> None:
    assert world.sveltos_secret(world.tenant_ns, "stolen") is None
    assert not world.sveltos_cluster(world.tenant_ns, "stolen")


def test_the_refusal_is_in_the_outputs_naming_profile_provider_and_config_key(world: World) -> None:
    message = world.skip_of(f"ClusterProfile {world.tenant_ns}/stolen")

    assert (f"exec provider 'operator-token' refused: stack config execProviderBindings['operator-token'] does "
            f"not bind namespace {world.tenant_ns} with this profile's labels") in message


def test_the_refusal_is_in_the_log(world: World) -> None:
    log = "".join(world.stack.output)

    assert f"ClusterProfile {world.tenant_ns}/stolen" in log
    assert "execProviderBindings['operator-token']" in log


def test_a_bound_profile_asking_for_bash_env_is_refused_and_the_startup_file_never_runs(world: World) -> None:
    message = world.skip_of(f"ClusterProfile {world.fleet_ns}/startup")

    assert "a ClusterProfile may never set BASH_ENV" in message
    assert world.sveltos_secret(world.fleet_ns, "startup") is None
    assert not world.startup_marker.exists()


def test_no_minted_token_reaches_the_outputs_or_the_log(world: World) -> None:
    assert "SECRET-TOKEN" not in "".join(world.stack.output) + json.dumps(world.skipped)
