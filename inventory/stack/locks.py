"""Holding the stack locks of a self-managed `file://` backend while `python -m inventory reshard` runs.

Pulumi 3.259's self-managed ("DIY") backend locks a stack with a file of its own in
``.pulumi/locks/organization/<project>/<stack>/<id>.json`` (pkg/backend/diy/lock.go): an update,
refresh, destroy and ``pulumi stack import`` each check that the folder holds no other file,
write theirs, check again, and remove it when they end; anything else they find makes them
fail with "the stack is currently locked by 1 lock(s)", naming who wrote it (pid, user, host,
time). ``pulumi state move`` takes no lock across its read and write: it reads both states
unlocked and only its two saves lock, each for the instant of the save; a `pulumi preview` takes
none at all.

So ``StackLocks`` writes a lock file of the same form into each stack's folder for the whole
reshard: an `up`, `refresh` or `destroy` of a shard stack started meanwhile fails at once with
Pulumi's own message. The CLI's own writes (a state move, a stack import) would fail on it
too, so ``released`` lifts it for the stacks one command writes, for as long as that command
runs. A run that starts in that gap finds the ``resharding`` marker in the state
(inventory/stack/guards.py, check_no_reshard) and stops before it declares anything; the lock
is then taken back as soon as that run has let go of its own.

Other backends (a bucket, Pulumi Cloud) keep their locks where this module cannot write them:
there the marker and the CLI's own locking are the protection (docs/sizing.md).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from inventory.stack.backend import BOOKKEEPING_DIR

# The one organization name a self-managed backend knows (pkg/backend/diy/backend.go).
ORGANIZATION = "organization"
# Lock files this command writes start so: a stale one (its process gone) is recognised and removed.
OWN_PREFIX = "reshard-"
POLL_SECONDS = 0.5


class StackLockError(Exception):
    """A stack stayed locked by another process for longer than the command waits."""


class StackLocks:
    """This process's lock on each stack named to ``acquire``, in the backend rooted at ``root``
    (None: a backend whose locks are out of reach, where every method does nothing)."""

    def __init__(self, root: Path | None, project: str, timeout: float,
                 say: Callable[[str], None] = lambda line: None) -> None:
        self.root = root
        self.project = project
        self.timeout = timeout
        self.say = say
        self.name = f"{OWN_PREFIX}{uuid.uuid4()}.json"
        self.held: set[str] = set()

    def folder(self, stack: str) -> Path:
        assert self.root is not None
        return self.root / BOOKKEEPING_DIR / "locks" / ORGANIZATION / self.project / stack

    def acquire(self, stacks: Sequence[str]) -> None:
        """Lock each of ``stacks``, waiting up to ``timeout`` seconds for another process's lock to go."""
        if self.root is None:
            return
        for stack in stacks:
            if stack in self.held:
                continue
            deadline = time.monotonic() + self.timeout
            waited = False
            while True:
                others = self.others(stack)
                if not others:
                    folder = self.folder(stack)
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / self.name).write_text(json.dumps(_content()), encoding="utf-8")
                    if not self.others(stack):  # as Pulumi does: whoever wrote at the same moment, both back off
                        self.held.add(stack)
                        break
                    (folder / self.name).unlink(missing_ok=True)
                    others = self.others(stack)
                if time.monotonic() >= deadline:
                    raise StackLockError(
                        f"stack {stack} is locked by another process ({'; '.join(_describe(p) for p in others)}), "
                        f"waited {self.timeout:.0f} s: wait for that run to end; if none is running (a killed "
                        f"run left its lock), `pulumi cancel --stack {stack}` removes it")
                if not waited:
                    self.say(f"waiting for the run that holds stack {stack}'s lock to end "
                             f"({'; '.join(_describe(p) for p in others)}) ...")
                    waited = True
                time.sleep(POLL_SECONDS)

    def release(self, stacks: Sequence[str] | None = None) -> None:
        """Unlock ``stacks`` (default: every stack this process holds)."""
        if self.root is None:
            return
        for stack in list(self.held if stacks is None else stacks):
            if stack in self.held:
                (self.folder(stack) / self.name).unlink(missing_ok=True)
                self.held.discard(stack)

    @contextmanager
    def released(self, stacks: Sequence[str]) -> Iterator[None]:
        """``stacks`` unlocked while the block runs (a `pulumi` command that writes them), locked again after."""
        held = [stack for stack in stacks if stack in self.held]
        self.release(held)
        try:
            yield
        finally:
            self.acquire(held)

    def others(self, stack: str) -> list[Path]:
        """The lock files of other processes on ``stack``; a stale one of this command's (its process
        gone from this host: a killed reshard) is removed."""
        folder = self.folder(stack)
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.iterdir()):
            if path.name == self.name or not path.is_file():
                continue
            if path.name.startswith(OWN_PREFIX) and _stale(path):
                path.unlink(missing_ok=True)
                self.say(f"removed the lock a stopped reshard left on stack {stack} ({path.name})")
                continue
            found.append(path)
        return found


def _content() -> dict[str, object]:
    """What Pulumi writes in its own lock files, so its message names this process."""
    return {"pid": os.getpid(), "username": getpass.getuser(), "hostname": socket.gethostname(),
            "timestamp": datetime.now(UTC).isoformat()}


def _read(path: Path) -> dict[str, object]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def _stale(path: Path) -> bool:
    content = _read(path)
    pid = content.get("pid")
    if content.get("hostname") != socket.gethostname() or not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _describe(path: Path) -> str:
    content = _read(path)
    return (f"{path}: written by {content.get('username', '?')}@{content.get('hostname', '?')} "
            f"(pid {content.get('pid', '?')}) at {content.get('timestamp', '?')}")
