"""Change a sharded fleet's ``shardCount`` or ``shardAssignment`` with no outage.

    python -m inventory reshard --stack-prefix prod- --from-count 2 --to-count 3 [--dry-run]
    python -m inventory reshard --from-stacks prod --to-stacks prod-0,prod-1,prod-2   # names of your own

Edit the shard stacks' config first (every new stack, ``<prefix>0`` .. ``<prefix><to-count - 1>``
or those ``--to-stacks`` names, has ``shardCount: <to-count>``, its own ``shardIndex`` and one
``shardAssignment``). The command then, for every object in the state of the old shard stacks,
finds the stack that declares it under the new config and moves its state there with
``pulumi state move``, together with what the program declares beside it (a ClusterProfile's
status, feature E): no object in the cluster is touched, so the next ``up`` of each stack
updates the moved objects in place (their owner stamp) and no consumer sees a DELETE. Then it
settles each stack for its next run: the moved resources hang under the stack's own
component, as the program declares them, and the outputs the guards read (the objects a stack
manages, its shard layout) say what the state now holds. ``--dry-run`` prints
what would move and changes nothing.

While it works, no shard stack runs: it holds each stack's lock (a `file://` backend,
``inventory/stack/locks.py``) and marks each state (``resharding``), so an `up` fails at the
lock or stops at its first guard. Stopped part-way (an error, a killed job), it says so, the
marks stay, and the same command run again carries on from the states as they are.

Backend and passphrase come from the environment, as for ``python -m inventory deploy``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from inventory import invoked_as
from inventory.settings import SettingsError
from inventory.stack.driver import project_problem
from inventory.stack.locks import StackLockError
from inventory.stack.reshard.command import LOCK_TIMEOUT_S, Request, reshard
from inventory.stack.reshard.moves import ReshardError
from inventory.stack.reshard.pulumi_cli import PulumiCliError
from inventory.stack.state_format import StateFormatError

# Exit statuses: resharded (or a dry run printed), stopped (the message says whether anything
# moved), stopped before anything because the project directory is unusable.
EXIT_DONE = 0
EXIT_STOPPED = 1
EXIT_UNUSABLE_PROJECT = 2


def parser(description: str | None) -> argparse.ArgumentParser:
    """The command line, read into a ``command.Request`` by ``main``."""
    parser = argparse.ArgumentParser(prog=f"{invoked_as()} reshard", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack-prefix", help="the shard stacks are named <prefix>0, <prefix>1, ... (e.g. prod-)")
    parser.add_argument("--from-count", type=int, help="shardCount the stacks last ran with")
    parser.add_argument("--to-count", type=int, help="shardCount their config now says")
    parser.add_argument("--from-stacks", help="the old stacks by name, comma-separated in shardIndex order, "
                                              "instead of --stack-prefix and --from-count (e.g. one unsharded stack)")
    parser.add_argument("--to-stacks", help="the new stacks by name, comma-separated in shardIndex order, "
                                            "instead of --stack-prefix and --to-count")
    parser.add_argument("--dry-run", action="store_true", help="print what would move; change nothing")
    parser.add_argument("--lock-timeout", type=float, default=LOCK_TIMEOUT_S,
                        help="seconds to wait for a run that holds a shard stack to end (default %(default)s)")
    parser.add_argument("--cwd", type=Path, default=Path("."),
                        help="project directory holding Pulumi.yaml and stacks/ (as `pulumi --cwd`; "
                             "default: the current directory)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    command_line = parser(__doc__)
    args = command_line.parse_args(argv)
    if (args.from_count is not None and args.from_count < 1) or (args.to_count is not None and args.to_count < 1):
        command_line.error("--from-count and --to-count must be 1 or more")
    request = Request(args.cwd.resolve(), args.stack_prefix, args.from_count, args.to_count, args.from_stacks,
                      args.to_stacks, args.dry_run, args.lock_timeout)
    problem = project_problem(request.project_dir)
    if problem:  # the CLI would refuse every command of the move, after the stacks were locked
        print(f"reshard stopped before moving anything: {problem}", file=sys.stderr)
        return EXIT_UNUSABLE_PROJECT
    with tempfile.TemporaryDirectory(prefix="cluster-inventory-") as tmpdir:
        try:
            reshard(request, tmpdir)
        except (ReshardError, PulumiCliError, StateFormatError, SettingsError, StackLockError) as err:
            print(f"reshard stopped: {err}", file=sys.stderr)
            return EXIT_STOPPED
        except Exception as err:  # an inventory read failure, from the pipeline
            from inventory.sources import InventoryReadError

            if not isinstance(err, InventoryReadError):
                raise
            print(f"reshard stopped before moving anything: {err}", file=sys.stderr)
            return EXIT_STOPPED
    return EXIT_DONE
