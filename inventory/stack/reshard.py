"""Change a sharded fleet's ``shardCount`` or ``shardAssignment`` with no outage.

    python -m inventory reshard --stack-prefix prod- --from-count 2 --to-count 3 [--dry-run]
    python -m inventory reshard --from-stacks prod --to-stacks prod-0,prod-1,prod-2   # names of your own

Edit the shard stacks' config first (every new stack, ``<prefix>0`` .. ``<prefix><to-count - 1>``
or those ``--to-stacks`` names, has ``shardCount: <to-count>``, its own ``shardIndex`` and one
``shardAssignment``), with no shard stack running. The command then, for every object in the
state of the old shard stacks, finds the stack that declares it under the new config and moves
its state there with ``pulumi state move``: no object in the cluster is
touched, so the next ``up`` of each stack updates the moved objects in place (their owner
stamp) and no consumer sees a DELETE. Then it settles each stack for its next run: the moved
objects hang under the stack's own ``Inventory`` component and provider, as the program
declares them, and the outputs the guards read (the objects a stack manages, its shard
layout) say what the state now holds. ``--dry-run`` prints what would move and changes nothing.

Backend and passphrase come from the environment, as for ``python -m inventory deploy``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from inventory.settings import Settings, SettingsError, ShardAssignment
from inventory.stack.driver import PROJECT_DIR, cli_environment, pulumi_command
from inventory.stack.guards import (
    HANDED_OVER_OUTPUT,
    HANDING_OVER_OUTPUT,
    MANAGED_OBJECTS_OUTPUT,
    MANAGEMENT_CLUSTER_OUTPUT,
    MODES_OUTPUT,
    PENDING_DELETIONS_OUTPUT,
    SHARDS_OUTPUT,
    shape,
    shard_layout,
)

CONFIG_PREFIX = "cluster-inventory:"
# What the program declares (inventory/stack/program.py): every object under one component.
ROOT_TYPE = "pulumi:pulumi:Stack"
COMPONENT_TYPE = "cluster-inventory:index:Inventory"
COMPONENT_NAME = "inventory"
# Each `pulumi state move` reads and writes both stacks' whole state (seconds at thousands of
# objects), so as many URNs go in one as fit, up to this many characters, and never more than
# half of what the kernel allows a command line and its environment (ARG_MAX, usually 2 MiB).
MOVE_BATCH_CHARS = 1_000_000
# How many object names the plan prints per move before "and N more".
SAMPLE_SIZE = 3


class ReshardError(Exception):
    """The fleet cannot be resharded as asked; nothing has been moved unless the message says so."""


@dataclass(frozen=True)
class Held:
    """One managed object in a stack's state."""

    urn: str
    name: str  # the logical name, Kind/namespace/name
    shape: str  # guards.shape of its deployed inputs


@dataclass(frozen=True)
class Move:
    source: str
    dest: str
    objects: tuple[Held, ...]


def held_objects(deployment: Mapping[str, Any]) -> dict[str, Held]:
    """The kubernetes objects in an exported deployment, by logical name."""
    held = {}
    for resource in deployment.get("resources") or ():
        kind = str(resource.get("type", ""))
        if not kind.startswith("kubernetes:") or resource.get("delete"):
            continue
        inputs = resource.get("inputs") or {}
        name = str(resource["urn"]).rsplit("::", 1)[1]
        held[name] = Held(str(resource["urn"]), name,
                          shape(str(inputs.get("apiVersion")), str(inputs.get("kind")), inputs))
    return held


def unmovable_resources(deployment: Mapping[str, Any]) -> list[str]:
    """Resources this command would leave behind: everything but the stack, its component, the
    provider and the kubernetes objects it moves. Feature E's ClusterProfile statuses (resources of
    the project's own provider, or Python dynamic resources in a stack not yet migrated) are among
    them: left in the old stack, its next `up` would clear them."""
    kept = (ROOT_TYPE, COMPONENT_TYPE)
    return [str(r["urn"]) for r in deployment.get("resources") or ()
            if not r.get("delete") and not str(r.get("type", "")).startswith(("kubernetes:", "pulumi:providers:"))
            and r.get("type") not in kept]


def plan_moves(held: Mapping[str, Mapping[str, Held]], owner: Mapping[str, str],
               new_stacks: Sequence[str]) -> list[Move]:
    """Which objects go from which stack to which: each to the stack ``owner`` names for it;
    one that no stack declares any more stays where it is, or goes to the first new stack when its
    stack leaves the fleet (that stack's next run then deletes it, counted by its deletion cap)."""
    holders: dict[str, list[str]] = {}
    for stack, objects in held.items():
        for name in objects:
            holders.setdefault(name, []).append(stack)
    twice = sorted(f"{name} ({', '.join(stacks)})" for name, stacks in holders.items() if len(stacks) > 1)
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
    """``objects`` in runs whose URNs fit one command line."""
    batch: list[Held] = []
    size = 0
    for obj in objects:
        if batch and size + len(obj.urn) + 1 > limit:
            yield batch
            batch, size = [], 0
        batch.append(obj)
        size += len(obj.urn) + 1
    if batch:
        yield batch


def settle(deployment: dict[str, Any], layout: Mapping[str, Any], defaults: Mapping[str, Any],
           pending: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """``deployment`` ready for the program's next run: objects that ``pulumi state move`` left
    under the root stack hang under the ``Inventory`` component (created if the stack has none),
    so their URNs are the ones the program declares; the root's outputs list the objects the state
    holds and record ``layout``. ``defaults`` fills outputs the stack has not written yet (a new
    stack); ``pending`` adds deletions that a stack leaving the fleet had still to check."""
    resources: list[dict[str, Any]] = deployment.get("resources") or []
    root = next((r for r in resources if r.get("type") == ROOT_TYPE and not r.get("parent")), None)
    if root is None:
        raise ReshardError("the stack has no root resource; run `pulumi stack export` to inspect it")
    stack_part, project = str(root["urn"]).split("::")[0].removeprefix("urn:pulumi:"), str(root["urn"]).split("::")[1]
    component_urn = f"urn:pulumi:{stack_part}::{project}::{COMPONENT_TYPE}::{COMPONENT_NAME}"
    orphans = [r for r in resources if str(r.get("type", "")).startswith("kubernetes:") and r.get("parent") == root["urn"]]
    if orphans and not any(r.get("urn") == component_urn for r in resources):
        component = {"urn": component_urn, "custom": False, "type": COMPONENT_TYPE, "parent": root["urn"]}
        resources.insert(resources.index(root) + 1, component)
    for resource in orphans:
        resource["parent"] = component_urn
        resource["urn"] = (f"urn:pulumi:{stack_part}::{project}::{COMPONENT_TYPE}${resource['type']}::"
                           f"{str(resource['urn']).rsplit('::', 1)[1]}")
    outputs = dict(root.get("outputs") or {})
    for key, value in defaults.items():
        if outputs.get(key) is None:
            outputs[key] = value
    managed: dict[str, list[str]] = {}
    for obj in sorted(held_objects(deployment).values(), key=lambda o: o.name):
        managed.setdefault(obj.shape, []).append(obj.name)
    outputs[MANAGED_OBJECTS_OUTPUT] = dict(sorted(managed.items()))
    outputs[SHARDS_OUTPUT] = dict(layout)
    if pending:
        merged = {k: list(v) for k, v in (outputs.get(PENDING_DELETIONS_OUTPUT) or {}).items()}
        for shape_, names in pending.items():
            merged[shape_] = sorted({*merged.get(shape_, []), *names})
        outputs[PENDING_DELETIONS_OUTPUT] = dict(sorted(merged.items()))
    root["outputs"] = outputs
    deployment["resources"] = resources
    return deployment


def layouts(old_stacks: Sequence[str], new_stacks: Sequence[str],
            assignment: ShardAssignment) -> dict[str, dict[str, Any]]:
    """The ``shards`` output each stack records: its shard of the new count, or none for a stack
    that leaves the fleet."""
    count = len(new_stacks)
    result = {stack: shard_layout(count, None, assignment) for stack in old_stacks}
    result.update({stack: shard_layout(count, index, assignment) for index, stack in enumerate(new_stacks)})
    return result


def stack_names(prefix: str | None, count: int | None, names: str | None, which: str) -> list[str]:
    """The old or new shard stacks, in shardIndex order: ``names`` (comma-separated) if given, else
    ``<prefix>0`` .. ``<prefix><count - 1>``."""
    if names:
        stacks = [name.strip() for name in names.split(",") if name.strip()]
    elif prefix is not None and count is not None:
        stacks = [f"{prefix}{i}" for i in range(count)]
    else:
        raise ReshardError(f"name the {which} stacks: --stack-prefix with --{which}-count, or --{which}-stacks")
    if not stacks or len(set(stacks)) != len(stacks):
        raise ReshardError(f"--{which}-stacks must name one or more stacks, each once")
    return stacks


class Cli:
    """The `pulumi` CLI in the project directory, with the driver's environment."""

    def __init__(self, project_dir: Path, tmpdir: str) -> None:
        self.project_dir = project_dir
        self.binary = pulumi_command().command
        self.env = {**os.environ, **cli_environment(tmpdir)}

    def run(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run([self.binary, *args, "--non-interactive"], cwd=self.project_dir, env=self.env,
                                input=stdin, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            message = "\n".join(line for line in (result.stderr or result.stdout).splitlines() if line.strip())
            raise ReshardError(f"`pulumi {' '.join(args[:3])} ...` failed: {message}")
        return result.stdout

    def export(self, stack: str) -> dict[str, Any]:
        exported: dict[str, Any] = json.loads(self.run("stack", "export", "--stack", stack))
        return exported

    def import_(self, stack: str, exported: Mapping[str, Any]) -> None:
        self.run("stack", "import", "--stack", stack, stdin=json.dumps(exported))

    def stacks(self) -> set[str]:
        listed = json.loads(self.run("stack", "ls", "--json"))
        return {str(entry["name"]).rsplit("/", 1)[-1] for entry in listed}


def stack_config(project_dir: Path, stack: str) -> dict[str, Any] | None:
    """The plain (non-secret) values of ``stacks/Pulumi.<stack>.yaml`` (the shard keys never are
    secret); None when the file is missing."""
    path = project_dir / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return None
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k).removeprefix(CONFIG_PREFIX): v for k, v in (document.get("config") or {}).items()}


def new_assignment(project_dir: Path, new_stacks: Sequence[str], to_count: int) -> ShardAssignment:
    """The assignment the new stacks' config names; each must say shardCount ``to_count`` and its own index."""
    problems, assignments = [], set()
    for index, stack in enumerate(new_stacks):
        config = stack_config(project_dir, stack)
        if config is None:
            problems.append(f"no stacks/Pulumi.{stack}.yaml: create it (a copy of another shard's config, with "
                            f"shardIndex {index})")
            continue
        count, shard = config.get("shardCount", 1), config.get("shardIndex", 0)
        if int(count) != to_count or int(shard) != index:
            problems.append(f"stacks/Pulumi.{stack}.yaml says shardCount {count}, shardIndex {shard}; "
                            f"set shardCount {to_count}, shardIndex {index}")
        assignments.add(str(config.get("shardAssignment", ShardAssignment.RENDEZVOUS.value)))
    if len(assignments) > 1:
        problems.append(f"the new shard stacks name different shardAssignments ({', '.join(sorted(assignments))}): "
                        f"set one in all of them")
    if problems:
        raise ReshardError("edit the new shard stacks' config first (nothing has been moved):\n" + "\n".join(problems))
    try:
        return ShardAssignment(assignments.pop())
    except ValueError:
        raise ReshardError(f"shardAssignment must be one of {', '.join(a.value for a in ShardAssignment)}") from None


def owners(stack: str, project_dir: Path, tmpdir: str, new_stacks: Sequence[str]) -> dict[str, str]:
    """Logical name -> the new stack that declares it, from the whole plan made with ``stack``'s config."""
    from inventory.model import Severity
    from inventory.pipeline import compute_plan
    from inventory.plan import shard_of
    from inventory.stack.driver import select_stack
    from inventory.stack.resources import settings_from_config, utcnow

    config = select_stack(stack, project_dir, tmpdir).get_all_config()
    settings: Settings = settings_from_config(lambda key: config[key].value if key in config else None)
    whole = compute_plan(replace(settings, shard_count=1, shard_index=0), utcnow())
    errors = [d for d in whole.diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise ReshardError("the inventory has errors (the shard stacks would not run either); fix them first:\n"
                           + "\n".join(str(d) for d in errors))
    return {o.logical_name: new_stacks[shard_of(o.source, settings.shard_count, settings.shard_assignment)]
            for o in whole.objects}


def _say(line: str) -> None:
    print(line, flush=True)


def reshard(args: argparse.Namespace, tmpdir: str) -> None:
    started = time.monotonic()
    project_dir: Path = args.cwd.resolve()
    old_stacks = stack_names(args.stack_prefix, args.from_count, args.from_stacks, "from")
    new_stacks = stack_names(args.stack_prefix, args.to_count, args.to_stacks, "to")
    every_stack = list(dict.fromkeys([*old_stacks, *new_stacks]))
    assignment = new_assignment(project_dir, new_stacks, len(new_stacks))
    cli = Cli(project_dir, tmpdir)
    existing = cli.stacks()
    missing = [stack for stack in old_stacks if stack not in existing]
    if missing:
        raise ReshardError(f"no stack {', '.join(missing)} in this backend: check --stack-prefix and --from-count "
                           f"or --from-stacks (the old shard stacks named are {', '.join(old_stacks)})")

    _say(f"planning the fleet with the config of {new_stacks[0]} ({len(new_stacks)} shards, {assignment.value}) ...")
    step = time.monotonic()
    owner = owners(new_stacks[0], project_dir, tmpdir, new_stacks)
    _say(f"planned {len(owner)} objects in {time.monotonic() - step:.1f} s; reading the stacks' state ...")
    step = time.monotonic()
    exports = {stack: cli.export(stack) for stack in every_stack if stack in existing}
    _say(f"read {len(exports)} stacks in {time.monotonic() - step:.1f} s")
    held = {stack: held_objects(exported.get("deployment") or {}) for stack, exported in exports.items()}
    unmovable = [urn for exported in exports.values() for urn in unmovable_resources(exported.get("deployment") or {})]
    if unmovable:
        raise ReshardError(f"{len(unmovable)} resources are not kubernetes objects and cannot be moved by reshard yet, "
                           f"e.g. {', '.join(unmovable[:SAMPLE_SIZE])}; with clusterProfileMode: direct, keep the "
                           "shard count (feature E's statuses would be cleared) - nothing has been moved")
    busy = [f"{stack} ({key})" for stack, exported in exports.items() for key in (HANDING_OVER_OUTPUT, HANDED_OVER_OUTPUT)
            if _root_outputs(exported).get(key)]
    if busy:
        raise ReshardError(f"a hand-over between direct and events mode is under way in {', '.join(busy)}: "
                           f"run `up` on those stacks until it has finished (docs/modes.md), then reshard")
    clusters = {stack: _root_outputs(exported).get(MANAGEMENT_CLUSTER_OUTPUT) for stack, exported in exports.items()}
    if len({cluster for cluster in clusters.values() if cluster}) > 1:
        raise ReshardError("the stacks write to different management clusters ("
                           + ", ".join(f"{stack}: {cluster}" for stack, cluster in sorted(clusters.items()))
                           + "); the shards of one fleet share one cluster: check --stack-prefix or the stack names")
    moves = plan_moves(held, owner, new_stacks)
    total = sum(len(objects) for objects in held.values())
    moving = sum(len(move.objects) for move in moves)
    _say(f"{total} objects in {len(held)} stacks; {moving} change stack ({moving / total:.1%})" if total else
         "the old shard stacks hold no objects")
    for move in moves:
        sample = ", ".join(obj.name for obj in move.objects[:SAMPLE_SIZE])
        more = f" and {len(move.objects) - SAMPLE_SIZE} more" if len(move.objects) > SAMPLE_SIZE else ""
        _say(f"  {move.source} -> {move.dest}: {len(move.objects)} objects ({sample}{more})")
    if args.dry_run:
        _say("dry run: nothing moved")
        return

    from inventory.stack.driver import select_stack

    for stack in new_stacks:
        if stack not in existing:
            select_stack(stack, project_dir, tmpdir)  # creates it, with the project's secrets provider
            _say(f"created stack {stack}")
    done = 0
    for move in moves:
        for batch in batches(move.objects, batch_limit()):
            step = time.monotonic()
            try:
                cli.run("state", "move", "--source", move.source, "--dest", move.dest, "--yes",
                        *(obj.urn for obj in batch))
            except ReshardError as err:
                raise ReshardError(f"{err}\n{done} of {moving} objects had been moved. Fix the cause and run the "
                                   f"same command again: it moves what is left and settles every stack; run no "
                                   f"shard stack before it has succeeded") from None
            done += len(batch)
            _say(f"moved {len(batch)} objects {move.source} -> {move.dest} in {time.monotonic() - step:.1f} s "
                 f"({done}/{moving})")

    _settle_all(cli, every_stack, old_stacks, new_stacks, exports, layouts(old_stacks, new_stacks, assignment))
    _say(f"resharded {len(old_stacks)} -> {len(new_stacks)} shard stacks ({assignment.value}) in "
         f"{time.monotonic() - started:.1f} s: {moving} objects moved, none touched in the cluster")
    _say("next: run `up` on every shard stack (any order, or side by side); each updates its moved objects in place:")
    for stack in new_stacks:
        _say(f"  python -m inventory deploy up --stack {stack}")
    for stack in every_stack:
        if stack not in new_stacks:
            _say(f"{stack} has left the fleet and holds no object: `python -m inventory deploy destroy --stack "
                 f"{stack}` (deletes nothing in the cluster), then `pulumi stack rm {stack}` and remove "
                 f"stacks/Pulumi.{stack}.yaml")


def _root_outputs(exported: Mapping[str, Any]) -> Mapping[str, Any]:
    for resource in (exported.get("deployment") or {}).get("resources") or ():
        if resource.get("type") == ROOT_TYPE and not resource.get("parent"):
            return resource.get("outputs") or {}
    return {}


def _settle_all(cli: Cli, every_stack: Sequence[str], old_stacks: Sequence[str], new_stacks: Sequence[str],
                before: Mapping[str, Mapping[str, Any]], layout: Mapping[str, Mapping[str, Any]]) -> None:
    """Each stack's state as its next run must find it (``settle``)."""
    donor = _root_outputs(before[old_stacks[0]])
    defaults = {key: donor.get(key) for key in (MODES_OUTPUT, MANAGEMENT_CLUSTER_OUTPUT)}
    leaving: dict[str, list[str]] = {}
    for stack in old_stacks:
        if stack not in new_stacks:
            for shape_, names in (_root_outputs(before[stack]).get(PENDING_DELETIONS_OUTPUT) or {}).items():
                leaving.setdefault(shape_, []).extend(names)
    for stack in every_stack:
        step = time.monotonic()
        exported = cli.export(stack)
        if not exported.get("deployment"):
            continue
        pending = leaving if stack == new_stacks[0] else None
        exported["deployment"] = settle(exported["deployment"], layout[stack], defaults, pending)
        cli.import_(stack, exported)
        index = layout[stack].get("index")
        role = f"shard {index} of {layout[stack].get('count')}" if index is not None else "left the fleet"
        _say(f"settled {stack} in {time.monotonic() - step:.1f} s: {len(held_objects(exported['deployment']))} "
             f"objects, {role}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inventory reshard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack-prefix", help="the shard stacks are named <prefix>0, <prefix>1, ... (e.g. prod-)")
    parser.add_argument("--from-count", type=int, help="shardCount the stacks last ran with")
    parser.add_argument("--to-count", type=int, help="shardCount their config now says")
    parser.add_argument("--from-stacks", help="the old stacks by name, comma-separated in shardIndex order, "
                                              "instead of --stack-prefix and --from-count (e.g. one unsharded stack)")
    parser.add_argument("--to-stacks", help="the new stacks by name, comma-separated in shardIndex order, "
                                            "instead of --stack-prefix and --to-count")
    parser.add_argument("--dry-run", action="store_true", help="print what would move; change nothing")
    parser.add_argument("--cwd", type=Path, default=PROJECT_DIR,
                        help="project directory holding Pulumi.yaml and stacks/ (as `pulumi --cwd`)")
    args = parser.parse_args(argv)
    if (args.from_count is not None and args.from_count < 1) or (args.to_count is not None and args.to_count < 1):
        parser.error("--from-count and --to-count must be 1 or more")
    with tempfile.TemporaryDirectory(prefix="cluster-inventory-") as tmpdir:
        try:
            reshard(args, tmpdir)
        except (ReshardError, SettingsError) as err:
            print(f"reshard stopped: {err}", file=sys.stderr)
            return 1
        except Exception as err:  # an inventory read failure, from the pipeline
            from inventory.sources import InventoryReadError

            if not isinstance(err, InventoryReadError):
                raise
            print(f"reshard stopped before moving anything: {err}", file=sys.stderr)
            return 1
    return 0

