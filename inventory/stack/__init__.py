"""The Pulumi layer: the ``ClusterInventory`` component and the program ``pulumi up`` runs
(one such component made from the stack's config), the mapping of planned objects onto
pulumi-kubernetes resources, the guards a run passes first, adoption of existing objects,
the Automation API driver behind ``python -m inventory deploy``, and ``python -m inventory
reshard``, which moves objects' state between shard stacks when the shard count changes.

The only folder that imports Pulumi's resource SDK. ``run`` and ``ClusterInventory`` import it
lazily, so the driver's command line starts without loading pulumi-kubernetes.

In a Pulumi program of your own: ``from inventory.stack import ClusterInventory`` (docs/component.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inventory.stack.driver import main as deploy
from inventory.stack.reshard import main as reshard

if TYPE_CHECKING:
    from inventory.stack.component import ClusterInventory


def run() -> None:
    """The Pulumi program: read the inventory, plan, guard, declare, export."""
    from inventory.stack.program import run as run_program

    run_program()


def __getattr__(name: str) -> Any:
    if name == "ClusterInventory":
        from inventory.stack.component import ClusterInventory

        return ClusterInventory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ClusterInventory", "deploy", "reshard", "run"]
