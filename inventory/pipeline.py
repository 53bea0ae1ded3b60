"""The one path from settings to a plan, shared by the Pulumi stack and the render CLI.

Side effects happen here and only here, in this order: read the inventory (a
directory or the live cluster), run exec credential plugins (unless the caller says why not:
``render`` without ``--run-exec-plugins``), then plan (pure).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from inventory.model import Inventory, ObjectRef, Severity
from inventory.plan import ExecCredentials, Plan, build_plan
from inventory.settings import Settings, SettingsError
from inventory.sources import uses_profile_credentials


def read_inventory(settings: Settings) -> Inventory:
    """The inventory from ``settings.inventory_dir`` if set, else from the live cluster.

    Raises ``inventory.sources.InventoryReadError`` when a read fails.
    """
    if settings.inventory_dir is not None:
        from inventory.sources import read_directory

        return read_directory(settings.inventory_dir, settings)
    from inventory.sources import read_cluster

    return read_cluster(settings)


def resolve_exec(inventory: Inventory, settings: Settings, now: datetime,
                 not_run: str | None = None) -> Mapping[ObjectRef, ExecCredentials]:
    """Exec-plugin credentials per ClusterProfile; an unusable provider file raises SettingsError.
    With ``not_run`` (why), no plugin runs: each profile that needs one is reported with it."""
    if settings.exec_provider_file is None or not uses_profile_credentials(settings):
        return {}
    from inventory.credentials import ProviderFileError, resolve_exec_credentials

    try:
        return resolve_exec_credentials(inventory, settings, now, not_run=not_run)
    except ProviderFileError as err:
        raise SettingsError(f"execProviderFile: {err}") from err


def compute_plan(settings: Settings, now: datetime, not_run: str | None = None) -> Plan:
    """Everything one run declares. Raises SettingsError or InventoryReadError, never plans on a failed read.
    With ``not_run`` (why), no exec plugin runs (``resolve_exec``)."""
    return compute(settings, now, not_run=not_run)[0]


def compute(settings: Settings, now: datetime, read_with: Settings | None = None,
            previously_declared: frozenset[str] = frozenset(), not_run: str | None = None) -> tuple[Plan, Inventory]:
    """``compute_plan``'s plan, and the inventory it was made from: read as ``read_with`` needs
    it (a superset of what ``settings`` need, for a hand-over between modes) if given;
    ``previously_declared`` are the logical names the stack's last run declared."""
    from inventory.events import plan_events
    from inventory.plan import select_shard

    event_objects = plan_events(settings)  # config problems stop the run before any read
    inventory = read_inventory(read_with or settings)
    has_errors = any(d.severity is Severity.ERROR for d in inventory.diagnostics)
    exec_results = {} if has_errors else resolve_exec(inventory, settings, now, not_run)
    plan = build_plan(inventory, settings, exec_results, now, extra_objects=event_objects,
                      previously_declared=previously_declared)
    return select_shard(plan, settings), inventory
