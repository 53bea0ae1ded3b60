"""Switching features between direct and events mode with real Sveltos (event-manager,
addon-controller, and eventreporter standing in for sveltos-agent) and the real CLI: the
objects change writer without ever being deleted (same UIDs, no DELETED event on a watch
that runs across every step) and without two writers (after each switch completes, only
one of them writes).

direct -> events: the switching `up` keeps this stack's objects until Sveltos has written
each of them, the next `up` marks them retainOnDelete, the one after forgets them without
deleting them. events -> direct: this
stack takes them back and Sveltos, when its ClusterProfiles go, leaves them in place.
The steps share one stack and run in file order.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from tests.integration.controlplane import ControlPlane, cluster, wait_for
from tests.integration.inventory_objects import SVELTOS, Inventory, fleet_namespaces, kubeconfig_text
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import resource_changes
from tests.integration.watching import ObjectWatch

CONVERGE_TIMEOUT_S = 120
PROFILE_LABEL = "x-k8s.io/cluster-profile"
OWNER_KIND = "projectsveltos.io/owner-kind"
OWNER_NAME = "projectsveltos.io/owner-name"
SVELTOS_PROFILES = ("config.projectsveltos.io", "v1beta1", "clusterprofiles")
TRIGGER_LABEL = "eventtrigger.lib.projectsveltos.io/eventtriggername"
# 2 CAPI clusters x 2 consumer namespaces push Secrets, a SveltosCluster and its Secret.
OBJECTS = 6


@dataclass
class Switching:
    run_id: str
    stack: ProjectStack
    inventory: Inventory
    fleet_ns: str
    uids: dict[str, str]  # every object's UID when direct mode first wrote it
    secrets: ObjectWatch
    sveltos_clusters: ObjectWatch

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/managed-by=ci-{self.run_id}"

    def objects(self) -> dict[str, dict[str, Any]]:
        """Every managed Secret and SveltosCluster by ``Kind/namespace/name``, as the API server has it."""
        found = {}
        for secret in self.inventory.core.list_secret_for_all_namespaces(label_selector=self.selector).items:
            found[f"Secret/{secret.metadata.namespace}/{secret.metadata.name}"] = {
                "uid": secret.metadata.uid, "resourceVersion": secret.metadata.resource_version,
                "annotations": secret.metadata.annotations or {}}
        group, version, plural = SVELTOS
        for item in self.inventory.custom.list_cluster_custom_object(group, version, plural,
                                                                     label_selector=self.selector)["items"]:
            meta = item["metadata"]
            found[f"SveltosCluster/{meta['namespace']}/{meta['name']}"] = {
                "uid": meta["uid"], "resourceVersion": meta["resourceVersion"],
                "annotations": meta.get("annotations") or {}}
        return found

    def switch_to(self, mode: str) -> auto.UpResult:
        self.stack.configure(pushMode=mode, sveltosMode=mode)
        return self.stack.up()

    def owned_by_sveltos(self) -> bool:
        objects = self.objects()
        return len(objects) == OBJECTS and all(o["annotations"].get(OWNER_KIND) == "ClusterProfile"
                                               for o in objects.values())

    def sveltos_profiles(self) -> list[dict[str, Any]]:
        return [p for p in self.inventory.custom.list_cluster_custom_object(*SVELTOS_PROFILES)["items"]
                if (p["metadata"].get("labels") or {}).get(TRIGGER_LABEL, "").startswith(f"ev-{self.run_id}")]

    def deleted(self) -> set[str]:
        return self.secrets.of("DELETED") | self.sveltos_clusters.of("DELETED")


def _quiet(world: Switching, seconds: float) -> dict[str, str]:
    """Resource versions of every object after ``seconds`` in which none of them may change."""
    before = {k: v["resourceVersion"] for k, v in world.objects().items()}
    time.sleep(seconds)
    after = {k: v["resourceVersion"] for k, v in world.objects().items()}
    assert after == before, f"objects written while nothing should write them: {set(after.items()) ^ set(before.items())}"
    return after


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, sveltos: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Switching]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    capi_ns, fleet_ns, consumer_label, consumers = fleet_namespaces(inv, run_id)
    inv.capi_cluster(capi_ns, "alpha", {"clusterprofile-name": "alpha", "clusterprofile-namespace": fleet_ns},
                     kubeconfig_text("https://alpha.example:6443", f"SECRET-HOCAPI-{run_id}-0"))
    inv.capi_cluster(capi_ns, "beta", {"clusterprofile-name": "beta"},
                     kubeconfig_text("https://beta.example:6443", f"SECRET-HOCAPI-{run_id}-1"))
    inv.cluster_profile(fleet_ns, "east", [])
    inv.secret(fleet_ns, "east-credentials",
               {"kubeconfig": kubeconfig_text("https://east.example:6443", f"SECRET-HOPROFILE-{run_id}")},
               labels={PROFILE_LABEL: "east"})
    stack = ProjectStack(Path(tmp_path_factory.mktemp("handover")) / "project")
    stack.configure(kubeconfig=str(control_plane.kubeconfig), capiNamespaces=[capi_ns], profileNamespaces=[fleet_ns],
                    consumerNamespaceLabel=consumer_label, managedByValue=f"ci-{run_id}",
                    eventsNamePrefix=f"ev-{run_id}", eventsNamespace=fleet_ns, scheduleIntervalMinutes=0,
                    pushMode="direct", sveltosMode="direct")
    stack.up()
    selector = f"app.kubernetes.io/managed-by=ci-{run_id}"
    group, version, plural = SVELTOS
    with (ObjectWatch(inv.core.list_secret_for_all_namespaces, selector) as secrets,
          ObjectWatch(lambda **kw: inv.custom.list_cluster_custom_object(group, version, plural, **kw),
                      selector) as sveltos_clusters):
        world = Switching(run_id, stack, inv, fleet_ns, {}, secrets, sveltos_clusters)
        world.uids.update({k: v["uid"] for k, v in world.objects().items()})
        assert len(world.uids) == OBJECTS
        yield world
    stack.destroy()
    wait_for(lambda: not world.objects(), "every object gone after destroy", CONVERGE_TIMEOUT_S, interval=1)
    for ns in [capi_ns, fleet_ns, *consumers]:
        control_plane.delete_namespace(ns)


def test_without_sveltos_the_switching_up_stops_at_its_timeout_and_loses_nothing(world: Switching) -> None:
    cluster("sveltos-down").check_returncode()
    try:
        world.stack.configure(handOverTimeoutSeconds=5)
        with pytest.raises(auto.CommandError) as failed:
            world.switch_to("events")
        message = str(failed.value)
        assert "handOverTimeoutSeconds" in message
        assert f"Secret/{world.fleet_ns}/east-sveltos-kubeconfig" in message
        assert {k: v["uid"] for k, v in world.objects().items()} == world.uids
        assert world.deleted() == set()
    finally:
        world.stack.configure(handOverTimeoutSeconds=None)
        cluster("sveltos-up").check_returncode()


def test_the_next_up_resumes_the_hand_over_and_waits_until_sveltos_has_written_every_object(
        world: Switching) -> None:
    result = world.switch_to("events")
    assert {"delete", "replace"}.isdisjoint(resource_changes(result)), result.stdout
    # The `up` ends only once Sveltos owns each object: no later check needs to wait.
    assert world.owned_by_sveltos()
    assert {k: v["uid"] for k, v in world.objects().items()} == world.uids
    assert sorted(result.outputs["handingOver"].value) == sorted(world.uids)
    assert world.deleted() == set()


def test_the_next_run_marks_what_sveltos_has_written_to_be_retained(world: Switching) -> None:
    result = world.stack.up()
    assert set(resource_changes(result)) == {"same", "update"} and resource_changes(result)["update"] == OBJECTS
    assert sorted(result.outputs["handedOver"].value) == sorted(world.uids)
    assert result.outputs["handingOver"].value == []
    # The wait is over: server-side apply takes this stack's waitFor off again.
    assert all("pulumi.com/waitFor" not in o["annotations"] for o in world.objects().values())
    assert world.owned_by_sveltos()
    assert world.deleted() == set()


def test_the_next_run_forgets_the_handed_over_objects_without_deleting_them(world: Switching) -> None:
    result = world.stack.up()
    assert resource_changes(result).get("delete") == OBJECTS  # Pulumi's word for forgetting a retained resource
    assert not (world.stack.managed_resources() & set(world.uids))
    assert result.outputs["handedOver"].value == []
    assert {k: v["uid"] for k, v in world.objects().items()} == world.uids
    assert world.owned_by_sveltos()
    assert world.deleted() == set()


def test_after_the_hand_over_only_sveltos_writes_the_objects(world: Switching) -> None:
    versions = _quiet(world, 3)
    assert set(resource_changes(world.stack.preview())) == {"same"}
    assert set(resource_changes(world.stack.up())) == {"same"}
    assert {k: v["resourceVersion"] for k, v in world.objects().items()} == versions


def test_switching_back_to_direct_takes_the_objects_back_and_sveltos_leaves_them(world: Switching) -> None:
    result = world.switch_to("direct")
    assert resource_changes(result).get("create") == OBJECTS  # taken back into the stack (adopted), not re-created
    stack_name = f"organization/cluster-inventory/{world.stack.name}"
    for name, obj in world.objects().items():
        assert (obj["annotations"].get(OWNER_KIND), obj["annotations"].get(OWNER_NAME)) == (
            "PulumiStack", stack_name), name
    # Sveltos' ClusterProfiles go with the EventTriggers; what they deployed stays.
    wait_for(lambda: not world.sveltos_profiles(), "Sveltos' ClusterProfiles gone", CONVERGE_TIMEOUT_S, interval=1)
    _quiet(world, 5)
    assert {k: v["uid"] for k, v in world.objects().items()} == world.uids
    assert world.deleted() == set()


def test_the_next_direct_run_drops_the_claim_and_changes_nothing_else(world: Switching) -> None:
    result = world.stack.up()
    assert {"create", "delete", "replace"}.isdisjoint(resource_changes(result))
    for name, obj in world.objects().items():
        assert not {OWNER_KIND, OWNER_NAME, "pulumi.com/waitFor"} & set(obj["annotations"]), name
    assert set(resource_changes(world.stack.preview())) == {"same"}
    assert {k: v["uid"] for k, v in world.objects().items()} == world.uids
    assert world.deleted() == set()


def test_no_credential_in_state_or_cli_output(world: Switching) -> None:
    state = world.stack.state_text()
    printed = "\n".join(world.stack.output)
    assert "SECRET-HO" not in state and "SECRET-HO" not in printed
