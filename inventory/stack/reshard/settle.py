"""Each shard stack's state before, during and after the moves: marked as being resharded (so no
run of it proceeds), then settled for its next run, as that run would have left it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from inventory.settings import ShardAssignment
from inventory.stack import state_format as state
from inventory.stack.guards import (
    MANAGED_OBJECTS_OUTPUT,
    PENDING_DELETIONS_OUTPUT,
    RESHARDING_OUTPUT,
    SHARDS_OUTPUT,
    SOURCES_OUTPUT,
    grouped_names,
    shard_layout,
)
from inventory.stack.reshard.moves import COMPONENT_NAME, COMPONENT_TYPE, held_objects


def settle(deployment: dict[str, Any], layout: Mapping[str, Any], defaults: Mapping[str, Any],
           pending: Mapping[str, list[str]] | None = None, forget: Collection[str] = (),
           nested_providers: Collection[str] = (), sources: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``deployment`` ready for the program's next run: what ``pulumi state move`` left under the
    root stack hangs under the component (``COMPONENT_TYPE``, created if the stack has none), as the
    program declares it, so URNs are the ones the program declares, and every reference to a
    renamed URN (parent, dependencies, provider) follows; a provider stays under the root unless
    its ``type::name`` is in ``nested_providers`` (the program declares it under the component).
    The root's outputs list the objects the state holds, record ``layout`` and no longer say a
    reshard is under way. ``defaults`` fills outputs the stack has not written yet (a new stack);
    ``pending`` adds deletions that a stack leaving the fleet had still to check; the resources
    whose URNs are in ``forget`` leave the state (``resolve_duplicates``); ``sources`` (logical name ->
    source namespace, from every stack's outputs) keeps each object's source namespace recorded, so
    the next run counts its deletions where they belong (inventory/stack/holdback.py)."""
    state.without(deployment, forget)
    state.nest(deployment, COMPONENT_TYPE, COMPONENT_NAME,
               lambda resource: not state.is_provider(resource) or state.provider_key(resource) in nested_providers)
    held = held_objects(deployment)

    def settled(outputs: dict[str, Any]) -> dict[str, Any]:
        for key, value in defaults.items():
            if outputs.get(key) is None:
                outputs[key] = value
        outputs[MANAGED_OBJECTS_OUTPUT] = grouped_names({obj.name: obj.shape for obj in held.values()})
        if sources is not None:
            outputs[SOURCES_OUTPUT] = grouped_names({name: sources[name] for name in held if name in sources})
        outputs[SHARDS_OUTPUT] = dict(layout)
        outputs.pop(RESHARDING_OUTPUT, None)
        if pending:
            merged = {k: list(v) for k, v in (outputs.get(PENDING_DELETIONS_OUTPUT) or {}).items()}
            for shape_, names in pending.items():
                merged[shape_] = sorted({*merged.get(shape_, []), *names})
            outputs[PENDING_DELETIONS_OUTPUT] = dict(sorted(merged.items()))
        return outputs

    state.change_root_outputs(deployment, settled)
    return deployment


def nested_providers(exports: Iterable[Mapping[str, Any]]) -> set[str]:
    """``type::name`` of each provider the program declares under its component (in any stack)."""
    return state.providers_under(exports, COMPONENT_TYPE)


def mark(exported: dict[str, Any], stack: str, project: str, marker: Mapping[str, Any] | None) -> dict[str, Any]:
    """``exported`` (a `pulumi stack export` of ``stack``) with the ``resharding`` output set to
    ``marker``, or without it (None). A stack with no state yet gets the root stack resource that
    holds it."""
    state.deployment_of(exported, stack)
    if marker is None and state.root_of(state.resources_of(exported.get(state.DEPLOYMENT_KEY) or {})) is None:
        return exported
    marked = state.with_root(exported, stack, project)

    def change(outputs: dict[str, Any]) -> dict[str, Any]:
        if marker is None:
            outputs.pop(RESHARDING_OUTPUT, None)
        else:
            outputs[RESHARDING_OUTPUT] = dict(marker)
        return outputs

    state.change_root_outputs(marked[state.DEPLOYMENT_KEY], change)
    return marked


class Marks:
    """Marking each stack's state for the reshard (``mark``, ``state_format.align_providers``), and unmarking it."""

    def __init__(self, project: str, marker: Mapping[str, Any]) -> None:
        self.project = project
        self.marker = marker
        self.canonical: dict[str, dict[str, Any]] = {}
        self.originals: dict[str, dict[str, dict[str, Any]]] = {}

    def marking(self, stack: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def change(exported: dict[str, Any]) -> dict[str, Any]:
            marked = mark(exported, stack, self.project, self.marker)
            self.originals[stack] = state.align_providers(marked.get(state.DEPLOYMENT_KEY) or {}, self.canonical)
            return marked
        return change

    def unmarking(self, stack: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def change(exported: dict[str, Any]) -> dict[str, Any]:
            state.restore_providers(exported.get(state.DEPLOYMENT_KEY) or {}, self.originals.get(stack, {}))
            return mark(exported, stack, self.project, None)
        return change


def layouts(old_stacks: Sequence[str], new_stacks: Sequence[str],
            assignment: ShardAssignment) -> dict[str, dict[str, Any]]:
    """The ``shards`` output each stack records: its shard of the new count, or none for a stack
    that leaves the fleet."""
    count = len(new_stacks)
    result = {stack: shard_layout(count, None, assignment) for stack in old_stacks}
    result.update({stack: shard_layout(count, index, assignment) for index, stack in enumerate(new_stacks)})
    return result
