"""Change a sharded fleet's ``shardCount`` or ``shardAssignment`` with no outage.

    python -m inventory reshard --stack-prefix prod- --from-count 2 --to-count 3 [--dry-run]
    python -m inventory reshard --from-stacks prod --to-stacks prod-0,prod-1,prod-2   # names of your own

Edit the shard stacks' config first (every new stack, ``<prefix>0`` .. ``<prefix><to-count - 1>``
or those ``--to-stacks`` names, has ``shardCount: <to-count>``, its own ``shardIndex`` and one
``shardAssignment``). The command then, for every object in the state of the old shard stacks,
finds the stack that declares it under the new config and moves its state there with
``pulumi state move``, together with what the program declares beside it (a ClusterProfile's
status, feature E): no object in the cluster is touched, so the next ``up`` of each stack
updates the moved objects in place (their owner stamp) and no consumer sees a DELETE. Then it
settles each stack for its next run: the moved resources hang under the stack's own
``InventoryObjects`` component (type ``COMPONENT_TYPE``), as the program declares them, and the outputs the guards read (the
objects a stack manages, its shard layout) say what the state now holds. ``--dry-run`` prints
what would move and changes nothing.

While it works, no shard stack runs: it holds each stack's lock (a `file://` backend,
``inventory/stack/locks.py``) and marks each state (``resharding``), so an `up` fails at the
lock or stops at its first guard. Stopped part-way (an error, a killed job), it says so, the
marks stay, and the same command run again carries on from the states as they are.

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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from inventory import invoked_as
from inventory.settings import CONFIG_NAMESPACE, Settings, SettingsError, ShardAssignment
from inventory.stack.backend import backend_url, local_root
from inventory.stack.driver import (
    cli_environment,
    project_name,
    project_problem,
    pulumi_command,
    select_stack,
)
from inventory.stack.guards import (
    HANDED_OVER_OUTPUT,
    HANDING_OVER_OUTPUT,
    MANAGED_OBJECTS_OUTPUT,
    MANAGEMENT_CLUSTER_OUTPUT,
    MODES_OUTPUT,
    PENDING_DELETIONS_OUTPUT,
    RESHARDING_OUTPUT,
    SHARDS_OUTPUT,
    SOURCES_OUTPUT,
    PreviousRun,
    shape,
    shard_layout,
)
from inventory.stack.locks import StackLockError, StackLocks

CONFIG_PREFIX = f"{CONFIG_NAMESPACE}:"
# What the program declares (inventory/stack/program.py): every object under one component.
ROOT_TYPE = "pulumi:pulumi:Stack"
COMPONENT_TYPE = "cluster-inventory:index:Inventory"
COMPONENT_NAME = "inventory"
PROVIDER_PREFIX = "pulumi:providers:"
# Each `pulumi state move` reads and writes both stacks' whole state (seconds at thousands of
# objects), so as many URNs go in one as fit, up to this many characters, and never more than
# half of what the kernel allows a command line and its environment (ARG_MAX, usually 2 MiB).
MOVE_BATCH_CHARS = 1_000_000
# How many object names the plan prints per move before "and N more".
SAMPLE_SIZE = 3
# How an exported state marks a secret value (its ciphertext sits beside it).
SECRET_SIGNATURE = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
# How the CLI says a stack is busy: a self-managed backend's lock file, Pulumi Cloud's update in progress.
LOCKED_MESSAGES = ("is currently locked", "currently in progress")
# How long the command waits, by default, for a run that holds a shard stack to end.
LOCK_TIMEOUT_S = 300.0
LOCK_POLL_S = 1.0


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


def _name(resource: Mapping[str, Any]) -> str:
    return str(resource["urn"]).rsplit("::", 1)[-1]


def _is_stack_or_component(resource: Mapping[str, Any]) -> bool:
    return resource.get("type") == COMPONENT_TYPE or (resource.get("type") == ROOT_TYPE and not resource.get("parent"))


def classify(deployment: Mapping[str, Any]) -> tuple[dict[str, Held], list[Mapping[str, Any]]]:
    """The kubernetes objects in an exported deployment, by logical name, each with its companions;
    and the resources that belong to none of them (the command refuses those: ``unmovable_message``).

    A resource that is neither a kubernetes object nor a provider, the stack or its component
    belongs to the object it is named after: the program names what it declares beside an
    object ``<the object's logical name>/<part>`` (a ClusterProfile's status is
    ``ClusterProfile/ns/name/status``, whatever resource type and provider write it). Failing
    that, it belongs to the one kubernetes object it depends on. It moves with that object, in
    the same `pulumi state move`, so its dependency on the object survives the move."""
    resources = [r for r in deployment.get("resources") or () if not r.get("delete")]
    held: dict[str, Held] = {}
    for resource in resources:
        if str(resource.get("type", "")).startswith("kubernetes:"):
            inputs = resource.get("inputs") or {}
            name = _name(resource)
            held[name] = Held(str(resource["urn"]), name,
                              shape(str(inputs.get("apiVersion")), str(inputs.get("kind")), inputs))
    by_urn = {obj.urn: name for name, obj in held.items()}
    companions: dict[str, list[str]] = {}
    unmovable = []
    for resource in resources:
        kind = str(resource.get("type", ""))
        if kind.startswith(("kubernetes:", PROVIDER_PREFIX)) or _is_stack_or_component(resource):
            continue
        owner = _name(resource).rsplit("/", 1)[0]
        if owner not in held:
            depended = {by_urn[urn] for urn in resource.get("dependencies") or () if urn in by_urn}
            owner = depended.pop() if len(depended) == 1 else ""
        if owner:
            companions.setdefault(owner, []).append(str(resource["urn"]))
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


def resolve_duplicates(held: Mapping[str, Mapping[str, Held]], owner: Mapping[str, str]
                       ) -> tuple[dict[str, dict[str, Held]], dict[str, list[Held]]]:
    """An object in the state of two stacks (a `pulumi state move` killed between its two saves
    leaves it in both) stays in the one that declares it under the new layout; the other copies
    are forgotten (removed from their state, not deleted: both copies track the same object, and
    a stack holding one it does not declare would delete it). Returns ``held`` without them and
    the copies to forget, by stack; ``plan_moves`` refuses any other object held twice."""
    holders: dict[str, list[str]] = {}
    for stack, objects in held.items():
        for name in objects:
            holders.setdefault(name, []).append(stack)
    kept = {stack: dict(objects) for stack, objects in held.items()}
    forget: dict[str, list[Held]] = {}
    for name, stacks in holders.items():
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


def settle(deployment: dict[str, Any], layout: Mapping[str, Any], defaults: Mapping[str, Any],
           pending: Mapping[str, list[str]] | None = None, forget: Collection[str] = (),
           nested_providers: Collection[str] = (), sources: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``deployment`` ready for the program's next run: what ``pulumi state move`` left under the
    root stack hangs under the ``InventoryObjects`` component (type ``COMPONENT_TYPE``) (created if the stack has none), as the
    program declares it, so URNs are the ones the program declares, and every reference to a
    renamed URN (parent, dependencies, provider) follows; a provider stays under the root unless
    its ``type::name`` is in ``nested_providers`` (the program declares it under the component).
    The root's outputs list the objects the state holds, record ``layout`` and no longer say a
    reshard is under way. ``defaults`` fills outputs the stack has not written yet (a new stack);
    ``pending`` adds deletions that a stack leaving the fleet had still to check; the resources
    whose URNs are in ``forget`` leave the state (``resolve_duplicates``); ``sources`` (logical name ->
    source namespace, from every stack's outputs) keeps each object's source namespace recorded, so
    the next run counts its deletions where they belong (inventory/stack/holdback.py)."""
    resources: list[dict[str, Any]] = [r for r in deployment.get("resources") or [] if r.get("urn") not in forget]
    root = _root(resources)
    if root is None:
        raise ReshardError("the stack has no root resource; run `pulumi stack export` to inspect it")
    stack_part, project = str(root["urn"]).split("::")[0].removeprefix("urn:pulumi:"), str(root["urn"]).split("::")[1]
    component_urn = f"urn:pulumi:{stack_part}::{project}::{COMPONENT_TYPE}::{COMPONENT_NAME}"

    def moved_out_from_under_component(resource: Mapping[str, Any]) -> bool:
        if resource.get("parent") != root["urn"] or _is_stack_or_component(resource):
            return False
        kind = str(resource.get("type", ""))
        return not kind.startswith(PROVIDER_PREFIX) or f"{kind}::{_name(resource)}" in nested_providers

    orphans = [r for r in resources if moved_out_from_under_component(r)]
    if orphans and not any(r.get("urn") == component_urn for r in resources):
        component = {"urn": component_urn, "custom": False, "type": COMPONENT_TYPE, "parent": root["urn"]}
        resources.insert(resources.index(root) + 1, component)
    renamed = {}
    for resource in orphans:
        urn = f"urn:pulumi:{stack_part}::{project}::{COMPONENT_TYPE}${resource['type']}::{_name(resource)}"
        renamed[str(resource["urn"])] = urn
        resource["parent"], resource["urn"] = component_urn, urn
    if renamed:
        for resource in resources:
            _follow(resource, renamed)
    outputs = dict(root.get("outputs") or {})
    for key, value in defaults.items():
        if outputs.get(key) is None:
            outputs[key] = value
    managed: dict[str, list[str]] = {}
    deployment["resources"] = resources
    for obj in sorted(held_objects(deployment).values(), key=lambda o: o.name):
        managed.setdefault(obj.shape, []).append(obj.name)
    outputs[MANAGED_OBJECTS_OUTPUT] = dict(sorted(managed.items()))
    if sources is not None:
        grouped: dict[str, list[str]] = {}
        for name in sorted(n for names in managed.values() for n in names if n in sources):
            grouped.setdefault(sources[name], []).append(name)
        outputs[SOURCES_OUTPUT] = dict(sorted(grouped.items()))
    outputs[SHARDS_OUTPUT] = dict(layout)
    outputs.pop(RESHARDING_OUTPUT, None)
    if pending:
        merged = {k: list(v) for k, v in (outputs.get(PENDING_DELETIONS_OUTPUT) or {}).items()}
        for shape_, names in pending.items():
            merged[shape_] = sorted({*merged.get(shape_, []), *names})
        outputs[PENDING_DELETIONS_OUTPUT] = dict(sorted(merged.items()))
    root["outputs"] = outputs
    return deployment


def _root(resources: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    return next((r for r in resources if r.get("type") == ROOT_TYPE and not r.get("parent")), None)


def _follow(resource: dict[str, Any], renamed: Mapping[str, str]) -> None:
    """``resource``'s references to the URNs in ``renamed`` rewritten to their new URNs."""
    if resource.get("parent") in renamed:
        resource["parent"] = renamed[resource["parent"]]
    if resource.get("deletedWith") in renamed:
        resource["deletedWith"] = renamed[resource["deletedWith"]]
    for key in ("dependencies", "replaceWith"):
        if resource.get(key):
            resource[key] = [renamed.get(urn, urn) for urn in resource[key]]
    if resource.get("propertyDependencies"):
        resource["propertyDependencies"] = {prop: [renamed.get(urn, urn) for urn in urns or []]
                                            for prop, urns in resource["propertyDependencies"].items()}
    provider = str(resource.get("provider") or "")
    urn, _, id_ = provider.rpartition("::")
    if urn in renamed:
        resource["provider"] = f"{renamed[urn]}::{id_}"


def nested_providers(exports: Iterable[Mapping[str, Any]]) -> set[str]:
    """``type::name`` of each provider the program declares under the ``InventoryObjects`` component (type ``COMPONENT_TYPE``) (in any stack)."""
    found = set()
    for exported in exports:
        resources = (exported.get("deployment") or {}).get("resources") or ()
        components = {r.get("urn") for r in resources if r.get("type") == COMPONENT_TYPE}
        found |= {f"{r['type']}::{_name(r)}" for r in resources
                  if str(r.get("type", "")).startswith(PROVIDER_PREFIX) and r.get("parent") in components}
    return found


def mark(exported: dict[str, Any], stack: str, project: str, marker: Mapping[str, Any] | None) -> dict[str, Any]:
    """``exported`` (a `pulumi stack export`) with the ``resharding`` output set to ``marker``, or
    without it (None). A stack with no state yet gets the root stack resource that holds it, as
    `pulumi state move` would create it."""
    deployment = exported.get("deployment") or {}
    resources = list(deployment.get("resources") or [])
    root = _root(resources)
    if root is None:
        if marker is None:
            return exported
        root = {"urn": f"urn:pulumi:{stack}::{project}::{ROOT_TYPE}::{project}-{stack}", "custom": False,
                "type": ROOT_TYPE}
        resources.insert(0, root)
        deployment.setdefault("manifest", {"time": datetime.now(UTC).isoformat(), "magic": "", "version": ""})
    outputs = dict(root.get("outputs") or {})
    if marker is None:
        outputs.pop(RESHARDING_OUTPUT, None)
    else:
        outputs[RESHARDING_OUTPUT] = dict(marker)
    root["outputs"] = outputs
    deployment["resources"] = resources
    return {**exported, "version": exported.get("version", 3), "deployment": deployment}


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


def planning_stack(new_stacks: Sequence[str], old_stacks: Sequence[str], existing: Collection[str],
                   dry_run: bool) -> str:
    """The stack whose config plans the fleet: the first new one. Reading a stack's config needs the
    stack, so a dry run, which creates none, takes the first new or else old stack that exists
    (``owners`` gives it the new stacks' shardCount and shardAssignment)."""
    if not dry_run or new_stacks[0] in existing:
        return new_stacks[0]
    return next(stack for stack in [*new_stacks, *old_stacks] if stack in existing)


def owners(stack: str, project_dir: Path, tmpdir: str, new_stacks: Sequence[str],
           assignment: ShardAssignment) -> dict[str, str]:
    """Logical name -> the new stack that declares it, from the whole plan made with ``stack``'s config."""
    from inventory.model import Severity
    from inventory.pipeline import compute_plan
    from inventory.plan import shard_of
    from inventory.stack.resources import settings_from_config, utcnow

    config = select_stack(stack, project_dir, tmpdir).get_all_config()
    settings: Settings = settings_from_config({key: value.value for key, value in config.items()})
    settings = replace(settings, shard_count=len(new_stacks), shard_assignment=assignment)
    whole = compute_plan(replace(settings, shard_count=1, shard_index=0), utcnow())
    errors = [d for d in whole.diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise ReshardError("the inventory has errors (the shard stacks would not run either); fix them first:\n"
                           + "\n".join(str(d) for d in errors))
    return {o.logical_name: new_stacks[shard_of(o.source, settings.shard_count, settings.shard_assignment)]
            for o in whole.objects}


def _say(line: str) -> None:
    print(line, flush=True)


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SECRET_SIGNATURE[0]) == SECRET_SIGNATURE[1]


def align_providers(deployment: Mapping[str, Any], canonical: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Give each provider in ``deployment`` the plain inputs its namesake has in the other stacks.

    `pulumi state move` puts a moved resource on the destination's provider of the same URN
    only when that provider has the same ID or the same inputs; otherwise it refuses ("provider
    ... already exists in destination stack"). A default provider's inputs hold the stack's
    own config (the `pulumi-python` provider of dynamic resources, feature E's statuses, gets all
    of it), and ``shardIndex`` differs from shard to shard. So, for the moves, every stack's
    provider of a given ``type::name`` takes the plain (non-secret) inputs of the first stack
    seen with it (``canonical``, filled in as stacks come); a secret input keeps the stack's own
    ciphertext (one stack cannot read another's; `state move` compares the plain values).
    Returns the inputs changed, by ``type::name``, for ``settle`` to put back."""
    originals: dict[str, dict[str, Any]] = {}
    for resource in deployment.get("resources") or ():
        if not str(resource.get("type", "")).startswith(PROVIDER_PREFIX) or resource.get("delete"):
            continue
        key = f"{resource['type']}::{_name(resource)}"
        inputs = dict(resource.get("inputs") or {})
        if key not in canonical:
            canonical[key] = inputs
            continue
        aligned = {name: inputs[name] if _is_secret(value) or _is_secret(inputs.get(name)) else value
                   for name, value in canonical[key].items()
                   if name in inputs or not _is_secret(value)}
        if aligned != inputs:
            originals[key] = inputs
            resource["inputs"] = aligned
    return originals


def restore_providers(deployment: Mapping[str, Any], originals: Mapping[str, Mapping[str, Any]]) -> None:
    """The inputs ``align_providers`` changed, put back (a provider copied in keeps what it came with)."""
    for resource in deployment.get("resources") or ():
        key = f"{resource.get('type')}::{_name(resource)}"
        if str(resource.get("type", "")).startswith(PROVIDER_PREFIX) and key in originals:
            resource["inputs"] = dict(originals[key])


class Marks:
    """Marking each stack's state for the reshard (``mark``, ``align_providers``), and unmarking it."""

    def __init__(self, project: str, marker: Mapping[str, Any]) -> None:
        self.project = project
        self.marker = marker
        self.canonical: dict[str, dict[str, Any]] = {}
        self.originals: dict[str, dict[str, dict[str, Any]]] = {}

    def marking(self, stack: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def change(exported: dict[str, Any]) -> dict[str, Any]:
            marked = mark(exported, stack, self.project, self.marker)
            self.originals[stack] = align_providers(marked.get("deployment") or {}, self.canonical)
            return marked
        return change

    def unmarking(self, stack: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def change(exported: dict[str, Any]) -> dict[str, Any]:
            restore_providers(exported.get("deployment") or {}, self.originals.get(stack, {}))
            return mark(exported, stack, self.project, None)
        return change


def _command(args: argparse.Namespace) -> str:
    """The command line that runs this reshard again (what the marker and the messages name)."""
    parts = ["python -m inventory reshard"]
    for flag, value in (("--stack-prefix", args.stack_prefix), ("--from-count", args.from_count),
                        ("--to-count", args.to_count), ("--from-stacks", args.from_stacks),
                        ("--to-stacks", args.to_stacks)):
        if value is not None:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def _locked(err: Exception) -> bool:
    return any(message in str(err) for message in LOCKED_MESSAGES)


class Writer:
    """Every write of this command to a stack's state, made while it holds that stack.

    Between its own writes the command holds each stack's lock (``StackLocks``, a `file://`
    backend); a write lifts it for the stacks it writes. A run that takes a stack's lock in that
    gap makes the write fail as locked: the write waits for the run to end (it stops at the
    ``resharding`` marker, or at its layout guard) and is made again from the state as it is then."""

    def __init__(self, cli: Cli, locks: StackLocks, poll: float = LOCK_POLL_S) -> None:
        self.cli = cli
        self.locks = locks
        self.poll = poll

    def _retrying(self, stacks: Sequence[str], write: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + self.locks.timeout
        waiting = False
        while True:
            with self.locks.released(stacks):
                try:
                    return write()
                except ReshardError as err:
                    if not _locked(err) or time.monotonic() >= deadline:
                        raise
            if not waiting:
                _say(f"stack {' or '.join(stacks)} is locked by a run; waiting for it to end ...")
                waiting = True
            time.sleep(self.poll)

    def update(self, stack: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Export ``stack``, apply ``change`` and import the result; returns what was imported.
        Exported again on every attempt: an import of an older export would undo a run's update."""
        def write() -> dict[str, Any]:
            changed = change(self.cli.export(stack))
            self.cli.import_(stack, changed)
            return changed
        result: dict[str, Any] = self._retrying([stack], write)
        return result

    def move(self, source: str, dest: str, urns: Sequence[str]) -> None:
        self._retrying([source, dest], lambda: self.cli.run("state", "move", "--source", source, "--dest", dest,
                                                            "--yes", *urns))


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

    planner = planning_stack(new_stacks, old_stacks, existing, args.dry_run)
    _say(f"planning the fleet with the config of {planner} ({len(new_stacks)} shards, {assignment.value}) ...")
    step = time.monotonic()
    owner = owners(planner, project_dir, tmpdir, new_stacks, assignment)
    _say(f"planned {len(owner)} objects in {time.monotonic() - step:.1f} s")
    present = [stack for stack in every_stack if stack in existing]
    if args.dry_run:
        exports = {stack: cli.export(stack) for stack in present}
        _plan(exports, owner, new_stacks)
        _say("dry run: nothing moved")
        return

    project = project_name(project_dir)
    locks = StackLocks(local_root(backend_url(cli.env)), project, args.lock_timeout, _say)
    writer = Writer(cli, locks)
    marks = Marks(project, {"command": _command(args), "started": datetime.now(UTC).isoformat(timespec="seconds")})
    try:
        # From here until each stack is settled, no run of a shard stack may find its state:
        # its lock says so to `up`, `refresh` and `destroy`, the marker to the program itself.
        step = time.monotonic()
        locks.acquire(present)
        exports = {stack: writer.update(stack, marks.marking(stack)) for stack in present}
        _say(f"locked and marked {len(present)} stacks, reading their state, in {time.monotonic() - step:.1f} s")
        try:
            moves, forget = _plan(exports, owner, new_stacks)
        except ReshardError:
            for stack in present:
                writer.update(stack, marks.unmarking(stack))
            raise
        for stack in new_stacks:
            if stack not in existing:
                select_stack(stack, project_dir, tmpdir)  # creates it, with the project's secrets provider
                locks.acquire([stack])
                writer.update(stack, marks.marking(stack))
                _say(f"created stack {stack}")
        moving = sum(len(move.objects) for move in moves)
        done = 0
        for move in moves:
            for batch in batches(move.objects, batch_limit()):
                step = time.monotonic()
                try:
                    writer.move(move.source, move.dest, [urn for obj in batch for urn in obj.urns])
                except ReshardError as err:
                    raise ReshardError(f"{err}\n{done} of {moving} objects had been moved. Fix the cause and run the "
                                       f"same command again: it moves what is left and settles every stack; until "
                                       f"then every shard stack refuses to run") from None
                done += len(batch)
                _say(f"moved {len(batch)} objects {move.source} -> {move.dest} in {time.monotonic() - step:.1f} s "
                     f"({done}/{moving})")

        _settle_all(writer, every_stack, old_stacks, new_stacks, exports, layouts(old_stacks, new_stacks, assignment),
                    forget, marks.originals)
    finally:
        locks.release()
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


def _plan(exports: Mapping[str, Mapping[str, Any]], owner: Mapping[str, str], new_stacks: Sequence[str]
          ) -> tuple[list[Move], dict[str, list[Held]]]:
    """What moves where, printed; refuses (ReshardError) what the command cannot do."""
    classified = {stack: classify(exported.get("deployment") or {}) for stack, exported in exports.items()}
    unmovable = {stack: [str(r["urn"]) for r in left] for stack, (_, left) in classified.items() if left}
    if unmovable:
        raise ReshardError(unmovable_message(unmovable))
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
    held, forget = resolve_duplicates({stack: objects for stack, (objects, _) in classified.items()}, owner)
    moves = plan_moves(held, owner, new_stacks)
    total = sum(len(objects) for objects in held.values())
    moving = sum(len(move.objects) for move in moves)
    companions = sum(len(obj.companions) for move in moves for obj in move.objects)
    _say(f"{total} objects in {len(held)} stacks; {moving} change stack ({moving / total:.1%})"
         + (f", with {companions} resources that belong to them" if companions else "") if total else
         "the old shard stacks hold no objects")
    for move in moves:
        sample = ", ".join(obj.name for obj in move.objects[:SAMPLE_SIZE])
        more = f" and {len(move.objects) - SAMPLE_SIZE} more" if len(move.objects) > SAMPLE_SIZE else ""
        _say(f"  {move.source} -> {move.dest}: {len(move.objects)} objects ({sample}{more})")
    for stack, copies in sorted(forget.items()):
        _say(f"  {stack} forgets {len(copies)} objects another stack holds and declares (a move stopped between "
             f"its two saves): {', '.join(obj.name for obj in copies[:SAMPLE_SIZE])}")
    return moves, forget


def _root_outputs(exported: Mapping[str, Any]) -> Mapping[str, Any]:
    root = _root((exported.get("deployment") or {}).get("resources") or ())
    return (root or {}).get("outputs") or {}


def _settle_all(writer: Writer, every_stack: Sequence[str], old_stacks: Sequence[str], new_stacks: Sequence[str],
                before: Mapping[str, Mapping[str, Any]], layout: Mapping[str, Mapping[str, Any]],
                forget: Mapping[str, Sequence[Held]], providers: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
    """Each stack's state as its next run must find it (``settle``); each is let go when settled."""
    donor = _root_outputs(before[old_stacks[0]])
    defaults = {key: donor.get(key) for key in (MODES_OUTPUT, MANAGEMENT_CLUSTER_OUTPUT)}
    nested = nested_providers(before.values())
    sources = {name: group for exported in before.values()
               for name, group in PreviousRun.from_outputs(_root_outputs(exported)).sources.items()}
    leaving: dict[str, list[str]] = {}
    for stack in old_stacks:
        if stack not in new_stacks:
            for shape_, names in (_root_outputs(before[stack]).get(PENDING_DELETIONS_OUTPUT) or {}).items():
                leaving.setdefault(shape_, []).extend(names)
    for stack in every_stack:
        step = time.monotonic()
        pending = leaving if stack == new_stacks[0] else None
        dropped = {urn for obj in forget.get(stack, ()) for urn in obj.urns}

        def change(exported: dict[str, Any], stack: str = stack, pending: Mapping[str, list[str]] | None = pending,
                   dropped: set[str] = dropped) -> dict[str, Any]:
            if exported.get("deployment"):
                restore_providers(exported["deployment"], providers.get(stack, {}))
                exported["deployment"] = settle(exported["deployment"], layout[stack], defaults, pending, dropped,
                                                nested, sources)
            return exported

        settled = writer.update(stack, change)
        writer.locks.release([stack])
        index = layout[stack].get("index")
        role = f"shard {index} of {layout[stack].get('count')}" if index is not None else "left the fleet"
        _say(f"settled {stack} in {time.monotonic() - step:.1f} s: "
             f"{len(held_objects(settled.get('deployment') or {}))} objects, {role}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"{invoked_as()} reshard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack-prefix", help="the shard stacks are named <prefix>0, <prefix>1, ... (e.g. prod-)")
    parser.add_argument("--from-count", type=int, help="shardCount the stacks last ran with")
    parser.add_argument("--to-count", type=int, help="shardCount their config now says")
    parser.add_argument("--from-stacks", help="the old stacks by name, comma-separated in shardIndex order, "
                                              "instead of --stack-prefix and --from-count (e.g. one unsharded stack)")
    parser.add_argument("--to-stacks", help="the new stacks by name, comma-separated in shardIndex order, "
                                            "instead of --stack-prefix and --to-count")
    parser.add_argument("--dry-run", action="store_true", help="print what would move; change nothing")
    parser.add_argument("--lock-timeout", type=float, default=LOCK_TIMEOUT_S,
                        help="seconds to wait for a run that holds a shard stack to end (default %(default)s)")
    parser.add_argument("--cwd", type=Path, default=Path("."),
                        help="project directory holding Pulumi.yaml and stacks/ (as `pulumi --cwd`; "
                             "default: the current directory)")
    args = parser.parse_args(argv)
    if (args.from_count is not None and args.from_count < 1) or (args.to_count is not None and args.to_count < 1):
        parser.error("--from-count and --to-count must be 1 or more")
    problem = project_problem(args.cwd.resolve())
    if problem:  # the CLI would refuse every command of the move, after the stacks were locked
        print(f"reshard stopped before moving anything: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cluster-inventory-") as tmpdir:
        try:
            reshard(args, tmpdir)
        except (ReshardError, SettingsError, StackLockError) as err:
            print(f"reshard stopped: {err}", file=sys.stderr)
            return 1
        except Exception as err:  # an inventory read failure, from the pipeline
            from inventory.sources import InventoryReadError

            if not isinstance(err, InventoryReadError):
                raise
            print(f"reshard stopped before moving anything: {err}", file=sys.stderr)
            return 1
    return 0

