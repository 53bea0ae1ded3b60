"""The Pulumi program: read the inventory, plan, guard, declare, export.

``run()`` is what ``__main__.py`` calls under ``pulumi up``/``preview`` and what the
Automation API driver (``python -m inventory deploy``) runs inline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
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


class InventoryObjects(pulumi.ComponentResource):
    """Parent of every object the program manages, so `pulumi stack` reads as one tree.

    Its Pulumi type keeps the class's earlier name, ``Inventory`` (not to be confused with
    ``inventory.model.Inventory``, what the sources read): the type is part of every child's URN,
    so another one would make each stack replace everything it holds. ``reshard.COMPONENT_TYPE``
    names the same type."""

    TYPE = "cluster-inventory:index:Inventory"

    def __init__(self, name: str, objects: tuple[DesiredObject, ...], owner: str, provider: k8s.Provider,
                 handing: handover.HandOver = handover.NOTHING,
                 waiting_opts: pulumi.ResourceOptions | None = None,
                 access: stack.StatusAccess | None = None, kept: Mapping[str, holdback.Kept] | None = None) -> None:
        super().__init__(self.TYPE, name)
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        for obj in objects:
            stack.declare_object(obj, owner, opts, access)
        for logical_name, held in sorted((kept or {}).items()):
            stack.declare_kept(logical_name, held.shape, opts, access)
        waiting = pulumi.ResourceOptions.merge(opts, waiting_opts)
        for obj in handing.waiting:
            stack.declare_object(obj, owner, waiting)
        retained = pulumi.ResourceOptions.merge(opts, stack.RETAINED)
        for obj in handing.retained:
            stack.declare_object(obj, owner, retained)
        self.register_outputs({"objects": len(objects)})


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


def previous_run() -> guards.PreviousRun:
    """What the last run of this stack recorded: its objects with their shapes, the deletions
    it had to make, and the cluster it wrote to (the outputs only: no resource state is read)."""
    outputs = _read_own_stack("pulumi:pulumi:readStackOutputs", {"name": stack_name()}).get("outputs") or {}
    return guards.PreviousRun.from_outputs(outputs)


# The Python SDK sends the engine 3-4 debug lines for every resource it registers, each a
# blocking call made on the event loop's thread, so registrations wait on them in turn; the CLI
# shows them only under --debug. Measured on a no-op preview of 1,000 objects: 1.6 of 6.5 CPU-s
# of this process. Set CLUSTER_INVENTORY_SDK_DEBUG=true to keep them (docs/sizing.md).
SDK_DEBUG = "CLUSTER_INVENTORY_SDK_DEBUG"


def _drop_sdk_debug_lines() -> None:
    if os.environ.get(SDK_DEBUG, "").lower() not in ("true", "1"):
        pulumi.log.debug = lambda *args, **kwargs: None


def run() -> None:
    """The program; a guard or input failure ends it with a message, not a traceback."""
    _drop_sdk_debug_lines()
    try:
        _run()
    except (guards.GuardError, SettingsError, InventoryReadError) as err:
        raise pulumi.RunError(str(err)) from None


def _run() -> None:
    from inventory.pipeline import compute
    from inventory.sources import cluster_identity
    from inventory.stack.adoption import ExistingObjects

    settings: Settings = stack.settings_from_config(stack.stack_config())
    stack.check_secret_config(settings, pulumi.runtime.is_config_secret)
    now = stack.utcnow()
    previous = previous_run()
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

    problem = stack.checkpoint_problem(len(plan.objects), os.environ)
    if problem and not pulumi.runtime.is_dry_run():
        raise guards.GuardError(problem)
    if problem:
        pulumi.log.warn(f"`pulumi up` would stop: {problem}")
    over = memory.over_budget(len(declared), settings)
    if over and not settings.allow_over_memory_budget and not pulumi.runtime.is_dry_run():
        raise guards.GuardError(over.message(stopping=True))
    if over and settings.allow_over_memory_budget:
        pulumi.log.warn(f"allowOverMemoryBudget is set: {over.message(stopping=False)}")
    elif over:
        pulumi.log.warn(f"`pulumi up` would stop: {over.message(stopping=True)}")
    growth = backend.growth_problem(os.environ, pulumi.get_project(), pulumi.get_stack())
    if growth:
        pulumi.log.warn(growth)

    provider = k8s.Provider("management-cluster", **stack.provider_args(settings, cluster))
    InventoryObjects("inventory", objects, stack_name(), provider, handing, stack.waiting_options(settings),
                     stack.status_access(settings, cluster), kept)
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
    for key, value in stack.outputs(objects, diagnostics, plan.refresh_due, settings, removed,
                                    cluster, handing, kept, held.counts()).items():
        pulumi.export(key, value)


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
