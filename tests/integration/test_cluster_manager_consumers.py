"""Issue 17 item 5, end to end: ClusterProfiles that a real ``pulumi up`` publishes (real CLI,
provider and API server; ``clusterProfileMode: direct``, ``sveltosMode: direct``), used by real
consumers.

Three CAPI Clusters, each with a kubeconfig Secret that points at the local API server with a
ServiceAccount token of its own, so the identity a request is authenticated as says which
Cluster's Secret was read. ``alpha`` and ``beta`` report a healthy control plane, ``gamma`` an
unavailable one.

(a) cluster-inventory-api v0.1.3's ``pkg/access`` with its ``kubeconfig-secretreader`` plugin
    (tools/go/clusterprofile-consumer ``access``) builds a rest.Config from each published profile
    and is authenticated as that Cluster's identity. It runs as a ServiceAccount with only the Roles
    docs/cluster-manager.md and docs/consumer-shapes.md tell consumers to grant.
(b) multicluster-runtime's readiness contract (``engage``) engages exactly the healthy Clusters'
    profiles; a second, no-op ``up`` leaves every profile's resourceVersion as it was, so a
    multicluster-runtime consumer (which tears a cluster down on any update) sees nothing.
(c) feature B's SveltosClusters for the published profiles exist after the same ``up``, and the
    kubeconfig in their Secret authenticates (used from Python, as Sveltos would use it).

A rotated CAPI kubeconfig reaches the pkg/access consumer at once (the profile names Cluster API's
own Secret) and feature B's copy at the next ``up``, which leaves the profile untouched.

No credential may appear in the CLI's output, the stack's outputs or state, or the consumer's output.
The steps share one stack and run in file order.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from tests.integration.consumers import (
    CAPI_KUBECONFIG_KEY,
    PROFILE_READER_RULES,
    SECRET_READER,
    Run,
    build,
    grant,
    kubeconfig,
    provider_file,
    run_consumer,
    service_account_token,
)
from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import CAPI_V1BETA2, PROFILES, SVELTOS, Inventory
from tests.integration.project import ProjectStack

CONDITION = "ControlPlaneHealthy"
HEALTHY = {"alpha": True, "beta": True, "gamma": False}
MANAGER_LABEL = "x-k8s.io/cluster-manager"


@dataclass
class World:
    capi_ns: str
    fleet_ns: str
    manager: str
    stack: ProjectStack
    inventory: Inventory
    server: str
    ca_data: str
    consumer: Path
    providers: Path
    consumer_kubeconfig: Path
    tmp: Path
    secrets: list[str]  # every credential of the test: none may be printed or stored
    timings: dict[str, float]

    def user(self, cluster: str) -> str:
        """The username the API server authenticates ``cluster``'s kubeconfig Secret as."""
        return f"system:serviceaccount:{self.capi_ns}:{cluster}-admin"

    def consume(self, mode: str, *args: str) -> Run:
        return run_consumer(self.consumer, mode, self.providers, self.consumer_kubeconfig, self.tmp,
                            self.secrets, *args)

    def engage(self) -> Run:
        """Engage this cluster manager's profiles, selected by its label as a consumer would."""
        return self.consume("engage", "-namespace", self.fleet_ns, "-selector", f"{MANAGER_LABEL}={self.manager}")

    def profiles(self) -> dict[str, dict[str, Any]]:
        group, version, plural = PROFILES
        items = self.inventory.custom.list_namespaced_custom_object(group, version, self.fleet_ns, plural)["items"]
        return {item["metadata"]["name"]: item for item in items}

    def sveltos_user(self, name: str) -> str:
        """Who the kubeconfig of SveltosCluster ``name`` is authenticated as, read as Sveltos reads
        it: the Secret it names, under its kubeconfigKeyName."""
        group, version, plural = SVELTOS
        sveltos = self.inventory.custom.get_namespaced_custom_object(group, version, self.fleet_ns, plural, name)
        secret = self.inventory.core.read_namespaced_secret(sveltos["spec"]["kubeconfigName"], self.fleet_ns)
        text = base64.b64decode(secret.data[sveltos["spec"]["kubeconfigKeyName"]]).decode()
        api = config.new_client_from_config_dict(yaml.safe_load(text))  # YAML or JSON
        return str(client.AuthenticationV1Api(api).create_self_subject_review({}).status.user_info.username)

    def up(self, step: str) -> dict[str, int]:
        started = time.monotonic()
        result = self.stack.up()
        self.timings[step] = round(time.monotonic() - started, 1)
        return dict(result.summary.resource_changes or {})


def capi_conditions(healthy: bool) -> list[dict[str, str]]:
    """Cluster API v1beta2's own word on the control plane."""
    if healthy:
        return [{"type": "ControlPlaneAvailable", "status": "True", "reason": "Available", "message": "",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    return [{"type": "ControlPlaneAvailable", "status": "False", "reason": "NotAvailable",
             "message": "etcd has no quorum", "lastTransitionTime": "2026-01-01T00:00:00Z"}]


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    consumer, plugin = build("clusterprofile-consumer"), build("kubeconfig-secretreader")
    run_id = uuid.uuid4().hex[:6]
    capi_ns, fleet_ns, consumer_ns = f"capi-{run_id}", f"fleet-{run_id}", f"consumer-{run_id}"
    inventory = Inventory(control_plane.api)
    for namespace in (capi_ns, fleet_ns, consumer_ns):
        inventory.namespace(namespace)
    core, rbac = inventory.core, client.RbacAuthorizationV1Api(control_plane.api)
    admin = json.loads(control_plane.kubeconfig.read_text())
    server, ca_data = admin["clusters"][0]["cluster"]["server"], admin["clusters"][0]["cluster"]["certificate-authority-data"]

    secrets = [base64.b64decode(admin["users"][0]["user"]["client-key-data"]).decode()]
    group, version, plural = CAPI_V1BETA2
    for name, healthy in HEALTHY.items():
        token = service_account_token(core, capi_ns, f"{name}-admin")
        secrets.append(token)
        inventory.capi_cluster(capi_ns, name, {"clusterprofile-name": name, "clusterprofile-namespace": fleet_ns},
                               kubeconfig(server, ca_data, token))
        inventory.custom.patch_namespaced_custom_object_status(
            group, version, capi_ns, plural, name, {"status": {"conditions": capi_conditions(healthy)}})

    # The consumer: exactly the Roles the docs list. Profiles are read where they are published;
    # the Secrets the access providers name (Cluster API's own) where they live.
    consumer_sa = (consumer_ns, "consumer")
    consumer_token = service_account_token(core, *consumer_sa)
    secrets.append(consumer_token)
    grant(rbac, fleet_ns, consumer_sa, "read-clusterprofiles", PROFILE_READER_RULES)
    grant(rbac, capi_ns, consumer_sa, "read-capi-kubeconfigs", [{
        "apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
        "resourceNames": [f"{name}-kubeconfig" for name in HEALTHY]}])

    tmp = tmp_path_factory.mktemp("cluster-manager-consumers")
    consumer_kubeconfig = tmp / "consumer.kubeconfig"
    consumer_kubeconfig.write_text(kubeconfig(server, ca_data, consumer_token, consumer_ns))
    stack = ProjectStack(tmp / "project")
    manager = f"capi-mgmt-{run_id}"
    stack.configure(
        kubeconfig=str(control_plane.kubeconfig), capiNamespaces=[capi_ns], profileNamespaces=[fleet_ns],
        pushMode="off", sveltosMode="direct", clusterProfileMode="direct", clusterManagerName=manager,
        managedByValue=f"ci-{run_id}", eventsNamePrefix=f"ci-{run_id}", scheduleIntervalMinutes=0)
    world = World(capi_ns, fleet_ns, manager, stack, inventory, server, ca_data, consumer,
                  provider_file(tmp / "providers.json", plugin), consumer_kubeconfig, tmp, secrets, {})
    yield world
    print(f"\n`pulumi up` wall times (s): {world.timings}")  # shown with -s
    stack.destroy()
    for namespace in (capi_ns, fleet_ns, consumer_ns):
        control_plane.delete_namespace(namespace)


def test_up_publishes_a_profile_for_every_cluster_with_its_health(world: World) -> None:
    changes = world.up("first up")
    assert set(changes) == {"create"}
    profiles = world.profiles()
    assert set(profiles) == set(HEALTHY)
    for name, healthy in HEALTHY.items():
        status = profiles[name]["status"]
        (condition,) = [c for c in status["conditions"] if c["type"] == CONDITION]
        assert condition["status"] == ("True" if healthy else "False")
        (provider,) = status["accessProviders"]
        assert provider["name"] == SECRET_READER
        assert provider["cluster"]["server"] == world.server


def test_a_pkg_access_consumer_reaches_each_cluster_as_its_own_identity(world: World) -> None:
    """(a) Also ``gamma``: pkg/access itself does not look at health (multicluster-runtime does, below)."""
    for name in HEALTHY:
        run = world.consume("access", "-namespace", world.fleet_ns, "-name", name)
        assert run.returncode == 0, run.stderr
        reached = run.output["reached"]
        assert reached["user"]["username"] == world.user(name)
        assert reached["server"] == world.server
        assert reached["execClusterConfig"] == {"name": f"{name}-kubeconfig", "key": CAPI_KUBECONFIG_KEY,
                                                "namespace": world.capi_ns}


def test_multicluster_runtime_contract_engages_exactly_the_healthy_clusters(world: World) -> None:
    """(b)"""
    run = world.engage()
    assert run.returncode == 0, run.stderr
    fleet = world.fleet_ns
    assert run.output["engaged"] == [f"{fleet}/alpha", f"{fleet}/beta"]
    assert run.output["waiting"] == [f"{fleet}/gamma"]
    assert run.output["failed"] == []
    clusters = {c["cluster"]: c for c in run.output["clusters"]}
    assert clusters[f"{fleet}/gamma"]["waitReason"] == f'{CONDITION} is False (reason "NotAvailable")'
    for name in ("alpha", "beta"):
        assert clusters[f"{fleet}/{name}"]["reached"]["user"]["username"] == world.user(name)


def test_a_second_up_changes_nothing_a_consumer_sees(world: World) -> None:
    """(b) multicluster-runtime tears an engaged cluster down on any update to its profile."""
    before = {name: p["metadata"]["resourceVersion"] for name, p in world.profiles().items()}
    changes = world.up("no-op up")
    assert set(changes) == {"same"}
    after = {name: p["metadata"]["resourceVersion"] for name, p in world.profiles().items()}
    assert after == before
    assert world.engage().output["engaged"] == [f"{world.fleet_ns}/alpha", f"{world.fleet_ns}/beta"]


def test_a_cluster_turning_healthy_is_engaged_and_no_other_profile_changes(world: World) -> None:
    """(b) Only ``gamma``'s profile is updated, so only ``gamma`` is reconciled by a consumer."""
    before = {name: p["metadata"]["resourceVersion"] for name, p in world.profiles().items()}
    group, version, plural = CAPI_V1BETA2
    world.inventory.custom.patch_namespaced_custom_object_status(
        group, version, world.capi_ns, plural, "gamma", {"status": {"conditions": capi_conditions(True)}})
    changes = world.up("gamma turns healthy")
    assert changes.get("update") == 1 and {"create", "delete", "replace"}.isdisjoint(changes)
    after = {name: p["metadata"]["resourceVersion"] for name, p in world.profiles().items()}
    assert [name for name in HEALTHY if after[name] != before[name]] == ["gamma"]
    run = world.engage()
    assert run.output["engaged"] == [f"{world.fleet_ns}/{name}" for name in HEALTHY]
    assert run.output["waiting"] == []


def test_feature_b_sveltos_clusters_of_the_published_profiles_work(world: World) -> None:
    """(c) The same first ``up`` wrote them."""
    for name in HEALTHY:
        assert world.sveltos_user(name) == world.user(name)


def test_a_rotated_capi_kubeconfig_reaches_pkg_access_consumers_without_a_run(world: World) -> None:
    """The access provider names Cluster API's own Secret, not a copy: when Cluster API rotates the
    credentials in it, consumers use the new ones at once (docs/cluster-manager.md)."""
    token = service_account_token(world.inventory.core, world.capi_ns, "alpha-rotated")
    world.secrets.append(token)
    world.inventory.core.patch_namespaced_secret("alpha-kubeconfig", world.capi_ns, {"data": {
        CAPI_KUBECONFIG_KEY: base64.b64encode(kubeconfig(world.server, world.ca_data, token).encode()).decode()}})
    run = world.consume("access", "-namespace", world.fleet_ns, "-name", "alpha")
    assert run.returncode == 0, run.stderr
    assert run.output["reached"]["user"]["username"] == f"system:serviceaccount:{world.capi_ns}:alpha-rotated"


def test_the_next_up_carries_a_rotated_credential_to_sveltos_and_leaves_the_profile_alone(world: World) -> None:
    """Feature B keeps a copy, which the next run updates; the profile names the Secret and holds
    no credential, so it does not change (and no consumer re-engages)."""
    before = world.profiles()["alpha"]["metadata"]["resourceVersion"]
    changes = world.up("up after rotation")
    assert {"create", "delete", "replace"}.isdisjoint(changes)
    assert world.profiles()["alpha"]["metadata"]["resourceVersion"] == before
    assert world.sveltos_user("alpha") == f"system:serviceaccount:{world.capi_ns}:alpha-rotated"


def test_no_credential_in_cli_output_stack_outputs_or_state(world: World) -> None:
    printed = "\n".join(world.stack.output)
    outputs = json.dumps({key: value.value for key, value in world.stack.stack.outputs().items()
                          if not value.secret})
    state = world.stack.state_text()
    for secret in world.secrets:
        assert secret not in printed and secret not in outputs and secret not in state

