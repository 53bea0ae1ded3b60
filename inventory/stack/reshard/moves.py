"""Which objects' state moves from which shard stack to which: read from the stacks' exported
state, decided against the stack that declares each object under the new layout."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from inventory.stack import state_format as state
from inventory.stack.guards import shape

# What the project's program declares: every object under one ClusterInventory component
# (inventory/stack/component.py) of this type and name (inventory/stack/program.py), whose type
# is part of every object's URN. Spelled here so the command starts without loading
# pulumi-kubernetes; tests/unit/test_reshard.py keeps the spellings equal.
COMPONENT_TYPE = "cluster-inventory:index:Inventory"
COMPONENT_NAME = "inventory"
# Each `pulumi state move` reads and writes both stacks' whole state (seconds at thousands of
# objects), so as many URNs go in one as fit, up to this many characters, and never more than
# half of what the kernel allows a command line and its environment (ARG_MAX, usually 2 MiB).
MOVE_BATCH_CHARS = 1_000_000
# How many object names a message prints before "and N more".
SAMPLE_SIZE = 3


class ReshardError(Exception):
    """The fleet cannot be resharded as asked; nothing has been moved unless the message says so."""


@dataclass(frozen=True)
class Held:
    """One managed object in a stack's state, with the resources that move with it."""

    urn: str
    name: str  # the logical name, Kind/namespace/name
    shape: str  # guards.shape of its deployed inputs
    companions: tuple[str, ...] = ()  # URNs of the resources that belong to it (a ClusterProfile's status)

    @property
    def urns(self) -> tuple[str, ...]:
        return (self.urn, *self.companions)


@dataclass(frozen=True)
class Move:
    source: str
    dest: str
    objects: tuple[Held, ...]


def classify(deployment: Mapping[str, Any]) -> tuple[dict[str, Held], list[Mapping[str, Any]]]:
    """The kubernetes objects in an exported deployment, by logical name, each with its companions;
    and the resources that belong to none of them (the command refuses those: ``unmovable_message``).

    A resource that is neither a kubernetes object nor a provider, the stack or its component
    (``COMPONENT_TYPE``) belongs to the object it is named after: the program names what it
    declares beside an object ``<the object's logical name>/<part>`` (a ClusterProfile's status is
    ``ClusterProfile/ns/name/status``, whatever resource type and provider write it). Failing
    that, it belongs to the one kubernetes object it depends on. It moves with that object, in
    the same `pulumi state move`, so its dependency on the object survives the move."""
    resources = state.resources_of(deployment)
    held: dict[str, Held] = {}
    for resource in resources:
        if state.is_kubernetes_object(resource):
            name = state.name_of(resource)
            held[name] = Held(state.urn_of(resource), name, shape(*state.kubernetes_kind(resource)))
    by_urn = {obj.urn: name for name, obj in held.items()}
    companions: dict[str, list[str]] = {}
    unmovable: list[Mapping[str, Any]] = []
    for resource in resources:
        if (state.is_kubernetes_object(resource) or state.is_provider(resource) or state.is_root(resource)
                or state.type_of(resource) == COMPONENT_TYPE):
            continue
        owner = state.name_of(resource).rsplit("/", 1)[0]
        if owner not in held:
            depended = {by_urn[urn] for urn in state.dependencies_of(resource) if urn in by_urn}
            owner = depended.pop() if len(depended) == 1 else ""
        if owner:
            companions.setdefault(owner, []).append(state.urn_of(resource))
        else:
            unmovable.append(resource)
    for name, urns in companions.items():
        held[name] = replace(held[name], companions=tuple(urns))
    return held, unmovable


def held_objects(deployment: Mapping[str, Any]) -> dict[str, Held]:
    """The kubernetes objects in an exported deployment, by logical name (``classify``)."""
    return classify(deployment)[0]


def unmovable_message(unmovable: Mapping[str, Sequence[str]]) -> str:
    """Why the command refuses, naming each resource it cannot place and what to do about it."""
    lines = [f"  {urn} (in {stack})" for stack, urns in sorted(unmovable.items()) for urn in urns]
    count = sum(len(urns) for urns in unmovable.values())
    return (f"{count} resources belong to no kubernetes object this command moves (they are not named "
            f"`<object>/<part>` after one, and depend on none), so it cannot tell which stack declares them "
            f"under the new layout:\n" + "\n".join(lines[:SAMPLE_SIZE * 3])
            + (f"\n  ... and {len(lines) - SAMPLE_SIZE * 3} more" if len(lines) > SAMPLE_SIZE * 3 else "")
            + "\nNothing has been moved. Move each to the stack that declares it now (`pulumi state move "
              "--source STACK --dest STACK URN`), or remove it from the state if no stack declares it any more "
              "(`pulumi state delete --stack STACK URN`), then run this command again.")


def holders(held: Mapping[str, Mapping[str, Held]]) -> dict[str, list[str]]:
    """Logical name -> the stacks whose state holds that object."""
    result: dict[str, list[str]] = {}
    for stack, objects in held.items():
        for name in objects:
            result.setdefault(name, []).append(stack)
    return result


def resolve_duplicates(held: Mapping[str, Mapping[str, Held]], owner: Mapping[str, str]
                       ) -> tuple[dict[str, dict[str, Held]], dict[str, list[Held]]]:
    """An object in the state of two stacks (a `pulumi state move` killed between its two saves
    leaves it in both) stays in the one that declares it under the new layout; the other copies
    are forgotten (removed from their state, not deleted: both copies track the same object, and
    a stack holding one it does not declare would delete it). Returns ``held`` without them and
    the copies to forget, by stack; ``plan_moves`` refuses any other object held twice."""
    kept = {stack: dict(objects) for stack, objects in held.items()}
    forget: dict[str, list[Held]] = {}
    for name, stacks in holders(held).items():
        if len(stacks) > 1 and owner.get(name) in stacks:
            for stack in stacks:
                if stack != owner[name]:
                    forget.setdefault(stack, []).append(kept[stack].pop(name))
    return kept, forget


def plan_moves(held: Mapping[str, Mapping[str, Held]], owner: Mapping[str, str],
               new_stacks: Sequence[str]) -> list[Move]:
    """Which objects go from which stack to which: each to the stack ``owner`` names for it;
    one that no stack declares any more stays where it is, or goes to the first new stack when its
    stack leaves the fleet (that stack's next run then deletes it, counted by its deletion cap)."""
    twice = sorted(f"{name} ({', '.join(stacks)})" for name, stacks in holders(held).items() if len(stacks) > 1)
    if twice:
        raise ReshardError(f"{len(twice)} objects are in the state of more than one stack: {', '.join(twice[:SAMPLE_SIZE])}"
                           f"{' ...' if len(twice) > SAMPLE_SIZE else ''}; remove each from the stack that should "
                           f"not hold it (`pulumi state delete --stack STACK URN`) and run again")
    moves: dict[tuple[str, str], list[Held]] = {}
    for stack, objects in held.items():
        for name, obj in sorted(objects.items()):
            dest = owner.get(name) or (stack if stack in new_stacks else new_stacks[0])
            if dest != stack:
                moves.setdefault((stack, dest), []).append(obj)
    return [Move(source, dest, tuple(objects)) for (source, dest), objects in sorted(moves.items())]


def batch_limit() -> int:
    """How many characters of URNs one `pulumi state move` may take here."""
    try:
        arg_max = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError):
        arg_max = -1
    return min(MOVE_BATCH_CHARS, arg_max // 2) if arg_max > 0 else MOVE_BATCH_CHARS // 8


def batches(objects: Sequence[Held], limit: int = MOVE_BATCH_CHARS) -> Iterator[list[Held]]:
    """``objects`` in runs whose URNs fit one command line; an object and its companions stay in one run."""
    batch: list[Held] = []
    size = 0
    for obj in objects:
        length = sum(len(urn) + 1 for urn in obj.urns)
        if batch and size + length > limit:
            yield batch
            batch, size = [], 0
        batch.append(obj)
        size += length
    if batch:
        yield batch
