"""``ClusterInventory``: the whole program as one Pulumi component, for this project's own
``__main__.py`` and for anyone's Pulumi program (docs/component.md).

It takes the settings ``Pulumi.yaml`` describes, reads the inventory, plans, passes the guards,
declares every object under itself (with the kubernetes provider that writes them) and exposes
what the run did as typed outputs. It also writes those outputs as stack outputs itself: the
guards of the next run read them back (``previous_run``), so a program cannot forget to.

Its Pulumi type and the names of its children are the ones the project has always declared
(``cluster-inventory:index:Inventory`` named ``inventory``): every child's URN holds its parent's
type, so a stack made before the component existed sees no change. The project declares it with
its providers at the stack's root, where those stacks hold them and where ``reshard`` expects them
(``pulumi state move`` copies a provider whose parent stays behind to the destination's root).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from inventory.model import DesiredObject, Feature, Severity
from inventory.model import Inventory as InventoryModel
from inventory.plan import handover
from inventory.settings import Settings, SettingsError
from inventory.sources import InventoryReadError
from inventory.stack import backend, guards, holdback, memory
from inventory.stack import resources as stack
from inventory.stack.grants import FAILED_GRANTS_OUTPUT, GrantTokens, declare_grants

# Where a component keeps its outputs among the stack's outputs unless told otherwise: one stack
# output holding them all, so they sit beside a program's own outputs without clashing.
DEFAULT_STACK_OUTPUT = "clusterInventory"
# The kubernetes provider that reads and writes the management cluster.
PROVIDER_NAME = "management-cluster"


class ClusterInventory(pulumi.ComponentResource):
    """Every object the inventory plans, declared under one component, with the run's outputs.

    ``settings``: a ``Settings`` or a mapping of ``Pulumi.yaml``'s config keys (camelCase, no
    ``cluster-inventory:`` prefix), validated as the stack's config is: an unknown key or a bad
    value stops the program with a message naming it. ``stack_output``: the stack output the
    component writes its outputs to and the next run's guards read them from; None writes each
    output as a stack output of its own (what the project's stacks hold). ``providers_at_stack_root``:
    the kubernetes provider and feature E's status provider are declared at the stack's root
    instead of under the component (where the project's stacks hold them). A refusal (a guard, a
    setting, a failed read) is a ``pulumi.RunError``: the message, no traceback.

    One per stack: the owner stamp on every object is the stack's name.
    """

    TYPE = "cluster-inventory:index:Inventory"

    counts: pulumi.Output[dict[str, dict[str, int]]]
    """Objects declared, per feature and kind."""
    skipped: pulumi.Output[list[str]]
    """Every warning of the run: objects not planned or not declared, and why."""
    waiting: pulumi.Output[list[str]]
    """Clusters whose credentials wait for a healthy control plane (requireHealthyControlPlane)."""
    earliest_credential_refresh: pulumi.Output[str | None]
    """When the first exec-plugin credential falls due (ISO 8601), if any."""
    modes: pulumi.Output[dict[str, str]]
    """The writer of each feature: direct, events or off."""
    managed_objects: pulumi.Output[dict[str, list[str]]]
    """The objects this component holds, by shape."""
    managed_object_sources: pulumi.Output[dict[str, list[str]]]
    """The objects this component holds, by the namespace they were planned from."""
    held_back_deletions: pulumi.Output[dict[str, int]]
    """Deletions held back, per source namespace (maxDeletions)."""
    handing_over: pulumi.Output[list[str]]
    """Objects being handed to Sveltos in this run."""
    handed_over: pulumi.Output[list[str]]
    """Objects Sveltos has taken over, retained on delete."""
    pending_deletions: pulumi.Output[dict[str, list[str]]]
    """Objects this run deletes, by shape, until a run has seen them gone."""
    management_cluster: pulumi.Output[str | None]
    """The UID of the management cluster's kube-system namespace: the cluster written to."""
    shards: pulumi.Output[dict[str, Any]]
    """shardCount, shardIndex and shardAssignment of this stack."""
    program_version: pulumi.Output[str]
    """The cluster-inventory release that declared the objects."""
    failed_grants: pulumi.Output[list[str]]
    """Grants whose last attempt failed, with why and what the consumer still holds (grants set)."""

    def __init__(self, name: str, settings: Settings | Mapping[str, Any], *,
                 stack_output: str | None = DEFAULT_STACK_OUTPUT, providers_at_stack_root: bool = False,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        try:
            validated = validated_settings(settings)
            providers = pulumi.ResourceOptions() if providers_at_stack_root else pulumi.ResourceOptions(parent=self)
            declared = _declare(self, providers, validated, previous_run(stack_output))
        except (guards.GuardError, SettingsError, InventoryReadError) as err:
            raise pulumi.RunError(str(err)) from None
        self.provider: k8s.Provider = declared.provider
        values = declared.outputs
        self.counts = pulumi.Output.from_input(values["counts"])
        self.skipped = pulumi.Output.from_input(values["skipped"])
        self.waiting = pulumi.Output.from_input(values["waiting"])
        self.earliest_credential_refresh = pulumi.Output.from_input(values["earliestCredentialRefresh"])
        self.modes = pulumi.Output.from_input(values[guards.MODES_OUTPUT])
        self.managed_objects = pulumi.Output.from_input(values[guards.MANAGED_OBJECTS_OUTPUT])
        self.managed_object_sources = pulumi.Output.from_input(values[guards.SOURCES_OUTPUT])
        self.held_back_deletions = pulumi.Output.from_input(values[guards.HELD_BACK_OUTPUT])
        self.handing_over = pulumi.Output.from_input(values[guards.HANDING_OVER_OUTPUT])
        self.handed_over = pulumi.Output.from_input(values[guards.HANDED_OVER_OUTPUT])
        self.pending_deletions = pulumi.Output.from_input(values[guards.PENDING_DELETIONS_OUTPUT])
        self.management_cluster = pulumi.Output.from_input(values[guards.MANAGEMENT_CLUSTER_OUTPUT])
        self.shards = pulumi.Output.from_input(values[guards.SHARDS_OUTPUT])
        self.program_version = pulumi.Output.from_input(values["programVersion"])
        self.failed_grants = pulumi.Output.from_input(values.get(FAILED_GRANTS_OUTPUT, []))
        self.register_outputs({"objects": declared.objects})
        if stack_output is None:
            for key, value in values.items():
                pulumi.export(key, value)
        else:
            pulumi.export(stack_output, dict(values))


def validated_settings(settings: Settings | Mapping[str, Any]) -> Settings:
    """``settings`` checked as the stack's config is checked (``Settings.from_mapping``)."""
    if isinstance(settings, Settings):
        settings.validate()
        return settings
    return Settings.from_mapping(settings)


# The file backend may be rewriting the checkpoint at the moment the program
# reads it (seen once as "failed to load checkpoint: EOF"); a short retry rides it out.
READ_STATE_ATTEMPTS = 5
READ_STATE_BACKOFF_S = 0.2


def stack_name() -> str:
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"


def _read_own_stack(token: str, args: dict[str, str]) -> dict[str, Any]:
    attempt = 1
    while True:
        try:
            value: dict[str, Any] = pulumi.runtime.invoke(token, args).value or {}
            return value
        except Exception as err:  # the engine reports a missing stack or backend error here
            if attempt == READ_STATE_ATTEMPTS or "checkpoint" not in str(err):
                raise guards.GuardError(f"cannot read the last deployed state of stack {stack_name()}: {err}") from err
            time.sleep(READ_STATE_BACKOFF_S * attempt)
            attempt += 1


def previous_run(stack_output: str | None = None) -> guards.PreviousRun:
    """What the last run of this stack recorded: its objects with their shapes, the deletions
    it had to make, and the cluster it wrote to (the outputs only: no resource state is read),
    from the stack output ``stack_output`` or, None, from the stack's own outputs."""
    outputs = _read_own_stack("pulumi:pulumi:readStackOutputs", {"name": stack_name()}).get("outputs") or {}
    if stack_output is not None:
        recorded = outputs.get(stack_output)
        outputs = recorded if isinstance(recorded, Mapping) else {}
    return guards.PreviousRun.from_outputs(outputs)


@dataclass(frozen=True)
class _Declared:
    """What ``_declare`` leaves: the provider it wrote with, how many objects, the outputs."""

    provider: k8s.Provider
    objects: int
    outputs: Mapping[str, Any]


def _declare(parent: pulumi.Resource, providers: pulumi.ResourceOptions, settings: Settings,
             previous: guards.PreviousRun) -> _Declared:
    """Read, plan, guard and declare under ``parent`` (the providers with ``providers``); the outputs of the run."""
    from inventory.pipeline import compute
    from inventory.sources import cluster_identity
    from inventory.stack.adoption import ExistingObjects

    now = stack.utcnow()
    guards.check_no_reshard(previous, pulumi.get_stack())
    guards.check_shard_layout(previous, settings, pulumi.get_stack())
    switch = handover.switch(previous.modes, settings)
    handing_features = handover.handing_features(switch, bool(previous.handing_over), settings)
    # A failed read raises here: nothing is declared or deleted.
    plan, inventory = compute(settings, now, handover.reading(settings, handing_features),
                              frozenset(previous.objects))
    errors = [d for d in plan.diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise guards.GuardError("the inventory has errors:\n" + "\n".join(str(d) for d in errors))

    cluster = cluster_identity(settings)
    guards.check_pinned_cluster(cluster, settings)
    guards.check_cluster_move(previous, cluster, settings)
    objects = handover.from_sveltos(plan.objects, handover.claiming_features(switch, settings), stack_name())
    # ExistingObjects lists nothing until asked: for names other writers hold (objects new to the
    # stack, only without adoptExisting), for deletions a failed earlier run left undone (usually none), and for
    # objects an earlier run handed to Sveltos (usually none).
    existing = ExistingObjects(settings, stack_name())
    handing = _handing_to_sveltos(inventory, settings, handing_features, switch, previous, existing.sveltos_kind,
                                  {obj.logical_name for obj in objects}, now)
    # What this stack's own events mode had Sveltos write is this stack's to take back.
    taken_back = {obj.logical_name for obj in objects if obj.feature in switch.from_sveltos}
    # A name another writer holds costs only the objects planned under it (SPEC §9).
    known = previous.objects.keys() | taken_back
    if not settings.adopt_existing:
        existing.prefetch(obj for obj in objects if obj.logical_name not in known)
    declarable, taken = guards.skip_taken_names(objects, known, existing.taken_by, settings)
    declared = (*declarable, *handing.objects)
    deletions = guards.planned_deletions(previous, declared, cluster, existing.exists)
    held = holdback.hold_back(deletions, previous, declared, cluster, settings)
    kept = holdback.kept_objects(held, previous)
    objects = tuple(obj for obj in declarable if obj.logical_name not in kept)  # a held replacement keeps its old self
    isolation = [*taken, *holdback.diagnostics(held, settings, len(previous.objects))]

    # A grant is a resource of the state like an object (make bench-deploy GRANTS=1: the `pulumi`
    # process held 2.0 GiB at 3,000 objects and 3,000 grants, 1.0 GiB at the objects alone).
    problem = stack.checkpoint_problem(len(plan.objects) + len(plan.grants), os.environ)
    if problem and not pulumi.runtime.is_dry_run():
        raise guards.GuardError(problem)
    if problem:
        pulumi.log.warn(f"`pulumi up` would stop: {problem}")
    over = memory.over_budget(len(declared) + len(plan.grants), settings)
    if over and not settings.allow_over_memory_budget and not pulumi.runtime.is_dry_run():
        raise guards.GuardError(over.message(stopping=True))
    if over and settings.allow_over_memory_budget:
        pulumi.log.warn(f"allowOverMemoryBudget is set: {over.message(stopping=False)}")
    elif over:
        pulumi.log.warn(f"`pulumi up` would stop: {over.message(stopping=True)}")
    growth = backend.growth_problem(os.environ, pulumi.get_project(), pulumi.get_stack())
    if growth:
        pulumi.log.warn(growth)

    provider = k8s.Provider(PROVIDER_NAME, **stack.provider_args(settings, cluster), opts=providers)
    access = stack.status_access(settings, cluster, providers)
    tokens, failed_grants = None, None
    if settings.grants_enabled:  # docs/security.md, "Grants"
        tokens, failed_grants = declare_grants(
            plan.grants, settings, pulumi.ResourceOptions(parent=parent, provider=access.provider()), now)
    _declare_objects(objects, stack_name(), pulumi.ResourceOptions(parent=parent, provider=provider), handing,
                     stack.waiting_options(settings), access, kept, tokens)
    for message in handover_messages(switch, handing, settings):
        pulumi.log.info(message)

    diagnostics = [*plan.diagnostics, *isolation]
    for diagnostic in diagnostics:
        pulumi.log.warn(f"{diagnostic.subject}: {diagnostic.reason}")
    warning = stack.refresh_warning(plan.refresh_due, now, settings)
    if warning:
        pulumi.log.warn(warning)
    current = {obj.logical_name for obj in declared}
    removed = {d.logical_name: previous.objects.get(d.logical_name) or previous.pending.get(d.logical_name)
               for d in held.released if d.logical_name not in current}
    outputs = stack.outputs(objects, diagnostics, plan.refresh_due, settings, removed, cluster, handing, kept,
                            held.counts())
    if failed_grants is not None:
        outputs = {**outputs, FAILED_GRANTS_OUTPUT: failed_grants}
    return _Declared(provider, len(objects), outputs)


def _declare_objects(objects: tuple[DesiredObject, ...], owner: str, opts: pulumi.ResourceOptions,
                     handing: handover.HandOver, waiting_opts: pulumi.ResourceOptions,
                     access: stack.StatusAccess, kept: Mapping[str, holdback.Kept],
                     tokens: GrantTokens | None) -> None:
    """Each planned object (those waiting for a grant's token with it), each held-back one as it
    was, and each being handed to Sveltos."""
    for obj in objects:
        stack.declare_object(obj, owner, opts, access, tokens)
    for logical_name, held in sorted(kept.items()):
        stack.declare_kept(logical_name, held.shape, opts, access)
    waiting = pulumi.ResourceOptions.merge(opts, waiting_opts)
    for obj in handing.waiting:
        stack.declare_object(obj, owner, waiting)
    retained = pulumi.ResourceOptions.merge(opts, stack.RETAINED)
    for obj in handing.retained:
        stack.declare_object(obj, owner, retained)


def _handing_to_sveltos(inventory: InventoryModel, settings: Settings, features: frozenset[Feature],
                        switch: handover.Switch, previous: guards.PreviousRun,
                        sveltos_kind: Callable[[DesiredObject], str | None], planned: set[str],
                        now: datetime) -> handover.HandOver:
    """What this run declares of the objects it hands to Sveltos, in this shard."""
    from inventory.plan import in_shard

    mine = in_shard(handover.events_mode_objects(inventory, settings, features, now), settings)
    return handover.to_sveltos([o for o in mine if o.logical_name not in planned], switch, previous.objects.keys(),
                               previous.handing_over, previous.handed_over, sveltos_kind)


def handover_messages(switch: handover.Switch, handing: handover.HandOver, settings: Settings) -> list[str]:
    """What the run tells the user about a change of writer (shown by `pulumi up`)."""
    messages = []
    if handing.waiting:
        features = ", ".join(sorted({o.feature.value for o in handing.waiting}))
        messages.append(
            f"handing {features} to Sveltos: waiting until Sveltos has written each of {len(handing.waiting)} objects "
            f"(up to handOverTimeoutSeconds, {settings.hand_over_timeout_seconds} s); the runs after this one "
            f"let go of them without deleting them")
    if handing.retained:
        messages.append(f"{len(handing.retained)} objects Sveltos has written are marked to be retained; "
                        f"the next run forgets them without deleting them")
    if switch.from_sveltos:
        features = ", ".join(sorted(f.value for f in switch.from_sveltos))
        messages.append(f"taking {features} back from Sveltos: this stack's objects claim Sveltos' owner "
                        f"annotations, so Sveltos leaves them in place when its ClusterProfiles go")
    return messages
