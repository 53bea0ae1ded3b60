"""The Pulumi program: read the inventory, plan, guard, declare, export.

``run()`` is what ``__main__.py`` calls under ``pulumi up``/``preview`` and what the
Automation API driver (``python -m inventory deploy``) runs inline.
"""

from __future__ import annotations

import time
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from inventory import stack
from inventory.diagnostics import Severity
from inventory.objects import DesiredObject
from inventory.settings import Settings, SettingsError
from inventory.sources import InventoryReadError


class Inventory(pulumi.ComponentResource):
    """Parent of every object the program manages, so `pulumi stack` reads as one tree."""

    def __init__(self, name: str, objects: tuple[DesiredObject, ...], owner: str, provider: k8s.Provider) -> None:
        super().__init__("cluster-inventory:index:Inventory", name)
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        for obj in objects:
            stack.declare_object(obj, owner, opts)
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
                raise stack.GuardError(f"cannot read the last deployed state of stack {stack_name()}: {err}") from err
            time.sleep(READ_STATE_BACKOFF_S * attempt)
            attempt += 1


def previous_managed_objects() -> list[str]:
    """Every object this stack manages now: the kubernetes resources in its saved state,
    plus the last ``managedObjects`` output (they differ after a failed update, whose
    pending deletions stay in the state but not in the outputs)."""
    resources = _read_own_stack("pulumi:pulumi:readStackResourceOutputs", {"stackName": stack_name()})
    managed = set(stack.logical_names_from_urns((resources.get("outputs") or {}).keys()))
    outputs = _read_own_stack("pulumi:pulumi:readStackOutputs", {"name": stack_name()}).get("outputs") or {}
    managed.update(str(item) for item in outputs.get(stack.MANAGED_OBJECTS_OUTPUT) or [])
    return sorted(managed)


def run() -> None:
    """The program; a guard or input failure ends it with a message, not a traceback."""
    try:
        _run()
    except (stack.GuardError, SettingsError, InventoryReadError) as err:
        raise pulumi.RunError(str(err)) from None


def _run() -> None:
    from inventory.existing import ExistingObjects
    from inventory.pipeline import compute_plan

    settings: Settings = stack.settings_from_config(pulumi.runtime.get_config)
    stack.check_secret_config(settings, pulumi.runtime.is_config_secret)
    now = stack.utcnow()
    plan = compute_plan(settings, now)  # a failed read raises here: nothing is declared or deleted
    errors = [d for d in plan.diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise stack.GuardError("the inventory has errors:\n" + "\n".join(str(d) for d in errors))

    previous = previous_managed_objects()
    current = [obj.logical_name for obj in plan.objects]
    stack.check_deletion_cap(previous, current, settings)
    # ExistingObjects lists nothing until asked, and check_adoption asks only without adoptExisting.
    stack.check_adoption(plan.objects, previous, ExistingObjects(settings, stack_name()), settings)

    kubeconfig = stack.provider_kubeconfig(settings)
    provider = k8s.Provider(
        "management-cluster",
        kubeconfig=pulumi.Output.secret(kubeconfig) if kubeconfig else None,
        context=settings.context or None,
    )
    Inventory("inventory", plan.objects, stack_name(), provider)

    for diagnostic in plan.diagnostics:
        pulumi.log.warn(f"{diagnostic.subject}: {diagnostic.reason}")
    warning = stack.refresh_warning(plan.refresh_due, now, settings)
    if warning:
        pulumi.log.warn(warning)
    for key, value in stack.outputs(plan.objects, plan.diagnostics, plan.refresh_due, settings).items():
        pulumi.export(key, value)
