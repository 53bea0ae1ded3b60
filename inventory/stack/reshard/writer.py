"""Every write of ``python -m inventory reshard`` to a stack's state, made while it holds that
stack's lock (inventory/stack/locks.py), and made again when a run got in its way."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from inventory.stack.locks import StackLocks
from inventory.stack.reshard.pulumi_cli import Cli, PulumiCliError

# How often a write a run got in the way of is tried again.
LOCK_POLL_S = 1.0

T = TypeVar("T")


class Writer:
    """Every write of this command to a stack's state, made while it holds that stack.

    Between its own writes the command holds each stack's lock (``StackLocks``, a `file://`
    backend); a write lifts it for the stacks it writes. A run that takes a stack's lock in that
    gap makes the write fail as locked: the write waits for the run to end (it stops at the
    ``resharding`` marker, or at its layout guard) and is made again from the state as it is then."""

    def __init__(self, cli: Cli, locks: StackLocks, poll: float = LOCK_POLL_S,
                 say: Callable[[str], None] = lambda line: None) -> None:
        self.cli = cli
        self.locks = locks
        self.poll = poll
        self.say = say

    def _retrying(self, stacks: Sequence[str], write: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.locks.timeout
        waiting = False
        while True:
            with self.locks.released(stacks):
                try:
                    return write()
                except PulumiCliError as err:
                    if not err.locked or time.monotonic() >= deadline:
                        raise
            if not waiting:
                self.say(f"stack {' or '.join(stacks)} is locked by a run; waiting for it to end ...")
                waiting = True
            time.sleep(self.poll)

    def update(self, stack: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Export ``stack``, apply ``change`` and import the result; returns what was imported.
        Exported again on every attempt: an import of an older export would undo a run's update."""
        def write() -> dict[str, Any]:
            changed = change(self.cli.export(stack))
            self.cli.import_(stack, changed)
            return changed
        return self._retrying([stack], write)

    def move(self, source: str, dest: str, urns: list[str]) -> None:
        """`pulumi state move` of ``urns`` from ``source`` to ``dest``."""
        self._retrying([source, dest], lambda: self.cli.move(source, dest, urns))
