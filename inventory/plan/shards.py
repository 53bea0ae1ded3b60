"""Splitting one fleet across several stacks (docs/sizing.md): which objects a shard declares.

Every object belongs to the shard its source object (the CAPI Cluster or ClusterProfile it
was planned from) is assigned to, so all objects of one cluster stay together, the assignment
is the same on every machine and every run, and a cluster that joins or leaves moves no other.
Objects without a source (the Event Framework objects) and diagnostics without a subject go
to shard 0. Planning itself always sees the whole inventory, so clashes and ClusterSet
decisions are the same in every shard; only what is declared is split.

The assignment is rendezvous hashing (highest random weight): each source scores every
shard and takes the best. Adding shard N moves only the sources whose best score is N's,
about 1/(N+1) of them, and removing the last shard moves only its own; SHA-256 mod N (the
assignment before ``shardAssignment`` existed, kept as ``modulo``) moves most of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime

from inventory.credentials import REFRESH_AT_ANNOTATION
from inventory.model import DesiredObject, ObjectRef
from inventory.plan.compose import Plan
from inventory.settings import Settings, ShardAssignment


def shard_of(source: ObjectRef | None, count: int, assignment: ShardAssignment = ShardAssignment.RENDEZVOUS) -> int:
    """The shard (0 <= shard < count) that declares what ``source`` produces."""
    if source is None or count == 1:
        return 0
    key = hashlib.sha256(str(source).encode("utf-8"))
    if assignment is ShardAssignment.MODULO:
        return int.from_bytes(key.digest()[:8], "big") % count
    return max(range(count), key=lambda shard: _score(key, shard))


def _score(key: hashlib._Hash, shard: int) -> bytes:
    """The weight of ``shard`` for the source hashed into ``key``: uniform, and independent per shard."""
    scored = key.copy()
    scored.update(shard.to_bytes(4, "big"))
    return scored.digest()


def in_shard(objects: tuple[DesiredObject, ...], settings: Settings) -> tuple[DesiredObject, ...]:
    """The ``objects`` that the shard ``settings.shard_index`` of ``settings.shard_count`` declares."""
    if settings.shard_count == 1:
        return objects
    return tuple(o for o in objects if _settings_shard(o.source, settings) == settings.shard_index)


def _settings_shard(source: ObjectRef | None, settings: Settings) -> int:
    return shard_of(source, settings.shard_count, settings.shard_assignment)


def select_shard(plan: Plan, settings: Settings) -> Plan:
    """The part of ``plan`` that the shard ``settings.shard_index`` of ``settings.shard_count`` declares."""
    if settings.shard_count == 1:
        return plan
    mine = in_shard(plan.objects, settings)
    diagnostics = tuple(d for d in plan.diagnostics
                        if _settings_shard(d.subject, settings) == settings.shard_index)
    used = {obj.grant for obj in mine if obj.grant}  # a grant goes where the objects waiting for it go
    return replace(plan, objects=mine, diagnostics=diagnostics, refresh_due=_refresh_due(mine),
                   grants=tuple(grant for grant in plan.grants if grant.logical_name in used))


def _refresh_due(objects: tuple[DesiredObject, ...]) -> datetime | None:
    """The earliest exec-credential refresh among ``objects`` (stored on their Secrets)."""
    due = [datetime.fromisoformat(o.annotations[REFRESH_AT_ANNOTATION])
           for o in objects if REFRESH_AT_ANNOTATION in o.annotations]
    return min(due, default=None)
