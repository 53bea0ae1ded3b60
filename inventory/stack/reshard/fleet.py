"""The shard stacks of a fleet before and after the reshard, read from the command line and the
new stacks' config, and which new stack declares each object."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from inventory.settings import CONFIG_NAMESPACE, Settings, ShardAssignment
from inventory.stack.driver import select_stack
from inventory.stack.reshard.moves import ReshardError

# How a key is spelled in a stack's config file.
CONFIG_PREFIX = f"{CONFIG_NAMESPACE}:"


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
