"""Deletions counted per source namespace (SPEC §9: a tenant's input can cost only that
tenant's objects): pure decisions.

Every managed object was planned from a source: the CAPI Cluster or ClusterProfile whose
namespace a tenant may write, or the stack config (events-mode objects, extras). The
deletions a run would make are grouped by that namespace, and ``maxDeletions`` caps each
group on its own. A group over the cap is held back, its objects left exactly as they are
(inventory/stack/resources.py ``declare_kept``), while the other groups' deletions, and every
create and update, go ahead. So eleven profiles deleted in one namespace hold back that
namespace's deletions and nothing else.

Two things still hold back more than one group: a run whose deletions, each group within its
cap, would remove most of what the stack manages (the shape of an inventory that reads empty
or a config that selects nothing, never of one team's changes), and ``allowMassDeletion``
unset is what both wait for. A move to another management cluster replaces every object at
once and stays a whole-run stop (``guards.check_deletion_cap``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from inventory.model import DesiredObject, Diagnostic, ObjectRef
from inventory.settings import Settings
from inventory.stack.guards import (
    Deletion,
    GuardError,
    PreviousRun,
    check_deletion_cap,
    deletion_summary,
    names_grouped_by,
)

# The group of objects planned from stack config rather than from an inventory object.
# Namespace names have no spaces, so neither group name can clash with one.
STACK_CONFIG = "stack config"
# The group of objects a run before this output existed recorded without a source.
NOT_RECORDED = "source not recorded"
# Released deletions above maxDeletions that would also remove more than this share of the
# stack's objects are held back together: no single source namespace looks wrong, the run does.
EMPTYING_SHARE = 0.5


def source_group(obj: DesiredObject) -> str:
    """The namespace of the object ``obj`` was planned from (``STACK_CONFIG`` without one)."""
    if obj.source is not None and obj.source.namespace:
        return obj.source.namespace
    return STACK_CONFIG


def objects_by_source(objects: Iterable[DesiredObject], kept: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """The ``managedObjectSources`` output: logical names grouped by ``source_group``."""
    return names_grouped_by(objects, source_group, kept)


@dataclass(frozen=True)
class HeldBack:
    """What a run deletes and what it holds back, per source group."""

    released: tuple[Deletion, ...] = ()
    held: Mapping[str, tuple[Deletion, ...]] = field(default_factory=dict)  # group -> its deletions
    emptying: bool = False  # every group held: the run as a whole would remove most of the stack

    def counts(self) -> dict[str, int]:
        """The ``heldBackDeletions`` output: group -> how many deletions wait."""
        return {group: len(deletions) for group, deletions in sorted(self.held.items())}


def group_of(deletion: Deletion, previous: PreviousRun, planned: Mapping[str, DesiredObject]) -> str:
    """A replacement belongs to its planned object's source; a removal to the source the last run recorded."""
    if deletion.logical_name in planned:
        return source_group(planned[deletion.logical_name])
    return previous.sources.get(deletion.logical_name, NOT_RECORDED)


def hold_back(deletions: Sequence[Deletion], previous: PreviousRun, planned: Sequence[DesiredObject],
              cluster: str, settings: Settings) -> HeldBack:
    """Which of ``deletions`` this run makes. Raises GuardError for a move to another management
    cluster over the cap (every object at once, whatever its source)."""
    if previous.cluster is not None and previous.cluster != cluster:
        check_deletion_cap(deletions, settings)
        return HeldBack(tuple(deletions))
    if settings.allow_mass_deletion:
        return HeldBack(tuple(deletions))
    by_name = {obj.logical_name: obj for obj in planned}
    groups: dict[str, list[Deletion]] = {}
    for deletion in deletions:
        groups.setdefault(group_of(deletion, previous, by_name), []).append(deletion)
    over = {group: tuple(found) for group, found in groups.items() if len(found) > settings.max_deletions}
    released = tuple(d for group, found in groups.items() if group not in over for d in found)
    if len(released) > settings.max_deletions and len(released) > EMPTYING_SHARE * len(previous.objects):
        return HeldBack((), {group: tuple(found) for group, found in groups.items()}, emptying=True)
    return HeldBack(released, over)


@dataclass(frozen=True)
class Kept:
    """A held-back object as the last run recorded it: declared again unchanged."""

    shape: str  # guards.shape: what resource type declares it
    group: str  # its source group, recorded again for the next run


def kept_objects(held: HeldBack, previous: PreviousRun) -> dict[str, Kept]:
    """Logical name -> ``Kept`` for every held-back object. An object recorded without its shape (by a
    version before shapes were recorded) cannot be declared again, so its group stops the run instead."""
    kept = {}
    for group, deletions in sorted(held.held.items()):
        for deletion in deletions:
            shape = previous.objects.get(deletion.logical_name) or previous.pending.get(deletion.logical_name)
            if shape is None:
                raise GuardError(
                    f"{len(deletions)} deletions from {_subject(group)} are held back, but the last run "
                    f"recorded their objects without their types, so they cannot be held back: "
                    f"{deletion_summary(deletions)}. If that is intended, run once with "
                    f"`pulumi config set cluster-inventory:allowMassDeletion true` (or raise maxDeletions)")
            kept[deletion.logical_name] = Kept(shape, group)
    return kept


def _subject(group: str) -> ObjectRef:
    if group in (STACK_CONFIG, NOT_RECORDED):
        return ObjectRef("Objects", None, f"from {group}")
    return ObjectRef("Namespace", None, group)


LET_GO = ("they stay exactly as they are and the rest of the run goes ahead. If the deletions are intended, "
          "run once with `pulumi config set cluster-inventory:allowMassDeletion true` (or raise maxDeletions); "
          "if not, check that source namespace's inventory objects and the config")


def diagnostics(held: HeldBack, settings: Settings, managed: int) -> list[Diagnostic]:
    """One warning per held-back group, naming it, the count, the cap and how to let them go."""
    result = []
    total = sum(len(found) for found in held.held.values())
    for group, found in sorted(held.held.items()):
        if held.emptying:
            why = (f"{len(found)} deletions held back with every other source's: this run would delete {total} of "
                   f"the {managed} objects the stack manages, each source within maxDeletions "
                   f"({settings.max_deletions}), as an inventory that reads empty or a config that selects nothing "
                   f"would")
        else:
            why = (f"{len(found)} deletions held back: more than maxDeletions ({settings.max_deletions}) "
                   f"for one source namespace (a replacement deletes the object before creating it again)")
        result.append(Diagnostic(_subject(group), f"{why}: {deletion_summary(found)}; {LET_GO}"))
    return result
