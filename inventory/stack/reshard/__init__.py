"""``python -m inventory reshard``: a sharded fleet's state moved to a new ``shardCount`` or
``shardAssignment`` with no outage (docs/sizing.md, Changing shardCount), one job per module:

- ``cli``: the command line and what the command promises (its ``--help``);
- ``command``: the reshard itself, step by step;
- ``fleet``: the old and new shard stacks, and which new stack declares each object;
- ``moves``: which objects' state moves from which stack to which;
- ``settle``: each stack's state marked while it moves, and settled for its next run after;
- ``writer``: every write to a stack's state, made while the command holds the stack's lock
  (inventory/stack/locks.py) and again when a run got in its way;
- ``pulumi_cli``: the plain `pulumi` CLI it runs.

What they read and rewrite of Pulumi's state goes through inventory/stack/state_format.py.
"""

from inventory.stack.reshard.cli import main
from inventory.stack.reshard.moves import COMPONENT_TYPE

__all__ = ["COMPONENT_TYPE", "main"]
