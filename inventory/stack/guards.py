"""The guards a run passes before it declares anything (SPEC §4, §8): pure decisions.

What consumers feel is a DELETE, whatever Pulumi calls the step: an object that leaves
the inventory is deleted, and an object whose replacement trigger changed is deleted and
created again (same name, new UID). ``planned_deletions`` finds both against what the
last run recorded (``PreviousRun``), so the deletion cap counts every one and can say why.

The replacement triggers are those of pulumi-kubernetes 4.25 with ``enableSecretMutable``
and ``enableConfigMapMutable`` set (inventory/stack/resources.py sets both): a resource's type token
(its apiVersion and kind), a Secret's ``type``, an object marked ``immutable``, and the
provider's ``clusterIdentifier`` (the management cluster). Data, labels and annotations
update in place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inventory.model import DesiredObject, Diagnostic
from inventory.settings import Settings, ShardAssignment

# The outputs each run writes (inventory/stack/resources.py) and the next reads back (PreviousRun): every
# object the stack manages, grouped by shape, to count deletions and replacements and to tell
# adoption from creation; the deletions the run makes, in case it fails before making them; the
# cluster it wrote to; the modes it had (a switch between direct and events); the objects it
# waits for Sveltos to write, and those it handed to Sveltos (inventory/plan/handover.py).
MANAGED_OBJECTS_OUTPUT = "managedObjects"
PENDING_DELETIONS_OUTPUT = "pendingDeletions"
MANAGEMENT_CLUSTER_OUTPUT = "managementCluster"
MODES_OUTPUT = "modes"
HANDING_OVER_OUTPUT = "handingOver"
HANDED_OVER_OUTPUT = "handedOver"
# Every managed object's source namespace (inventory/stack/holdback.py), so that the next run
# counts a deletion against the namespace of the Cluster or ClusterProfile it was planned from.
SOURCES_OUTPUT = "managedObjectSources"
# The deletions this run held back, per source namespace (holdback.HeldBack.counts).
HELD_BACK_OUTPUT = "heldBackDeletions"
# The shard this stack declares (``shard_layout``): a run whose config names another layout
# would delete what other shards now declare, so it stops until the state has been moved.
SHARDS_OUTPUT = "shards"
# Set by `python -m inventory reshard` in every stack it moves state between, from before its first
# move until it has settled them all: a run in between would find objects half moved (deleting
# those its state no longer holds, or creating those it holds twice), so it stops. A run's own
# outputs never include it; reshard removes it when it has finished.
RESHARDING_OUTPUT = "resharding"

# How many objects a guard message names before it says "and N more".
SAMPLE_SIZE = 5


class GuardError(Exception):
    """The run would do something dangerous; nothing has been declared."""


def shape_of(obj: DesiredObject) -> str:
    """What decides whether a change to ``obj`` replaces it: apiVersion, kind, and a Secret's type."""
    return shape(obj.api_version, obj.kind, obj.fields)


def shape(api_version: str, kind: str, fields: Mapping[str, Any]) -> str:
    """``shape_of`` an object given as apiVersion, kind and its other top-level fields (a planned
    object's, or a deployed one's inputs as the state holds them)."""
    result = f"{api_version} {kind}"
    if kind == "Secret" and api_version == "v1":
        result += f" {fields.get('type') or 'Opaque'}"
    if fields.get("immutable"):
        result += " immutable"
    return result


def grouped_names(groups: Mapping[str, str]) -> dict[str, list[str]]:
    """Logical names grouped by their group in ``groups`` (name -> group), groups and names sorted:
    an output the next run reads back."""
    grouped: dict[str, list[str]] = {}
    for name, group in sorted(groups.items()):
        grouped.setdefault(group, []).append(name)
    return dict(sorted(grouped.items()))


def names_grouped_by(objects: Iterable[DesiredObject], group_of: Callable[[DesiredObject], str],
                     kept: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Logical names grouped by ``group_of``, with ``kept`` (name -> group: objects declared as they
    were) added (``grouped_names``)."""
    return grouped_names({**{obj.logical_name: group_of(obj) for obj in objects}, **(kept or {})})


def objects_by_shape(objects: Iterable[DesiredObject], kept: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """The ``managedObjects`` output: logical names grouped by shape."""
    return names_grouped_by(objects, shape_of, kept)


@dataclass(frozen=True)
class PreviousRun:
    """What the last run recorded in its outputs (empty for a new stack)."""

    objects: Mapping[str, str | None] = field(default_factory=dict)  # logical name -> shape (None: unknown)
    pending: Mapping[str, str | None] = field(default_factory=dict)  # deletions that run had still to do
    cluster: str | None = None  # the management cluster it wrote to
    modes: Mapping[str, str] = field(default_factory=dict)  # feature -> direct/events/off ("push", "sveltos", ...)
    handed_over: frozenset[str] = frozenset()  # objects it handed to Sveltos: forgotten, never deleted
    handing_over: frozenset[str] = frozenset()  # objects it was still waiting for Sveltos to write
    shards: Mapping[str, Any] | None = None  # the shard_layout it declared (None: not recorded)
    resharding: Mapping[str, Any] | None = None  # a reshard under way: its command and start (RESHARDING_OUTPUT)
    sources: Mapping[str, str] = field(default_factory=dict)  # logical name -> source group (SOURCES_OUTPUT)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> PreviousRun:
        """Read the outputs back; a list of names (the format before shapes were recorded) has no shapes."""
        cluster = outputs.get(MANAGEMENT_CLUSTER_OUTPUT)
        modes = outputs.get(MODES_OUTPUT)
        shards = outputs.get(SHARDS_OUTPUT)
        resharding = outputs.get(RESHARDING_OUTPUT)
        return cls(_named_shapes(outputs.get(MANAGED_OBJECTS_OUTPUT)), _named_shapes(outputs.get(PENDING_DELETIONS_OUTPUT)),
                   str(cluster) if cluster else None,
                   {str(k): str(v) for k, v in modes.items()} if isinstance(modes, Mapping) else {},
                   _names(outputs.get(HANDED_OVER_OUTPUT)), _names(outputs.get(HANDING_OVER_OUTPUT)),
                   _layout(shards), dict(resharding) if isinstance(resharding, Mapping) else None,
                   _grouped_names(outputs.get(SOURCES_OUTPUT)))


def _layout(value: Any) -> dict[str, Any] | None:
    """A recorded ``shard_layout``; numbers come back from the engine as floats."""
    if not isinstance(value, Mapping):
        return None
    return {str(k): int(v) if isinstance(v, float) else v for k, v in value.items()}


def _names(value: Any) -> frozenset[str]:
    return frozenset(str(name) for name in value) if isinstance(value, list) else frozenset()


def _grouped_names(value: Any) -> dict[str, str]:
    """``{group: [names]}`` read back as name -> group (an output a run before it did not write: empty)."""
    if not isinstance(value, Mapping):
        return {}
    return {str(name): str(group) for group, names in value.items() for name in names or ()}


def _named_shapes(value: Any) -> dict[str, str | None]:
    if isinstance(value, Mapping):
        return {str(name): str(shape) for shape, names in value.items() for name in names or ()}
    if isinstance(value, list):
        return {str(name): None for name in value}
    return {}


@dataclass(frozen=True)
class Deletion:
    """An object consumers will see deleted, and why."""

    logical_name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.logical_name} ({self.reason})"


def planned_deletions(
    previous: PreviousRun, planned: Sequence[DesiredObject], cluster: str,
    still_exists: Callable[[str, str | None], bool],
) -> list[Deletion]:
    """Every DELETE this run will cause: removals, the delete half of replacements, and the
    deletions a failed earlier run left undone (``still_exists(name, shape)`` is asked only for those)."""
    if previous.cluster is not None and previous.cluster != cluster:
        reason = f"replaced: the management cluster changed from {previous.cluster} to {cluster}"
        return [Deletion(name, reason) for name in sorted(previous.objects)]
    current = {obj.logical_name: shape_of(obj) for obj in planned}
    result = []
    for name, shape in sorted(previous.objects.items()):
        if name not in current and name in previous.handed_over:
            continue  # handed to Sveltos: Pulumi forgets it (retainOnDelete), the object stays
        if name not in current:
            result.append(Deletion(name, "deleted: no longer in the inventory"))
        elif shape is not None and shape != current[name]:
            result.append(Deletion(name, f"replaced: {_what_changed(shape, current[name])}"))
    for name, shape in sorted(previous.pending.items()):
        if name not in current and name not in previous.objects and still_exists(name, shape):
            result.append(Deletion(name, "deleted: an earlier run that failed had still to delete it"))
    return result


def _what_changed(old: str, new: str) -> str:
    """Shapes are ``apiVersion Kind [secret type] [immutable]`` (``shape_of``)."""
    old_version, old_kind, *old_rest = old.split(" ")
    new_version, _, *new_rest = new.split(" ")
    if old_version != new_version:
        return f"apiVersion changed from {old_version} to {new_version}"
    old_type = next((part for part in old_rest if part != "immutable"), None)
    new_type = next((part for part in new_rest if part != "immutable"), None)
    if old_kind == "Secret" and old_type != new_type:
        return f"Secret type changed from {old_type} to {new_type}"
    return "immutable changed" if ("immutable" in old_rest) != ("immutable" in new_rest) else f"{old} -> {new}"


def deletion_summary(deletions: Sequence[Deletion]) -> str:
    """The deletions' causes, counted, and the first few names: ``N cause; ... Objects: a, b and K more``."""
    causes = Counter(d.reason for d in deletions)
    sample = ", ".join(d.logical_name for d in deletions[:SAMPLE_SIZE])
    more = f" and {len(deletions) - SAMPLE_SIZE} more" if len(deletions) > SAMPLE_SIZE else ""
    return "; ".join(f"{count} {reason}" for reason, count in causes.most_common()) + f". Objects: {sample}{more}"


def check_deletion_cap(deletions: Sequence[Deletion], settings: Settings) -> None:
    """The whole run stops over the cap: for a move to another management cluster, which replaces every
    object at once (a run within one cluster holds back per source namespace, inventory/stack/holdback.py)."""
    if len(deletions) <= settings.max_deletions or settings.allow_mass_deletion:
        return
    raise GuardError(
        f"this run would delete {len(deletions)} managed objects (maxDeletions is {settings.max_deletions}; "
        f"a replacement deletes the object before creating it again): {deletion_summary(deletions)}. "
        f"If that is intended, run again with `pulumi config set cluster-inventory:allowMassDeletion true` "
        f"(or raise maxDeletions); if not, check the inventory source and the config before anything is removed."
    )


def check_cluster_move(previous: PreviousRun, cluster: str, settings: Settings) -> None:
    """A stack moves to another management cluster only when its config names that cluster."""
    if previous.cluster is None or previous.cluster == cluster or settings.management_cluster_id == cluster:
        return
    raise GuardError(
        f"the kubeconfig now reaches another cluster ({cluster}) than the one this stack manages "
        f"({previous.cluster}): every one of its {len(previous.objects)} objects would be deleted there and "
        f"created here. If the kubeconfig is wrong, fix it. To move the stack on purpose, run "
        f"`pulumi config set cluster-inventory:managementClusterId {cluster}` (and allowMassDeletion, see "
        f"docs/changes.md, 'Moving to another management cluster')."
    )


def check_pinned_cluster(cluster: str, settings: Settings) -> None:
    """``managementClusterId``, when set, names the only cluster this stack may write to."""
    if settings.management_cluster_id and settings.management_cluster_id != cluster:
        raise GuardError(
            f"managementClusterId is {settings.management_cluster_id}, but the kubeconfig reaches cluster "
            f"{cluster}: point the kubeconfig at the right cluster, or change managementClusterId to move the stack"
        )


def skip_taken_names(
    planned: Sequence[DesiredObject], known: Iterable[str], taken_by: Callable[[DesiredObject], str | None],
    settings: Settings,
) -> tuple[list[DesiredObject], list[Diagnostic]]:
    """The planned objects this run declares, and a warning for each it does not: a name held by an
    object this stack does not manage is skipped (with what its source writes into that namespace:
    a SveltosCluster and its Secret go together), unless adoptExisting takes such objects over.
    ``known`` are the stack's own objects; ``taken_by`` says who holds a name (None: nobody else)."""
    if settings.adopt_existing:
        return list(planned), []
    known = set(known)
    taken = {obj.logical_name: holder for obj in planned
             if obj.logical_name not in known and (holder := taken_by(obj)) is not None}
    blocked = {(obj.source, obj.namespace): obj for obj in planned
               if obj.logical_name in taken and obj.source is not None}
    declared, skipped = [], []
    for obj in planned:
        subject = obj.source or obj.ref
        if obj.logical_name in taken:
            skipped.append(Diagnostic(subject, (
                f"{obj.ref} not declared: the name is taken by an existing {obj.ref} that this stack does not "
                f"manage ({taken[obj.logical_name]}); rename or remove that object, or, to take it over "
                f"(migrating from the controller or the Event Framework), set "
                f"`pulumi config set cluster-inventory:adoptExisting true` (docs/migration.md)")))
        elif obj.source is not None and (obj.source, obj.namespace) in blocked and obj.logical_name not in known:
            skipped.append(Diagnostic(subject, (
                f"{obj.ref} not declared: it goes with {blocked[(obj.source, obj.namespace)].ref}, "
                f"whose name is taken (see that warning)")))
        else:
            declared.append(obj)
    return declared, skipped


def shard_layout(count: int, index: int | None, assignment: ShardAssignment) -> dict[str, Any]:
    """The ``shards`` output: which shard of how many a stack declares, and how shards are chosen
    (irrelevant, so left out, for one shard). ``index`` None: a stack that resharding emptied."""
    layout: dict[str, Any] = {"count": count, "index": index}
    if count > 1:
        layout["assignment"] = assignment.value
    return layout


def _describe(layout: Mapping[str, Any]) -> str:
    if layout.get("index") is None:
        return f"no shard: `python -m inventory reshard` to {layout.get('count')} shards moved its objects away"
    if layout.get("count") == 1:
        return "the whole fleet (shardCount 1)"
    return f"shard {layout.get('index')} of {layout.get('count')} ({layout.get('assignment')})"


def check_no_reshard(previous: PreviousRun, stack: str) -> None:
    """No run while `python -m inventory reshard` is moving this stack's state (``RESHARDING_OUTPUT``)."""
    if not previous.resharding:
        return
    command = previous.resharding.get("command") or "python -m inventory reshard"
    raise GuardError(
        f"stack {stack} is being resharded: `{command}` (started {previous.resharding.get('started', '?')}) "
        f"has not finished moving objects' state between the shard stacks, and a run now would delete or "
        f"create objects that are half moved. Wait for it to finish; if it stopped (an error, a killed job), "
        f"run the same command again: it carries on from where it stopped (docs/sizing.md, Changing shardCount)."
    )


def check_shard_layout(previous: PreviousRun, settings: Settings, stack: str) -> None:
    """A stack declares the shard its last run declared, unless ``python -m inventory reshard``
    has moved the objects' state for the new layout (and recorded it in the outputs)."""
    if previous.shards is None and not previous.objects:
        return  # a new stack: nothing deployed that a layout could delete
    now = shard_layout(settings.shard_count, settings.shard_index, settings.shard_assignment)
    if previous.shards is None:
        # Versions before shardAssignment recorded no layout and assigned by SHA-256 mod N.
        if settings.shard_count == 1 or settings.shard_assignment is ShardAssignment.MODULO:
            return
        raise GuardError(
            f"stack {stack} was sharded by an earlier version, which chose shards by SHA-256 mod shardCount; "
            f"with shardAssignment rendezvous (the default now) most of its objects belong to other shards, and "
            f"this run would delete them. Either keep the old assignment: `pulumi config set "
            f"cluster-inventory:shardAssignment modulo` in every shard stack; or move to rendezvous without an "
            f"outage: set it to rendezvous in every shard stack, then run "
            f"`{_reshard_command(stack, settings.shard_count, settings.shard_count)}` before any of them runs "
            f"(docs/sizing.md, Changing shardCount)."
        )
    if dict(previous.shards) == now:
        return
    was = _describe(previous.shards)
    raise GuardError(
        f"stack {stack} last declared {was}; its config now says {_describe(now)}. Run now, it would delete "
        f"the objects that other shards declare under the new layout (consumers would see them deleted and "
        f"created again). Move their state first, with no stack running: "
        f"`{_reshard_command(stack, int(previous.shards.get('count') or 1), settings.shard_count)}` "
        f"(docs/sizing.md, Changing shardCount); or put back the config this stack last ran with."
    )


def _reshard_command(stack: str, from_count: int, to_count: int) -> str:
    """The ``python -m inventory reshard`` that moves ``stack``'s fleet: by prefix when the shard
    stacks are named ``<prefix>0`` ..., by name otherwise (e.g. one unsharded stack)."""
    prefix = stack.rstrip("0123456789")
    if prefix != stack and from_count > 1:
        return f"python -m inventory reshard --stack-prefix {prefix} --from-count {from_count} --to-count {to_count}"
    return f"python -m inventory reshard --from-stacks {stack} --to-stacks <the {to_count} shard stacks, in shardIndex order>"
