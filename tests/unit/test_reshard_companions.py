"""`python -m inventory reshard` with feature E: a ClusterProfile's status (a resource of its own,
whatever its type and provider) moves with its profile, is settled under the component like it,
and an object a killed move left in two stacks stays only in the one that declares it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from inventory.settings import ShardAssignment
from inventory.stack.guards import RESHARDING_OUTPUT, shard_layout
from inventory.stack.reshard.moves import (
    COMPONENT_TYPE,
    Held,
    ReshardError,
    batches,
    classify,
    plan_moves,
    resolve_duplicates,
    unmovable_message,
)
from inventory.stack.reshard.settle import mark, nested_providers, settle

STACK = "urn:pulumi:prod-2::cluster-inventory::"
ROOT = f"{STACK}pulumi:pulumi:Stack::cluster-inventory-prod-2"
COMPONENT = f"{STACK}{COMPONENT_TYPE}::inventory"
KUBE = f"{STACK}pulumi:providers:kubernetes::management-cluster"
PROFILE_TYPE = "kubernetes:multicluster.x-k8s.io/v1alpha1:ClusterProfile"
# Today a Python dynamic resource; a provider of the project's own is on its way: both must move.
STATUS_TYPES = ("pulumi-python:dynamic:Resource", "clusterinventory:index:ClusterProfileStatus")
LAYOUT = shard_layout(3, 2, ShardAssignment.RENDEZVOUS)


def _profile(urn: str, parent: str) -> dict[str, Any]:
    return {"urn": urn, "type": PROFILE_TYPE, "custom": True, "id": "f/p", "parent": parent,
            "provider": f"{KUBE}::k1", "inputs": {"apiVersion": "multicluster.x-k8s.io/v1alpha1",
                                                  "kind": "ClusterProfile"}}


def _status(status_type: str, urn: str, parent: str, profile: str, provider: str) -> dict[str, Any]:
    return {"urn": urn, "type": status_type, "custom": True, "id": "f/p", "parent": parent,
            "provider": f"{provider}::d1", "dependencies": [profile], "inputs": {"name": "p"}}


def _deployed(status_type: str) -> dict[str, Any]:
    """A shard stack as the program leaves it: the profile and its status under the component."""
    profile = f"{STACK}{COMPONENT_TYPE}${PROFILE_TYPE}::ClusterProfile/f/p"
    provider = f"{STACK}pulumi:providers:{status_type.split(':')[0]}::default"
    return {"resources": [
        {"urn": ROOT, "type": "pulumi:pulumi:Stack", "custom": False},
        {"urn": KUBE, "type": "pulumi:providers:kubernetes", "custom": True, "id": "k1", "parent": ROOT},
        {"urn": COMPONENT, "type": COMPONENT_TYPE, "custom": False, "parent": ROOT},
        _profile(profile, COMPONENT),
        {"urn": provider, "type": provider.split("::")[-2], "custom": True, "id": "d1", "parent": ROOT},
        _status(status_type, f"{STACK}{COMPONENT_TYPE}${status_type}::ClusterProfile/f/p/status", COMPONENT,
                profile, provider),
    ]}


def _moved(status_type: str) -> dict[str, Any]:
    """A new stack as `pulumi state move` leaves it: profile, status and the status's provider under the root."""
    profile = f"{STACK}{PROFILE_TYPE}::ClusterProfile/f/p"
    provider = f"{STACK}pulumi:providers:{status_type.split(':')[0]}::default"
    return {"resources": [
        {"urn": ROOT, "type": "pulumi:pulumi:Stack", "custom": False},
        {"urn": KUBE, "type": "pulumi:providers:kubernetes", "custom": True, "id": "k1", "parent": ROOT},
        {"urn": provider, "type": provider.split("::")[-2], "custom": True, "id": "d1", "parent": ROOT},
        _profile(profile, ROOT),
        _status(status_type, f"{STACK}{status_type}::ClusterProfile/f/p/status", ROOT, profile, provider),
    ]}


@pytest.mark.parametrize("status_type", STATUS_TYPES)
def test_a_profiles_status_belongs_to_it_whatever_its_type(status_type: str) -> None:
    held, unmovable = classify(_deployed(status_type))
    assert unmovable == []
    assert held["ClusterProfile/f/p"].companions == (
        f"{STACK}{COMPONENT_TYPE}${status_type}::ClusterProfile/f/p/status",)
    assert held["ClusterProfile/f/p"].urns[0].endswith("::ClusterProfile/f/p")


def test_a_resource_named_otherwise_belongs_to_the_one_object_it_depends_on() -> None:
    deployment = _deployed(STATUS_TYPES[1])
    status = deployment["resources"][-1]
    status["urn"] = status["urn"].replace("ClusterProfile/f/p/status", "status-of-p")
    held, unmovable = classify(deployment)
    assert unmovable == [] and held["ClusterProfile/f/p"].companions == (status["urn"],)


def test_a_resource_of_no_object_stops_the_reshard_naming_it_and_what_to_do() -> None:
    deployment = _deployed(STATUS_TYPES[0])
    stray = {"urn": f"{STACK}{COMPONENT_TYPE}$random:index:RandomId::salt", "type": "random:index:RandomId",
             "custom": True, "parent": COMPONENT}
    gone = {**stray, "urn": stray["urn"] + "-old", "delete": True}  # pending deletion: not this command's
    deployment["resources"] += [stray, gone]
    _, unmovable = classify(deployment)
    assert [r["urn"] for r in unmovable] == [stray["urn"]]
    message = unmovable_message({"prod-0": [stray["urn"]]})
    assert f"{stray['urn']} (in prod-0)" in message
    assert "Nothing has been moved" in message and "pulumi state move --source STACK --dest STACK URN" in message


def test_an_object_and_its_status_go_in_one_state_move() -> None:
    objects = [Held("u" * 30, f"n{i}", "s", ("c" * 30,)) for i in range(4)]
    runs = list(batches(objects, limit=130))
    assert [len(run) for run in runs] == [2, 2]
    assert [urn for run in runs for obj in run for urn in obj.urns] == ["u" * 30, "c" * 30] * 4


def test_the_status_moves_to_its_profiles_new_stack() -> None:
    held, _ = classify(_deployed(STATUS_TYPES[0]))
    (move,) = plan_moves({"prod-0": held}, {"ClusterProfile/f/p": "prod-2"}, ["prod-0", "prod-1", "prod-2"])
    assert move.dest == "prod-2" and list(move.objects[0].urns) == [
        held["ClusterProfile/f/p"].urn, f"{STACK}{COMPONENT_TYPE}${STATUS_TYPES[0]}::ClusterProfile/f/p/status"]


@pytest.mark.parametrize("status_type", STATUS_TYPES)
def test_settling_puts_the_status_back_under_the_component_and_its_dependency_follows(status_type: str) -> None:
    settled = settle(_moved(status_type), LAYOUT, {})
    by_type = {r["type"]: r for r in settled["resources"]}
    profile, status = by_type[PROFILE_TYPE], by_type[status_type]
    assert profile["urn"] == f"{STACK}{COMPONENT_TYPE}${PROFILE_TYPE}::ClusterProfile/f/p"
    assert status["urn"] == f"{STACK}{COMPONENT_TYPE}${status_type}::ClusterProfile/f/p/status"
    assert status["parent"] == COMPONENT and status["dependencies"] == [profile["urn"]]
    provider = by_type[f"pulumi:providers:{status_type.split(':')[0]}"]
    assert provider["parent"] == ROOT and status["provider"] == f"{provider['urn']}::d1"  # a default provider stays
    # The URNs are now exactly those of a stack the program deployed itself.
    assert sorted(r["urn"] for r in settled["resources"]) == sorted(r["urn"] for r in _deployed(status_type)["resources"])
    assert settle(copy.deepcopy(settled), LAYOUT, {}) == settled


def test_a_provider_the_program_declares_under_the_component_goes_back_there() -> None:
    deployed = _deployed(STATUS_TYPES[1])
    provider = deployed["resources"][4]
    provider["parent"] = COMPONENT
    provider["urn"] = f"{STACK}{COMPONENT_TYPE}$pulumi:providers:clusterinventory::default"
    nested = nested_providers([{"deployment": deployed}])
    assert nested == {"pulumi:providers:clusterinventory::default"}
    settled = settle(_moved(STATUS_TYPES[1]), LAYOUT, {}, nested_providers=nested)
    status = settled["resources"][-1]
    assert status["provider"] == f"{provider['urn']}::d1"
    urns = [r["urn"] for r in settled["resources"]]
    assert urns.index(COMPONENT) < urns.index(provider["urn"]) < urns.index(status["urn"])


def test_a_marked_stack_says_a_reshard_is_under_way_until_it_is_settled() -> None:
    marker = {"command": "python -m inventory reshard --stack-prefix prod- --from-count 2 --to-count 3",
              "started": "2026-12-03T12:00:00+00:00"}
    marked = mark({"version": 3, "deployment": _moved(STATUS_TYPES[0])}, "prod-2", "cluster-inventory", marker)
    assert marked["deployment"]["resources"][0]["outputs"][RESHARDING_OUTPUT] == marker
    settled = settle(marked["deployment"], LAYOUT, {})
    assert RESHARDING_OUTPUT not in settled["resources"][0]["outputs"]
    assert RESHARDING_OUTPUT not in mark(marked, "prod-2", "cluster-inventory", None)["deployment"][
        "resources"][0]["outputs"]


def test_a_new_stack_is_marked_through_a_root_stack_resource_of_its_own() -> None:
    marked = mark({"version": 3, "deployment": {"manifest": {"time": "t"}}}, "prod-2", "cluster-inventory",
                  {"command": "c"})
    (root,) = marked["deployment"]["resources"]
    assert root == {"urn": ROOT, "custom": False, "type": "pulumi:pulumi:Stack",
                    "outputs": {RESHARDING_OUTPUT: {"command": "c"}}}
    assert mark({"version": 3}, "prod-2", "cluster-inventory", None) == {"version": 3}


def test_an_object_a_killed_move_left_in_two_stacks_stays_only_in_the_one_that_declares_it() -> None:
    source = classify(_deployed(STATUS_TYPES[0]))[0]
    dest = classify(_moved(STATUS_TYPES[0]))[0]
    held, forget = resolve_duplicates({"prod-0": source, "prod-2": dest}, {"ClusterProfile/f/p": "prod-2"})
    assert held == {"prod-0": {}, "prod-2": dest} and forget == {"prod-0": [source["ClusterProfile/f/p"]]}
    assert plan_moves(held, {"ClusterProfile/f/p": "prod-2"}, ["prod-0", "prod-1", "prod-2"]) == []
    dropped = set(forget["prod-0"][0].urns)
    left = settle(_deployed(STATUS_TYPES[0]), LAYOUT, {}, forget=dropped)
    assert {r["type"] for r in left["resources"]} == {"pulumi:pulumi:Stack", "pulumi:providers:kubernetes",
                                                      COMPONENT_TYPE, "pulumi:providers:pulumi-python"}
    assert left["resources"][0]["outputs"]["managedObjects"] == {}


def test_an_object_in_two_stacks_neither_of_which_declares_it_still_stops_the_reshard() -> None:
    source = classify(_deployed(STATUS_TYPES[0]))[0]
    held, forget = resolve_duplicates({"prod-0": source, "prod-1": source}, {"ClusterProfile/f/p": "prod-2"})
    assert forget == {}
    with pytest.raises(ReshardError, match="more than one stack.*pulumi state delete"):
        plan_moves(held, {"ClusterProfile/f/p": "prod-2"}, ["prod-0", "prod-1", "prod-2"])


SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def _python_provider(stack: str, shard: int, ciphertext: str) -> dict[str, Any]:
    """The default provider of dynamic resources: it holds the stack's whole config, shardIndex included."""
    return {"urn": f"urn:pulumi:{stack}::cluster-inventory::pulumi:providers:pulumi-python::default",
            "type": "pulumi:providers:pulumi-python", "custom": True, "id": f"id-{stack}",
            "inputs": {"cluster-inventory:shardIndex": str(shard), "cluster-inventory:maxDeletions": "0",
                       "cluster-inventory:kubeconfig": {**SECRET, "ciphertext": ciphertext}}}


def test_providers_of_one_name_take_the_same_plain_inputs_for_the_moves_and_get_their_own_back() -> None:
    from inventory.stack.state_format import align_providers, restore_providers

    first = {"resources": [_python_provider("prod-0", 0, "c0")]}
    second = {"resources": [_python_provider("prod-1", 1, "c1")]}
    canonical: dict[str, dict[str, Any]] = {}
    assert align_providers(first, canonical) == {}
    originals = align_providers(second, canonical)
    # So that `pulumi state move` sees equal inputs (it compares the plain values of secrets) ...
    assert second["resources"][0]["inputs"] == {"cluster-inventory:shardIndex": "0",
                                                "cluster-inventory:maxDeletions": "0",
                                                "cluster-inventory:kubeconfig": {**SECRET, "ciphertext": "c1"}}
    # ... and each stack's own come back when it is settled.
    restore_providers(second, originals)
    assert second == {"resources": [_python_provider("prod-1", 1, "c1")]}


def test_a_state_in_an_export_version_the_command_does_not_know_is_not_rewritten() -> None:
    from inventory.stack.state_format import StateFormatError

    with pytest.raises(StateFormatError, match="stack prod-2 is in version 5 of Pulumi's export format; this command "
                                               "knows versions 3, 4"):
        mark({"version": 5, "deployment": _moved(STATUS_TYPES[0])}, "prod-2", "cluster-inventory", {"command": "c"})
