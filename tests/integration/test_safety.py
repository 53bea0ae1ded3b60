"""SPEC §4 safety and adoption on the real local cluster with the real CLI."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from inventory.stack.adoption import OWNER_ANNOTATION
from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import (
    SVELTOS,
    Inventory,
    kubeconfig_text,
    secret_reader_provider,
)
from tests.integration.project import ProjectStack


@pytest.fixture
def small_inventory(control_plane: ControlPlane) -> Iterator[dict[str, str]]:
    """One CAPI Cluster, two consumer namespaces, one ClusterProfile: five managed objects."""
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    names = {"id": run_id, "capi": f"capi-{run_id}", "fleet": f"fleet-{run_id}", "label": f"consumer-{run_id}",
             "empty": f"empty-{run_id}"}
    for ns in (names["capi"], names["fleet"], names["empty"]):
        inv.namespace(ns)
    consumers = [f"c1-{run_id}", f"c2-{run_id}"]
    for ns in consumers:
        inv.namespace(ns, {names["label"]: ""})
    inv.capi_cluster(names["capi"], "one", {"clusterprofile-name": "one"}, kubeconfig_text("https://one:6443", "t1"))
    inv.secret(names["fleet"], "src", {"kubeconfig": kubeconfig_text("https://p:6443", "t2")})
    inv.cluster_profile(names["fleet"], "prof", [secret_reader_provider("https://p:6443", "src", "kubeconfig")])
    yield names
    for ns in (names["capi"], names["fleet"], names["empty"], *consumers):
        control_plane.delete_namespace(ns)


def _stack(tmp_path: Path, control_plane: ControlPlane, names: dict[str, str], **extra: object) -> ProjectStack:
    stack = ProjectStack(tmp_path / "project")
    stack.configure(kubeconfig=str(control_plane.kubeconfig), capiNamespaces=[names["capi"]],
                    profileNamespaces=[names["fleet"]], consumerNamespaceLabel=names["label"],
                    managedByValue=f"ci-{names['id']}", scheduleIntervalMinutes=0, **extra)
    return stack


def _managed(control_plane: ControlPlane, names: dict[str, str]) -> set[str]:
    inv = Inventory(control_plane.api)
    selector = f"app.kubernetes.io/managed-by=ci-{names['id']}"
    return inv.secret_names(selector) | inv.custom_names(SVELTOS, selector=selector)


def test_failed_inventory_read_fails_the_run_before_anything_is_deleted(
    control_plane: ControlPlane, small_inventory: dict[str, str], tmp_path: Path
) -> None:
    stack = _stack(tmp_path, control_plane, small_inventory)
    stack.up()
    before = _managed(control_plane, small_inventory)
    assert len(before) == 4
    unreachable = tmp_path / "unreachable.kubeconfig"
    unreachable.write_text(kubeconfig_text("https://127.0.0.1:1", "nobody"))
    stack.configure(kubeconfig=str(unreachable))
    with pytest.raises(auto.CommandError) as failure:
        stack.up()
    assert "127.0.0.1:1" in str(failure.value)
    assert _managed(control_plane, small_inventory) == before
    stack.configure(kubeconfig=str(control_plane.kubeconfig))
    stack.destroy()


def test_a_run_that_would_empty_the_stack_holds_back_every_deletion_unless_allowed(
    control_plane: ControlPlane, small_inventory: dict[str, str], tmp_path: Path
) -> None:
    """Each source namespace within maxDeletions, the run as a whole removing everything: the shape of
    an inventory that reads empty or a config that selects nothing. Held back, the run exits 0."""
    stack = _stack(tmp_path, control_plane, small_inventory, maxDeletions=2)
    stack.up()
    before = _managed(control_plane, small_inventory)
    stack.configure(capiNamespaces=[small_inventory["empty"]], profileNamespaces=[small_inventory["empty"]])
    stack.up()
    held = stack.stack.outputs()["heldBackDeletions"].value
    assert held == {small_inventory["capi"]: 2, small_inventory["fleet"]: 2}
    assert "this run would delete 4 of the 4 objects the stack manages" in "\n".join(stack.output)
    assert _managed(control_plane, small_inventory) == before
    stack.configure(allowMassDeletion=True)
    stack.up()
    assert _managed(control_plane, small_inventory) == set()


def _objects(control_plane: ControlPlane, fleet: str) -> dict[str, tuple[str, str]]:
    inv = Inventory(control_plane.api)
    group, version, plural = SVELTOS
    secret = inv.core.read_namespaced_secret("prof-sveltos-kubeconfig", fleet).metadata
    cluster = inv.custom.get_namespaced_custom_object(group, version, fleet, plural, "prof")["metadata"]
    return {"Secret": (secret.uid, secret.resource_version), "SveltosCluster": (cluster["uid"], cluster["resourceVersion"])}


def test_existing_objects_are_not_taken_over_without_adopt_existing(
    control_plane: ControlPlane, small_inventory: dict[str, str], tmp_path: Path
) -> None:
    # What clusterinventory-controller would have left for ClusterProfile prof.
    inv = Inventory(control_plane.api)
    fleet = small_inventory["fleet"]
    controller = {"clusterinventory.projectsveltos.io/managed-by": "clusterinventory-controller"}
    inv.secret(fleet, "prof-sveltos-kubeconfig", {"kubeconfig": "old"}, labels=controller)
    group, version, plural = SVELTOS
    inv.custom.create_namespaced_custom_object(group, version, fleet, plural, {
        "apiVersion": f"{group}/{version}", "kind": "SveltosCluster",
        "metadata": {"name": "prof", "namespace": fleet, "labels": controller},
        "spec": {"kubeconfigName": "prof-sveltos-kubeconfig", "kubeconfigKeyName": "kubeconfig"}})
    before = _objects(control_plane, fleet)
    stack = _stack(tmp_path, control_plane, small_inventory)
    stack.up()  # the profile's two objects are skipped; the Cluster's push Secrets are written
    assert _objects(control_plane, fleet) == before
    skipped = "\n".join(stack.stack.outputs()["skipped"].value)
    assert f"ClusterProfile {fleet}/prof: Secret {fleet}/prof-sveltos-kubeconfig not declared: the name is taken" \
        in skipped and "adoptExisting" in skipped
    assert len(_managed(control_plane, small_inventory)) == 2  # the two push Secrets
    stack.configure(adoptExisting=True)
    stack.up()
    secret = inv.core.read_namespaced_secret("prof-sveltos-kubeconfig", fleet)
    assert secret.metadata.uid == before["Secret"][0]
    assert secret.metadata.labels["app.kubernetes.io/managed-by"] == f"ci-{small_inventory['id']}"
    assert json.loads(base64.b64decode(secret.data["kubeconfig"]))["users"][0]["user"]["token"] == "t2"
    stack.destroy()


def test_objects_stamped_with_this_stack_need_no_adoption_but_another_stacks_do(
    control_plane: ControlPlane, small_inventory: dict[str, str], tmp_path: Path
) -> None:
    """Own stamp: e.g. written by a first run that failed before it recorded its outputs."""
    inv = Inventory(control_plane.api)
    fleet = small_inventory["fleet"]
    ours = {"app.kubernetes.io/managed-by": f"ci-{small_inventory['id']}"}
    inv.secret(fleet, "prof-sveltos-kubeconfig", {"kubeconfig": "stale"}, labels=ours,
               annotations={OWNER_ANNOTATION: "organization/cluster-inventory/other"})
    stack = _stack(tmp_path, control_plane, small_inventory)
    stack.up()  # same managed-by label, but another stack's object: skipped
    assert "stamped by stack organization/cluster-inventory/other" in "\n".join(stack.stack.outputs()["skipped"].value)
    secret = inv.core.read_namespaced_secret("prof-sveltos-kubeconfig", fleet)
    assert base64.b64decode(secret.data["kubeconfig"]) == b"stale"
    inv.core.patch_namespaced_secret("prof-sveltos-kubeconfig", fleet, {
        "metadata": {"annotations": {OWNER_ANNOTATION: "organization/cluster-inventory/test"}}})
    stack.up()
    secret = inv.core.read_namespaced_secret("prof-sveltos-kubeconfig", fleet)
    assert json.loads(base64.b64decode(secret.data["kubeconfig"]))["users"][0]["user"]["token"] == "t2"
    stack.destroy()
