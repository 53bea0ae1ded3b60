"""The reshard itself: lock and mark every shard stack, move each object's state to the stack that
declares it under the new layout, settle each stack for its next run and let it go
(inventory/stack/reshard/cli.py says what the command promises)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inventory.stack import state_format as state
from inventory.stack.backend import backend_url, local_root
from inventory.stack.driver import project_name, select_stack
from inventory.stack.guards import (
    HANDED_OVER_OUTPUT,
    HANDING_OVER_OUTPUT,
    MANAGEMENT_CLUSTER_OUTPUT,
    MODES_OUTPUT,
    PENDING_DELETIONS_OUTPUT,
    PreviousRun,
)
from inventory.stack.locks import StackLocks
from inventory.stack.reshard.fleet import new_assignment, owners, planning_stack, stack_names
from inventory.stack.reshard.moves import (
    SAMPLE_SIZE,
    Held,
    Move,
    ReshardError,
    batch_limit,
    batches,
    classify,
    held_objects,
    plan_moves,
    resolve_duplicates,
    unmovable_message,
)
from inventory.stack.reshard.pulumi_cli import Cli, PulumiCliError
from inventory.stack.reshard.settle import Marks, layouts, nested_providers, settle
from inventory.stack.reshard.writer import Writer

# How long the command waits, by default, for a run that holds a shard stack to end.
LOCK_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Request:
    """What the command line asks: the old and new shard stacks, by prefix and count or by name."""

    project_dir: Path
    stack_prefix: str | None = None
    from_count: int | None = None
    to_count: int | None = None
    from_stacks: str | None = None
    to_stacks: str | None = None
    dry_run: bool = False
    lock_timeout: float = LOCK_TIMEOUT_S

    def command_line(self) -> str:
        """The command line that runs this reshard again (what the marker and the messages name)."""
        parts = ["python -m inventory reshard"]
        for flag, value in (("--stack-prefix", self.stack_prefix), ("--from-count", self.from_count),
                            ("--to-count", self.to_count), ("--from-stacks", self.from_stacks),
                            ("--to-stacks", self.to_stacks)):
            if value is not None:
                parts.append(f"{flag} {value}")
        return " ".join(parts)


def say(line: str) -> None:
    print(line, flush=True)


def reshard(request: Request, tmpdir: str) -> None:
    """Move the fleet's state as ``request`` asks (``--dry-run``: print what would move); ReshardError
    when it cannot."""
    started = time.monotonic()
    project_dir = request.project_dir
    old_stacks = stack_names(request.stack_prefix, request.from_count, request.from_stacks, "from")
    new_stacks = stack_names(request.stack_prefix, request.to_count, request.to_stacks, "to")
    every_stack = list(dict.fromkeys([*old_stacks, *new_stacks]))
    assignment = new_assignment(project_dir, new_stacks, len(new_stacks))
    cli = Cli(project_dir, tmpdir)
    existing = cli.stacks()
    missing = [stack for stack in old_stacks if stack not in existing]
    if missing:
        raise ReshardError(f"no stack {', '.join(missing)} in this backend: check --stack-prefix and --from-count "
                           f"or --from-stacks (the old shard stacks named are {', '.join(old_stacks)})")

    planner = planning_stack(new_stacks, old_stacks, existing, request.dry_run)
    say(f"planning the fleet with the config of {planner} ({len(new_stacks)} shards, {assignment.value}) ...")
    step = time.monotonic()
    owner = owners(planner, project_dir, tmpdir, new_stacks, assignment)
    say(f"planned {len(owner)} objects in {time.monotonic() - step:.1f} s")
    present = [stack for stack in every_stack if stack in existing]
    if request.dry_run:
        _plan({stack: cli.export(stack) for stack in present}, owner, new_stacks)
        say("dry run: nothing moved")
        return

    project = project_name(project_dir)
    locks = StackLocks(local_root(backend_url(cli.env)), project, request.lock_timeout, say)
    writer = Writer(cli, locks, say=say)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    marks = Marks(project, {"command": request.command_line(), "started": started_at})
    try:
        # From here until each stack is settled, no run of a shard stack may find its state:
        # its lock says so to `up`, `refresh` and `destroy`, the marker to the program itself.
        step = time.monotonic()
        locks.acquire(present)
        exports: dict[str, dict[str, Any]] = {}
        try:
            for stack in present:
                exports[stack] = writer.update(stack, marks.marking(stack))
            say(f"locked and marked {len(present)} stacks, reading their state, in {time.monotonic() - step:.1f} s")
            moves, forget = _plan(exports, owner, new_stacks)
        except (ReshardError, state.StateFormatError):
            for stack in exports:
                writer.update(stack, marks.unmarking(stack))
            raise
        for stack in new_stacks:
            if stack not in existing:
                select_stack(stack, project_dir, tmpdir)  # creates it, with the project's secrets provider
                locks.acquire([stack])
                writer.update(stack, marks.marking(stack))
                say(f"created stack {stack}")
        moving = sum(len(move.objects) for move in moves)
        done = 0
        for move in moves:
            for batch in batches(move.objects, batch_limit()):
                step = time.monotonic()
                try:
                    writer.move(move.source, move.dest, [urn for obj in batch for urn in obj.urns])
                except PulumiCliError as err:
                    raise ReshardError(f"{err}\n{done} of {moving} objects had been moved. Fix the cause and run the "
                                       f"same command again: it moves what is left and settles every stack; until "
                                       f"then every shard stack refuses to run") from None
                done += len(batch)
                say(f"moved {len(batch)} objects {move.source} -> {move.dest} in {time.monotonic() - step:.1f} s "
                    f"({done}/{moving})")

        _settle_all(writer, every_stack, old_stacks, new_stacks, exports, layouts(old_stacks, new_stacks, assignment),
                    forget, marks.originals)
    finally:
        locks.release()
    say(f"resharded {len(old_stacks)} -> {len(new_stacks)} shard stacks ({assignment.value}) in "
        f"{time.monotonic() - started:.1f} s: {moving} objects moved, none touched in the cluster")
    say("next: run `up` on every shard stack (any order, or side by side); each updates its moved objects in place:")
    for stack in new_stacks:
        say(f"  python -m inventory deploy up --stack {stack}")
    for stack in every_stack:
        if stack not in new_stacks:
            say(f"{stack} has left the fleet and holds no object: `python -m inventory deploy destroy --stack "
                f"{stack}` (deletes nothing in the cluster), then `pulumi stack rm {stack}` and remove "
                f"stacks/Pulumi.{stack}.yaml")


def _plan(exports: Mapping[str, Mapping[str, Any]], owner: Mapping[str, str], new_stacks: Sequence[str]
          ) -> tuple[list[Move], dict[str, list[Held]]]:
    """What moves where, printed; refuses (ReshardError) what the command cannot do."""
    classified = {stack: classify(state.deployment_of(exported, stack)) for stack, exported in exports.items()}
    unmovable = {stack: [state.urn_of(r) for r in left] for stack, (_, left) in classified.items() if left}
    if unmovable:
        raise ReshardError(unmovable_message(unmovable))
    outputs = {stack: state.root_outputs(exported) for stack, exported in exports.items()}
    busy = [f"{stack} ({key})" for stack, recorded in outputs.items()
            for key in (HANDING_OVER_OUTPUT, HANDED_OVER_OUTPUT) if recorded.get(key)]
    if busy:
        raise ReshardError(f"a hand-over between direct and events mode is under way in {', '.join(busy)}: "
                           f"run `up` on those stacks until it has finished (docs/modes.md), then reshard")
    clusters = {stack: recorded.get(MANAGEMENT_CLUSTER_OUTPUT) for stack, recorded in outputs.items()}
    if len({cluster for cluster in clusters.values() if cluster}) > 1:
        raise ReshardError("the stacks write to different management clusters ("
                           + ", ".join(f"{stack}: {cluster}" for stack, cluster in sorted(clusters.items()))
                           + "); the shards of one fleet share one cluster: check --stack-prefix or the stack names")
    held, forget = resolve_duplicates({stack: objects for stack, (objects, _) in classified.items()}, owner)
    moves = plan_moves(held, owner, new_stacks)
    total = sum(len(objects) for objects in held.values())
    moving = sum(len(move.objects) for move in moves)
    companions = sum(len(obj.companions) for move in moves for obj in move.objects)
    say(f"{total} objects in {len(held)} stacks; {moving} change stack ({moving / total:.1%})"
        + (f", with {companions} resources that belong to them" if companions else "") if total else
        "the old shard stacks hold no objects")
    for move in moves:
        sample = ", ".join(obj.name for obj in move.objects[:SAMPLE_SIZE])
        more = f" and {len(move.objects) - SAMPLE_SIZE} more" if len(move.objects) > SAMPLE_SIZE else ""
        say(f"  {move.source} -> {move.dest}: {len(move.objects)} objects ({sample}{more})")
    for stack, copies in sorted(forget.items()):
        say(f"  {stack} forgets {len(copies)} objects another stack holds and declares (a move stopped between "
            f"its two saves): {', '.join(obj.name for obj in copies[:SAMPLE_SIZE])}")
    return moves, forget


def _settle_all(writer: Writer, every_stack: Sequence[str], old_stacks: Sequence[str], new_stacks: Sequence[str],
                before: Mapping[str, Mapping[str, Any]], layout: Mapping[str, Mapping[str, Any]],
                forget: Mapping[str, Sequence[Held]], providers: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
    """Each stack's state as its next run must find it (``settle``); each is let go when settled."""
    donor = state.root_outputs(before[old_stacks[0]])
    defaults = {key: donor.get(key) for key in (MODES_OUTPUT, MANAGEMENT_CLUSTER_OUTPUT)}
    nested = nested_providers(before.values())
    sources = {name: group for exported in before.values()
               for name, group in PreviousRun.from_outputs(state.root_outputs(exported)).sources.items()}
    leaving: dict[str, list[str]] = {}
    for stack in old_stacks:
        if stack not in new_stacks:
            for shape_, names in (state.root_outputs(before[stack]).get(PENDING_DELETIONS_OUTPUT) or {}).items():
                leaving.setdefault(shape_, []).extend(names)
    for stack in every_stack:
        step = time.monotonic()
        pending = leaving if stack == new_stacks[0] else None
        dropped = {urn for obj in forget.get(stack, ()) for urn in obj.urns}

        def change(exported: dict[str, Any], stack: str = stack, pending: Mapping[str, list[str]] | None = pending,
                   dropped: set[str] = dropped) -> dict[str, Any]:
            deployment = exported.get(state.DEPLOYMENT_KEY)
            if deployment:
                state.restore_providers(deployment, providers.get(stack, {}))
                exported[state.DEPLOYMENT_KEY] = settle(deployment, layout[stack], defaults, pending, dropped, nested,
                                                        sources)
            return exported

        settled = writer.update(stack, change)
        writer.locks.release([stack])
        index = layout[stack].get("index")
        role = f"shard {index} of {layout[stack].get('count')}" if index is not None else "left the fleet"
        say(f"settled {stack} in {time.monotonic() - step:.1f} s: "
            f"{len(held_objects(settled.get(state.DEPLOYMENT_KEY) or {}))} objects, {role}")


