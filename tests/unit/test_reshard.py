"""`python -m inventory reshard` (docs/sizing.md, Changing shardCount): which objects move where,
how a stack's state is settled for its next run, and the guard that stops a shard stack whose
config changed before its state moved."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from inventory.settings import Settings, ShardAssignment
from inventory.stack.guards import GuardError, PreviousRun, check_shard_layout, shard_layout
from inventory.stack.reshard.fleet import new_assignment, stack_names
from inventory.stack.reshard.moves import COMPONENT_TYPE, Held, ReshardError, batches, held_objects, plan_moves
from inventory.stack.reshard.settle import layouts, settle

ROOT = "urn:pulumi:prod-2::cluster-inventory::pulumi:pulumi:Stack::cluster-inventory-prod-2"
PROVIDER = "urn:pulumi:prod-2::cluster-inventory::pulumi:providers:kubernetes::management-cluster"


def _held(*names: str) -> dict[str, Held]:
    return {name: Held(f"urn:x::{name}", name, "v1 Secret Opaque") for name in names}


def test_objects_move_to_the_stack_that_declares_them_and_only_those() -> None:
    held = {"prod-0": _held("Secret/a/x", "Secret/a/y"), "prod-1": _held("Secret/a/z")}
    owner = {"Secret/a/x": "prod-0", "Secret/a/y": "prod-2", "Secret/a/z": "prod-1"}
    moves = plan_moves(held, owner, ["prod-0", "prod-1", "prod-2"])
    assert [(m.source, m.dest, [o.name for o in m.objects]) for m in moves] == [("prod-0", "prod-2", ["Secret/a/y"])]


def test_an_object_no_stack_declares_stays_unless_its_stack_leaves() -> None:
    held = {"prod-0": _held("Secret/a/gone"), "prod-1": _held("Secret/a/x"), "prod-2": _held("Secret/a/left")}
    moves = plan_moves(held, {"Secret/a/x": "prod-1"}, ["prod-0", "prod-1"])
    # prod-2 leaves the fleet: what it held goes to prod-0, whose next run deletes it (counted by its cap).
    assert [(m.source, m.dest, [o.name for o in m.objects]) for m in moves] == [("prod-2", "prod-0", ["Secret/a/left"])]


def test_an_object_in_two_stacks_stops_the_reshard_and_says_how_to_fix_it() -> None:
    with pytest.raises(ReshardError, match="Secret/a/x \\(prod-0, prod-1\\).*pulumi state delete"):
        plan_moves({"prod-0": _held("Secret/a/x"), "prod-1": _held("Secret/a/x")}, {}, ["prod-0", "prod-1"])


def test_batches_keep_each_state_move_command_line_short() -> None:
    objects = [Held("u" * 40, f"n{i}", "s") for i in range(10)]
    runs = list(batches(objects, limit=100))
    assert [len(run) for run in runs] == [2, 2, 2, 2, 2] and [o for run in runs for o in run] == objects


def _moved_deployment() -> dict[str, Any]:
    """A new stack as `pulumi state move` leaves it: the objects under the root stack."""
    return {"resources": [
        {"urn": ROOT, "type": "pulumi:pulumi:Stack", "custom": False},
        {"urn": PROVIDER, "type": "pulumi:providers:kubernetes", "custom": True, "id": "p1", "parent": ROOT},
        {"urn": "urn:pulumi:prod-2::cluster-inventory::kubernetes:core/v1:Secret::Secret/a/x",
         "type": "kubernetes:core/v1:Secret", "custom": True, "parent": ROOT, "provider": f"{PROVIDER}::p1",
         "inputs": {"apiVersion": "v1", "kind": "Secret", "type": "Opaque"}},
        {"urn": "urn:pulumi:prod-2::cluster-inventory::kubernetes:lib.projectsveltos.io/v1beta1:SveltosCluster::"
                "SveltosCluster/f/p", "type": "kubernetes:lib.projectsveltos.io/v1beta1:SveltosCluster",
         "custom": True, "parent": ROOT, "inputs": {"apiVersion": "lib.projectsveltos.io/v1beta1",
                                                    "kind": "SveltosCluster"}},
    ]}


def test_settling_puts_moved_objects_under_the_component_the_program_declares() -> None:
    settled = settle(_moved_deployment(), shard_layout(3, 2, ShardAssignment.RENDEZVOUS), {})
    component = f"urn:pulumi:prod-2::cluster-inventory::{COMPONENT_TYPE}::inventory"
    resources = settled["resources"]
    assert [r["urn"] for r in resources] == [
        ROOT, component, PROVIDER,
        f"urn:pulumi:prod-2::cluster-inventory::{COMPONENT_TYPE}$kubernetes:core/v1:Secret::Secret/a/x",
        (f"urn:pulumi:prod-2::cluster-inventory::{COMPONENT_TYPE}$kubernetes:lib.projectsveltos.io/v1beta1:"
         f"SveltosCluster::SveltosCluster/f/p")]
    assert resources[1]["parent"] == ROOT and all(r["parent"] == component for r in resources[3:])
    assert resources[3]["provider"] == f"{PROVIDER}::p1"  # state move already chose the stack's own provider


def test_settling_keeps_each_moved_objects_source_namespace_for_the_deletion_caps() -> None:
    sources = {"Secret/a/x": "capi-a", "SveltosCluster/f/p": "f", "Secret/elsewhere/z": "capi-z"}
    settled = settle(_moved_deployment(), shard_layout(3, 2, ShardAssignment.RENDEZVOUS), {}, sources=sources)
    previous = PreviousRun.from_outputs(settled["resources"][0]["outputs"])
    assert previous.sources == {"Secret/a/x": "capi-a", "SveltosCluster/f/p": "f"}


def test_settling_records_what_the_state_holds_in_the_outputs_the_guards_read() -> None:
    defaults = {"modes": {"push": "direct"}, "managementCluster": "uid-1"}
    settled = settle(_moved_deployment(), shard_layout(3, 2, ShardAssignment.RENDEZVOUS), defaults,
                     {"v1 Secret Opaque": ["Secret/a/gone"]})
    outputs = settled["resources"][0]["outputs"]
    previous = PreviousRun.from_outputs(outputs)
    assert previous.objects == {"Secret/a/x": "v1 Secret Opaque",
                                "SveltosCluster/f/p": "lib.projectsveltos.io/v1beta1 SveltosCluster"}
    assert previous.cluster == "uid-1" and previous.modes == {"push": "direct"}
    assert previous.pending == {"Secret/a/gone": "v1 Secret Opaque"}
    assert previous.shards == {"count": 3, "index": 2, "assignment": "rendezvous"}


def test_settling_twice_changes_nothing_more() -> None:
    once = settle(_moved_deployment(), shard_layout(3, 2, ShardAssignment.RENDEZVOUS), {})
    assert settle(copy.deepcopy(once), shard_layout(3, 2, ShardAssignment.RENDEZVOUS), {}) == once


def test_held_objects_are_the_kubernetes_objects_with_their_deployed_shape() -> None:
    held = held_objects(_moved_deployment())
    assert sorted(held) == ["Secret/a/x", "SveltosCluster/f/p"] and held["Secret/a/x"].shape == "v1 Secret Opaque"


def _config(tmp_path: Path, stack: str, **values: object) -> None:
    (tmp_path / "stacks").mkdir(exist_ok=True)
    config = {f"cluster-inventory:{k}": v for k, v in values.items()}
    (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


def test_the_new_stacks_config_must_name_the_new_layout(tmp_path: Path) -> None:
    _config(tmp_path, "prod-0", shardCount=3, shardIndex=0)
    _config(tmp_path, "prod-1", shardCount=2, shardIndex=1)
    with pytest.raises(ReshardError, match="Pulumi.prod-1.yaml says shardCount 2, shardIndex 1; set shardCount 3, "
                                           "shardIndex 1\nno stacks/Pulumi.prod-2.yaml: create it"):
        new_assignment(tmp_path, ["prod-0", "prod-1", "prod-2"], 3)
    _config(tmp_path, "prod-1", shardCount=3, shardIndex=1, shardAssignment="modulo")
    _config(tmp_path, "prod-2", shardCount=3, shardIndex=2)
    with pytest.raises(ReshardError, match="different shardAssignments \\(modulo, rendezvous\\)"):
        new_assignment(tmp_path, ["prod-0", "prod-1", "prod-2"], 3)
    _config(tmp_path, "prod-1", shardCount=3, shardIndex=1)
    assert new_assignment(tmp_path, ["prod-0", "prod-1", "prod-2"], 3) is ShardAssignment.RENDEZVOUS


PREVIOUS = {"managedObjects": {"v1 Secret Opaque": ["Secret/a/x"]}}


def test_a_shard_stack_whose_count_changed_before_its_state_moved_stops_and_names_the_command() -> None:
    previous = PreviousRun.from_outputs({**PREVIOUS, "shards": {"count": 2.0, "index": 0.0, "assignment": "rendezvous"}})
    with pytest.raises(GuardError, match="last declared shard 0 of 2 \\(rendezvous\\); its config now says shard 0 "
                                         "of 3.*`python -m inventory reshard --stack-prefix prod- --from-count 2 "
                                         "--to-count 3`"):
        check_shard_layout(previous, Settings(shard_count=3), "prod-0")
    check_shard_layout(previous, Settings(shard_count=2), "prod-0")


def test_a_stack_that_left_the_fleet_stops_whatever_its_config() -> None:
    previous = PreviousRun.from_outputs({"managedObjects": {}, "shards": {"count": 2, "index": None}})
    with pytest.raises(GuardError, match="no shard"):
        check_shard_layout(previous, Settings(shard_count=3, shard_index=2), "prod-2")


def test_a_stack_sharded_by_an_earlier_version_keeps_modulo_or_stops() -> None:
    legacy = PreviousRun.from_outputs(PREVIOUS)  # no recorded layout: SHA-256 mod N
    check_shard_layout(legacy, Settings(shard_count=2, shard_assignment=ShardAssignment.MODULO), "prod-0")
    check_shard_layout(legacy, Settings(), "prod")  # one stack: nothing to move
    with pytest.raises(GuardError, match="shardAssignment modulo.*--from-count 2 --to-count 2"):
        check_shard_layout(legacy, Settings(shard_count=2), "prod-0")


def test_a_new_stack_has_no_layout_to_keep() -> None:
    check_shard_layout(PreviousRun(), Settings(shard_count=3, shard_index=1), "prod-1")


def test_an_unsharded_stack_that_becomes_sharded_is_told_to_move_by_stack_names() -> None:
    previous = PreviousRun.from_outputs({**PREVIOUS, "shards": {"count": 1, "index": 0}})
    with pytest.raises(GuardError, match="the whole fleet \\(shardCount 1\\).*`python -m inventory reshard "
                                         "--from-stacks prod --to-stacks <the 3 shard stacks, in shardIndex order>`"):
        check_shard_layout(previous, Settings(shard_count=3), "prod")


def test_the_stacks_are_named_by_prefix_and_count_or_one_by_one() -> None:
    assert stack_names("prod-", 3, None, "to") == ["prod-0", "prod-1", "prod-2"]
    assert stack_names("prod-", 3, "prod", "from") == ["prod"]
    with pytest.raises(ReshardError, match="--stack-prefix with --from-count, or --from-stacks"):
        stack_names(None, 2, None, "from")
    with pytest.raises(ReshardError, match="each once"):
        stack_names(None, None, "a,a", "to")


def test_a_stack_that_leaves_records_no_shard_and_the_others_their_new_one() -> None:
    assert layouts(["prod"], ["prod-0", "prod-1"], ShardAssignment.RENDEZVOUS) == {
        "prod": {"count": 2, "index": None, "assignment": "rendezvous"},
        "prod-0": {"count": 2, "index": 0, "assignment": "rendezvous"},
        "prod-1": {"count": 2, "index": 1, "assignment": "rendezvous"}}




def test_the_component_keeps_the_type_token_every_stack_holds_and_reshard_names() -> None:
    # The type is part of every child's URN: another one would replace everything a stack holds.
    from inventory.stack import program
    from inventory.stack.component import ClusterInventory
    from inventory.stack.reshard.moves import COMPONENT_NAME, COMPONENT_TYPE

    assert ClusterInventory.TYPE == COMPONENT_TYPE == "cluster-inventory:index:Inventory"
    assert program.COMPONENT_NAME == COMPONENT_NAME
