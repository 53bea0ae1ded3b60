"""SPEC §3 C with real Sveltos: event-manager and addon-controller (built from their
published modules) and the project's EventReport writer standing in for sveltos-agent
(tools/go/sveltos) run against the local control plane; `pulumi up` in events mode must
make them write exactly what direct mode writes for the same inventory, keep converging
as the inventory changes, and never fight the stack over the objects it declares.

The steps share one stack and run in file order; each asserts one behaviour.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.rest import ApiException

from tests.integration.controlplane import REPO, ControlPlane, wait_for
from tests.integration.inventory_objects import (
    EVENT_SOURCES,
    EVENT_TRIGGERS,
    SVELTOS,
    Inventory,
    fleet_namespaces,
    kubeconfig_text,
)
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import resource_changes
from tests.seed_routes import SEED_ROUTES_CONFIG

CONVERGE_TIMEOUT_S = 120
PROFILE_LABEL = "x-k8s.io/cluster-profile"
# What a consumer reads from a push Secret besides its data (SPEC §3 A), and what marks
# the objects as this program's output.
CONSUMER_LABELS = ("x-k8s.io/cluster-profile", "x-k8s.io/cluster-profile-namespace", "app.kubernetes.io/managed-by")
OWNER_STAMP = "cluster-inventory.io/stack"
# The ClusterProfiles event-manager creates per event, labelled with their EventTrigger.
SVELTOS_PROFILES = ("config.projectsveltos.io", "v1beta1", "clusterprofiles")
TRIGGER_LABEL = "eventtrigger.lib.projectsveltos.io/eventtriggername"
# Where the agent in the management cluster writes EventReports (eventreporter, as
# sveltos-agent names them) and where event-manager writes the ConfigMaps it instantiates.
MGMT_NAMESPACE = "mgmt"
REPORTS = ("lib.projectsveltos.io", "v1beta1", "eventreports")
INSTANTIATED_NAMESPACE = "projectsveltos"


@dataclass
class World:
    run_id: str
    stack: ProjectStack
    inventory: Inventory
    capi_ns: str
    fleet_ns: str
    consumer_label: str
    consumers: list[str]
    config: dict[str, object]
    config_file: Path
    markers: list[str]

    @property
    def managed(self) -> str:
        return f"app.kubernetes.io/managed-by=ci-{self.run_id}"

    @property
    def prefix(self) -> str:
        return f"ev-{self.run_id}"

    def direct_mode_objects(self) -> dict[str, dict[str, Any]]:
        """What direct mode writes for the same inventory: `python -m inventory render`
        with both features in direct mode, credentials shown (kept in memory only)."""
        config = {**self.config, "pushMode": "direct", "sveltosMode": "direct"}
        self.config_file.write_text(yaml.safe_dump(config))
        result = subprocess.run(
            [sys.executable, "-m", "inventory", "render", "--kubeconfig", str(REPO / ".local" / "kubeconfig"),
             "--config", str(self.config_file), "-o", "json", "--show-secrets"],
            cwd=REPO, capture_output=True, text=True, check=True)
        return {_key(o): o for o in json.loads(result.stdout)["items"]}

    def sveltos_objects(self) -> dict[str, dict[str, Any]]:
        """The Secrets and SveltosClusters carrying this run's managed-by label."""
        api = self.inventory.core.api_client
        secrets = self.inventory.core.list_secret_for_all_namespaces(label_selector=self.managed).items
        found = {}
        for secret in secrets:
            body = api.sanitize_for_serialization(secret)
            body.update(apiVersion="v1", kind="Secret")
            found[_key(body)] = body
        group, version, plural = SVELTOS
        for item in self.inventory.custom.list_cluster_custom_object(group, version, plural,
                                                                     label_selector=self.managed)["items"]:
            found[_key(item)] = item
        return found


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """What must agree between direct mode and Sveltos: identity, type, the labels consumers
    read, every data key byte for byte (as digests, so a failure prints no credential), and
    a SveltosCluster's labels, annotations and spec."""
    metadata = obj["metadata"]
    if obj["kind"] == "Secret":
        labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k in CONSUMER_LABELS}
        return {"type": obj.get("type"), "labels": labels,
                "data": {k: _digest(v) for k, v in (obj.get("data") or {}).items()}}
    # Sveltos marks what it deploys with projectsveltos.io/ labels and annotations; direct
    # mode stamps cluster-inventory.io/ annotations; the API server defaults further spec fields.
    own = ("projectsveltos.io/", "cluster-inventory.io/")
    spec = obj.get("spec") or {}
    return {"labels": {k: v for k, v in (metadata.get("labels") or {}).items() if not k.startswith(own)},
            "annotations": {k: v for k, v in (metadata.get("annotations") or {}).items() if not k.startswith(own)},
            "spec": {k: spec.get(k) for k in ("kubeconfigName", "kubeconfigKeyName")}}


def _converge(world: World, *, expect_count: int | None = None) -> dict[str, dict[str, Any]]:
    """Wait until Sveltos' objects equal direct mode's; the comparison on timeout."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while True:
        expected = {k: _comparable(v) for k, v in world.direct_mode_objects().items()}
        actual = {k: _comparable(v) for k, v in world.sveltos_objects().items()}
        if expected == actual or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert actual == expected
    if expect_count is not None:
        assert len(actual) == expect_count
    return actual


def _event_source(world: World, name: str) -> dict[str, Any]:
    group, version, plural = EVENT_SOURCES
    return world.inventory.custom.get_cluster_custom_object(group, version, plural, name)  # type: ignore[no-any-return]


def _event_trigger(world: World, name: str) -> dict[str, Any]:
    group, version, plural = EVENT_TRIGGERS
    return world.inventory.custom.get_cluster_custom_object(group, version, plural, name)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, sveltos: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    capi_ns, fleet_ns, consumer_label, consumers = fleet_namespaces(inv, run_id)
    markers = [f"SECRET-EVCAPI-{run_id}-{i}" for i in range(3)] + [f"SECRET-EVPROFILE-{run_id}-{i}" for i in range(2)]
    inv.capi_cluster(capi_ns, "alpha", {"clusterprofile-name": "alpha", "clusterprofile-namespace": fleet_ns},
                     kubeconfig_text("https://alpha.example:6443", markers[0]))
    inv.capi_cluster(capi_ns, "beta", {"clusterprofile-name": "beta"},
                     kubeconfig_text("https://beta.example:6443", markers[1]))
    inv.cluster_profile(fleet_ns, "east", [], labels={"env": "prod"}, display_name="East cluster")
    inv.secret(fleet_ns, "east-credentials", {"kubeconfig": kubeconfig_text("https://east.example:6443", markers[3])},
               labels={PROFILE_LABEL: "east"})
    tmp = tmp_path_factory.mktemp("events-sveltos")
    config: dict[str, object] = {
        "kubeconfig": str(control_plane.kubeconfig),
        "capiNamespaces": [capi_ns],
        "profileNamespaces": [fleet_ns],
        "consumerNamespaceLabel": consumer_label,
        "managedByValue": f"ci-{run_id}",
        "eventsNamePrefix": f"ev-{run_id}",
        "eventsNamespace": fleet_ns,
        "scheduleIntervalMinutes": 0,
        "pushMode": "events",
        "sveltosMode": "events",
        # The seeds' routes (SPEC §9), under which both modes are compared; what each route
        # keeps out is test_events_tenants.py's part.
        **SEED_ROUTES_CONFIG,
    }
    stack = ProjectStack(tmp / "project")
    stack.configure(**config)
    world = World(run_id, stack, inv, capi_ns, fleet_ns, consumer_label, consumers, config, tmp / "config.yaml",
                  markers)
    yield world
    stack.destroy()
    # Sveltos withdraws what it wrote once the EventTriggers are gone.
    wait_for(lambda: world.sveltos_objects() == {}, "Sveltos withdraws its objects after destroy", CONVERGE_TIMEOUT_S, interval=1)
    for ns in [capi_ns, fleet_ns, *consumers]:
        control_plane.delete_namespace(ns)


def test_events_mode_up_makes_sveltos_write_exactly_what_direct_mode_writes(world: World) -> None:
    world.stack.up()
    # 2 clusters x 2 consumers push Secrets; 1 SveltosCluster and its Secret.
    objects = _converge(world, expect_count=6)
    assert sum(key.startswith("SveltosCluster/") for key in objects) == 1


def test_second_up_changes_nothing_while_sveltos_runs(world: World) -> None:
    preview = world.stack.preview()
    assert set(preview.change_summary) <= {"same"}
    assert set(resource_changes(world.stack.up())) == {"same"}


def test_sveltos_leaves_the_declared_event_objects_untouched(world: World) -> None:
    for name in (f"{world.prefix}-push", f"{world.prefix}-sveltoscluster", f"{world.prefix}-sveltos-kubeconfig"):
        source, trigger = _event_source(world, name), _event_trigger(world, name)
        for obj in (source, trigger):
            assert OWNER_STAMP in (obj["metadata"].get("annotations") or {}), f"{obj['kind']} {name} lost its stamp"
            assert not obj["metadata"].get("ownerReferences"), f"{obj['kind']} {name} got an owner"


def test_no_credential_in_state_or_cli_output(world: World) -> None:
    state = world.stack.state_text()
    printed = "\n".join(world.stack.output)
    for marker in world.markers:
        assert marker not in state and marker not in printed


def test_new_consumer_namespace_cluster_and_cluster_profile_converge(world: World) -> None:
    # All three at once: each is a separate Sveltos event, and one wait covers them.
    extra = f"team-c-{world.run_id}"
    world.inventory.namespace(extra, {world.consumer_label: ""})
    world.consumers.append(extra)
    world.inventory.capi_cluster(world.capi_ns, "gamma", {"clusterprofile-name": "gamma"},
                                 kubeconfig_text("https://gamma.example:6443", world.markers[2]))
    world.inventory.cluster_profile(world.fleet_ns, "west", [])
    world.inventory.secret(world.fleet_ns, "west-credentials",
                           {"config": kubeconfig_text("https://west.example:6443", world.markers[4])},
                           labels={PROFILE_LABEL: "west"})
    # 3 clusters x 3 consumers push Secrets; 2 SveltosClusters and their Secrets.
    objects = _converge(world, expect_count=13)
    assert {k for k in objects if k.startswith(f"Secret/{extra}/")} == {
        f"Secret/{extra}/{world.fleet_ns}-alpha-kubeconfig", f"Secret/{extra}/default-beta-kubeconfig",
        f"Secret/{extra}/default-gamma-kubeconfig"}
    assert {f"Secret/{ns}/default-gamma-kubeconfig" for ns in world.consumers} <= set(objects)
    assert {f"SveltosCluster/{world.fleet_ns}/west", f"Secret/{world.fleet_ns}/west-sveltos-kubeconfig"} <= set(objects)


def test_withdrawn_consumer_namespace_deleted_cluster_and_cluster_profile_converge(world: World) -> None:
    extra = world.consumers.pop()
    world.inventory.core.patch_namespace(extra, {"metadata": {"labels": {world.consumer_label: None}}})
    group, version, plural = ("cluster.x-k8s.io", "v1beta1", "clusters")
    world.inventory.custom.delete_namespaced_custom_object(group, version, world.capi_ns, plural, "gamma")
    world.inventory.delete_cluster_profile(world.fleet_ns, "west")
    objects = _converge(world, expect_count=6)
    assert not any(k.startswith(f"Secret/{extra}/") or k.endswith("/default-gamma-kubeconfig") for k in objects)
    assert f"SveltosCluster/{world.fleet_ns}/west" not in objects


def test_kubeconfigs_never_pass_through_event_reports_or_instantiated_config_maps(world: World) -> None:
    # Targets name each kubeconfig Secret; addon-controller reads it when it deploys
    # (templateResourceRefs). So the reports' size does not grow with kubeconfigs.
    credentials = [value for ns in (world.capi_ns, world.fleet_ns)
                   for secret in world.inventory.core.list_namespaced_secret(ns).items
                   if secret.type == "cluster.x-k8s.io/secret" or PROFILE_LABEL in (secret.metadata.labels or {})
                   for value in (secret.data or {}).values()]
    assert len(credentials) >= 3
    for name, expected_targets in ((f"{world.prefix}-push", len(world.consumers) * 2),
                                   (f"{world.prefix}-sveltos-kubeconfig", 1)):
        group, version, plural = REPORTS
        report = world.inventory.custom.get_namespaced_custom_object(group, version, MGMT_NAMESPACE, plural,
                                                                     f"sveltos--{name}--mgmt")
        resources = base64.b64decode(report["spec"]["resources"]).decode()
        assert resources.count("SecretName") >= expected_targets, name
        instantiated = world.inventory.core.list_namespaced_config_map(
            INSTANTIATED_NAMESPACE, label_selector=f"{TRIGGER_LABEL}={name}").items
        assert len(instantiated) == expected_targets, name
        for text in (resources, *(json.dumps(cm.data) for cm in instantiated)):
            assert not any(value in text for value in credentials), name
            assert not any(marker in text for marker in world.markers), name


def test_rotated_kubeconfig_reaches_every_push_secret(world: World) -> None:
    # Nothing in the EventReport changes when a kubeconfig does: addon-controller, which
    # watches the Secrets its ClusterProfiles' templateResourceRefs name, redeploys.
    marker = f"SECRET-EVROTATED-{world.run_id}"
    world.markers.append(marker)
    rotated = base64.b64encode(kubeconfig_text("https://alpha.example:6443", marker).encode()).decode()
    world.inventory.core.patch_namespaced_secret("alpha-kubeconfig", world.capi_ns, {"data": {"value": rotated}})
    objects = _converge(world, expect_count=6)
    alpha = f"{world.fleet_ns}-alpha-kubeconfig"
    assert {k for k, v in objects.items() if k.endswith(f"/{alpha}")
            and v["data"]["config"] == _digest(rotated)} == {f"Secret/{ns}/{alpha}" for ns in world.consumers}


def test_deleting_an_event_trigger_never_deletes_its_event_source(world: World) -> None:
    name = f"{world.prefix}-push"
    group, version, plural = EVENT_TRIGGERS
    world.inventory.custom.delete_cluster_custom_object(group, version, plural, name)

    def trigger_gone() -> bool:
        try:
            _event_trigger(world, name)
        except ApiException as err:
            return err.status == 404
        return False

    wait_for(trigger_gone, f"EventTrigger {name} deleted", CONVERGE_TIMEOUT_S, interval=1)
    # Sveltos withdraws the push Secrets (the ClusterProfiles of the trigger go) ...
    wait_for(lambda: not any(k.startswith("Secret/team-") for k in world.sveltos_objects()),
              "push Secrets withdrawn", CONVERGE_TIMEOUT_S, interval=1)
    # ... and the garbage collector has had its chance: the EventSource stays.
    assert _event_source(world, name)["metadata"]["name"] == name
    # Sveltos' own ClusterProfiles of the old trigger finish going before the new trigger's
    # claim the same Secrets (addon-controller refuses a resource another profile still holds).
    wait_for(lambda: not world.inventory.custom.list_cluster_custom_object(
        *SVELTOS_PROFILES, label_selector=f"{TRIGGER_LABEL}={name}")["items"], "old ClusterProfiles gone", CONVERGE_TIMEOUT_S, interval=1)
    # The next run puts the EventTrigger back and Sveltos rewrites the Secrets.
    world.stack.stack.refresh(color="never")
    result = world.stack.up()
    assert resource_changes(result).get("create") == 1
    assert {"delete", "replace"}.isdisjoint(resource_changes(result))
    _converge(world, expect_count=6)
    assert set(resource_changes(world.stack.up())) == {"same"}
