"""A fleet split across two stacks with the real CLI (docs/sizing.md): together they write
exactly what one unsharded stack would, each object once, each stamped by its own stack, and
neither takes the other's objects for an adoption."""

from __future__ import annotations

import uuid
from pathlib import Path

from inventory.model.diagnostics import ObjectRef
from inventory.plan.shards import shard_of
from inventory.stack.adoption import OWNER_ANNOTATION
from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import Inventory, kubeconfig_text, secret_reader_provider
from tests.integration.project import ProjectStack

CLUSTERS = 8


def test_two_shard_stacks_write_the_fleet_once_between_them(control_plane: ControlPlane, tmp_path: Path) -> None:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    capi, fleet, consumer, label = f"capi-{run_id}", f"fleet-{run_id}", f"team-{run_id}", f"consumer-{run_id}"
    inv.namespace(capi)
    inv.namespace(fleet)
    inv.namespace(consumer, {label: ""})
    for i in range(CLUSTERS):
        inv.capi_cluster(capi, f"c{i}", {"clusterprofile-name": f"c{i}"}, kubeconfig_text("https://c.example", f"T{i}"))
    inv.secret(fleet, "src", {"kubeconfig": kubeconfig_text("https://p.example", "P")})
    for i in range(2):
        inv.cluster_profile(fleet, f"p{i}", [secret_reader_provider("https://p.example", "src", "kubeconfig")])
    config = {"kubeconfig": str(control_plane.kubeconfig), "capiNamespaces": [capi], "profileNamespaces": [fleet],
              "consumerNamespaceLabel": label, "managedByValue": f"ci-{run_id}", "scheduleIntervalMinutes": 0}
    stacks = []
    try:
        for index in range(2):
            stack = ProjectStack(tmp_path / f"shard-{index}", name=f"shard-{index}")
            stack.configure(**config, shardCount=2, shardIndex=index)
            stack.up()
            stacks.append(stack)
        declared = [stack.managed_resources() for stack in stacks]
        assert declared[0].isdisjoint(declared[1])
        expected = {f"Secret/{consumer}/default-c{i}-kubeconfig" for i in range(CLUSTERS)}
        expected |= {f"Secret/{fleet}/p{i}-sveltos-kubeconfig" for i in range(2)}
        expected |= {f"SveltosCluster/{fleet}/p{i}" for i in range(2)}
        assert declared[0] | declared[1] == expected
        for i in range(CLUSTERS):
            owner = shard_of(ObjectRef("Cluster", capi, f"c{i}"), 2)
            assert f"Secret/{consumer}/default-c{i}-kubeconfig" in declared[owner]
            secret = inv.core.read_namespaced_secret(f"default-c{i}-kubeconfig", consumer)
            assert secret.metadata.annotations[OWNER_ANNOTATION].endswith(f"/shard-{owner}")
        for stack in stacks:  # a second run of each shard changes nothing
            assert set(stack.preview().change_summary) <= {"same"}
    finally:
        for stack in stacks:
            stack.destroy()
        for ns in (capi, fleet, consumer):
            control_plane.delete_namespace(ns)
