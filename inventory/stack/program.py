"""The project's Pulumi program: the stack's config made into settings, and one ``ClusterInventory``.

``run()`` is what ``__main__.py`` calls under ``pulumi up``/``preview`` and what the
Automation API driver (``python -m inventory deploy``) runs inline. Everything else, reading,
planning, the guards and the declarations, is the component's (inventory/stack/component.py),
which anyone's program can declare as well (docs/component.md).
"""

from __future__ import annotations

import os

import pulumi

from inventory.settings import SettingsError
from inventory.stack import guards
from inventory.stack import resources as stack
from inventory.stack.component import ClusterInventory

# The name the project's component has always had: part of every child's URN.
COMPONENT_NAME = "inventory"

# The Python SDK sends the engine 3-4 debug lines for every resource it registers, each a
# blocking call made on the event loop's thread, so registrations wait on them in turn; the CLI
# shows them only under --debug. Measured on a no-op preview of 1,000 objects: 1.6 of 6.5 CPU-s
# of this process. Set CLUSTER_INVENTORY_SDK_DEBUG=true to keep them (docs/sizing.md).
SDK_DEBUG = "CLUSTER_INVENTORY_SDK_DEBUG"


def _drop_sdk_debug_lines() -> None:
    if os.environ.get(SDK_DEBUG, "").lower() not in ("true", "1"):
        pulumi.log.debug = lambda *args, **kwargs: None


def run() -> None:
    """The program: settings from the stack's config (credentials in it must be secrets), and the
    component laid out as the project's stacks have always held it: named ``inventory``, its
    providers at the stack's root, its outputs the stack's own, one output each."""
    _drop_sdk_debug_lines()
    try:
        settings = stack.settings_from_config(stack.stack_config())
        stack.check_secret_config(settings, pulumi.runtime.is_config_secret)
    except (guards.GuardError, SettingsError) as err:
        raise pulumi.RunError(str(err)) from None
    ClusterInventory(COMPONENT_NAME, settings, stack_output=None, providers_at_stack_root=True)
