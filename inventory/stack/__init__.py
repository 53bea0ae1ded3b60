"""The Pulumi layer: the program ``pulumi up`` runs, the mapping of planned objects onto
pulumi-kubernetes resources, the guards a run passes first, adoption of existing objects,
the Automation API driver behind ``python -m inventory deploy``, and ``python -m inventory
reshard``, which moves objects' state between shard stacks when the shard count changes.

The only folder that imports Pulumi's resource SDK. ``run`` imports it lazily, so the
driver's command line starts without loading pulumi-kubernetes.
"""

from inventory.stack.driver import main as deploy
from inventory.stack.reshard import main as reshard


def run() -> None:
    """The Pulumi program: read the inventory, plan, guard, declare, export."""
    from inventory.stack.program import run as run_program

    run_program()


__all__ = ["deploy", "reshard", "run"]
