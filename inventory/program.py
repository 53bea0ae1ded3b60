"""The Pulumi program: read the inventory, plan, guard, declare, export.

``run()`` is what ``__main__.py`` calls under ``pulumi up``/``preview`` and what the
Automation API driver (``python -m inventory deploy``) runs inline.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from inventory import stack
from inventory.diagnostics import Severity
from inventory.objects import DesiredObject
from inventory.settings import Settings


class Inventory(pulumi.ComponentResource):
    """Parent of every object the program manages, so `pulumi stack` reads as one tree."""

    def __init__(self, name: str, objects: tuple[DesiredObject, ...], provider: k8s.Provider) -> None:
        super().__init__("cluster-inventory:index:Inventory", name)
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        for obj in objects:
            stack.declare_object(obj, opts)
        self.register_outputs({"objects": len(objects)})


def previous_managed_objects() -> list[str]:
    """The ``managedObjects`` output of this stack's last deployment (empty on the first)."""
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    try:
        result = pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", {"name": name})
    except Exception as err:  # the engine reports a missing stack or backend error here
        raise stack.GuardError(f"cannot read the last deployed outputs of stack {name}: {err}") from err
    outputs: dict[str, Any] = (result.value or {}).get("outputs") or {}
    managed = outputs.get(stack.MANAGED_OBJECTS_OUTPUT) or []
    return [str(item) for item in managed]


def run() -> None:
    from inventory.existing import ExistingObjects
    from inventory.pipeline import compute_plan

    settings: Settings = stack.settings_from_config(pulumi.runtime.get_config)
    now = stack.utcnow()
    plan = compute_plan(settings, now)  # a failed read raises here: nothing is declared or deleted
    errors = [d for d in plan.diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise stack.GuardError("the inventory has errors:\n" + "\n".join(str(d) for d in errors))

    previous = previous_managed_objects()
    current = [obj.logical_name for obj in plan.objects]
    stack.check_deletion_cap(previous, current, settings)
    if not settings.adopt_existing:
        stack.check_adoption(plan.objects, previous, ExistingObjects(settings), settings)

    kubeconfig = stack.provider_kubeconfig(settings)
    provider = k8s.Provider(
        "management-cluster",
        kubeconfig=pulumi.Output.secret(kubeconfig) if kubeconfig else None,
        context=settings.context or None,
    )
    Inventory("inventory", plan.objects, provider)

    for diagnostic in plan.diagnostics:
        pulumi.log.warn(str(diagnostic))
    warning = stack.refresh_warning(plan.refresh_due, now, settings)
    if warning:
        pulumi.log.warn(warning)
    for key, value in stack.outputs(plan.objects, plan.diagnostics, plan.refresh_due, settings).items():
        pulumi.export(key, value)
