"""No shard stack runs while `python -m inventory reshard` moves state: it holds each stack's lock in
a `file://` backend (inventory/stack/locks.py), marks each state so the program stops
(guards.check_no_reshard), and makes every write of its own again from a fresh export when a run
held the stack."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inventory.stack.guards import RESHARDING_OUTPUT, GuardError, PreviousRun, check_no_reshard
from inventory.stack.locks import OWN_PREFIX, StackLockError, StackLocks
from inventory.stack.reshard.pulumi_cli import PulumiCliError
from inventory.stack.reshard.writer import Writer

PROJECT = "cluster-inventory"


def _locks(tmp_path: Path, timeout: float = 0.0) -> StackLocks:
    return StackLocks(tmp_path, PROJECT, timeout)


def _folder(tmp_path: Path, stack: str) -> Path:
    return tmp_path / ".pulumi" / "locks" / "organization" / PROJECT / stack


def _pulumi_lock(tmp_path: Path, stack: str, pid: int) -> Path:
    """A lock file as `pulumi up` writes it (pkg/backend/diy/lock.go)."""
    folder = _folder(tmp_path, stack)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "0b7e6f9c-0000-4000-8000-000000000000.json"
    path.write_text(json.dumps({"pid": pid, "username": "ci", "hostname": "runner-7",
                                "timestamp": "2026-12-03T12:00:00Z"}))
    return path


def test_a_held_stack_has_a_lock_file_in_the_form_pulumi_reads(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    locks.acquire(["prod-0", "prod-1"])
    (lock,) = _folder(tmp_path, "prod-0").iterdir()
    content = json.loads(lock.read_text())
    assert lock.name.startswith(OWN_PREFIX) and content["pid"] == os.getpid()
    assert set(content) == {"pid", "username", "hostname", "timestamp"}
    locks.release()
    assert list(_folder(tmp_path, "prod-0").iterdir()) == [] and list(_folder(tmp_path, "prod-1").iterdir()) == []


def test_a_stack_another_run_holds_stops_the_command_naming_the_run_and_the_way_out(tmp_path: Path) -> None:
    lock = _pulumi_lock(tmp_path, "prod-1", 4242)
    locks = _locks(tmp_path, timeout=0.6)
    with pytest.raises(StackLockError, match=r"stack prod-1 is locked by another process .*ci@runner-7 \(pid 4242\)"
                                             r".*`pulumi cancel --stack prod-1`"):
        locks.acquire(["prod-0", "prod-1"])
    assert lock.exists()  # another's lock is never removed
    locks.release()
    assert list(_folder(tmp_path, "prod-0").iterdir()) == []


def test_the_command_waits_for_a_run_that_ends(tmp_path: Path) -> None:
    lock = _pulumi_lock(tmp_path, "prod-0", 4242)
    said: list[str] = []
    locks = StackLocks(tmp_path, PROJECT, 10, said.append)
    import threading

    threading.Timer(0.7, lock.unlink).start()
    locks.acquire(["prod-0"])
    assert locks.held == {"prod-0"} and "waiting for the run that holds stack prod-0's lock" in said[0]


def test_a_lock_a_killed_reshard_left_is_removed(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True,
                          text=True)
    folder = _folder(tmp_path, "prod-0")
    folder.mkdir(parents=True)
    stale = folder / f"{OWN_PREFIX}old.json"
    stale.write_text(json.dumps({"pid": int(gone.stdout), "username": "u", "hostname": socket.gethostname(),
                                 "timestamp": "t"}))
    locks = _locks(tmp_path)
    locks.acquire(["prod-0"])
    assert not stale.exists() and locks.held == {"prod-0"}


def test_a_write_lifts_the_lock_of_the_stacks_it_writes_only(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    locks.acquire(["prod-0", "prod-1"])
    with locks.released(["prod-0"]):
        assert list(_folder(tmp_path, "prod-0").iterdir()) == []
        assert len(list(_folder(tmp_path, "prod-1").iterdir())) == 1
    assert locks.held == {"prod-0", "prod-1"}


def test_a_backend_out_of_reach_has_no_lock_files_to_hold() -> None:
    locks = StackLocks(None, PROJECT, 0)
    locks.acquire(["prod-0"])
    with locks.released(["prod-0"]):
        pass
    assert locks.held == set()


class _Cli:
    """`pulumi stack export`/`import` of one stack that a run holds for the first ``busy`` imports."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.state: dict[str, Any] = {"version": 3, "deployment": {"resources": [], "n": 0}}
        self.exports = 0

    def export(self, stack: str) -> dict[str, Any]:
        self.exports += 1
        self.state["deployment"]["n"] += 1  # the run changed the state meanwhile
        return json.loads(json.dumps(self.state))

    def import_(self, stack: str, exported: dict[str, Any]) -> None:
        if self.busy:
            self.busy -= 1
            raise PulumiCliError("`pulumi stack import ...` failed: error: the stack is currently locked by 1 lock(s).")
        self.state = exported


def test_a_write_a_run_got_in_the_way_of_is_made_again_from_a_fresh_export(tmp_path: Path) -> None:
    cli = _Cli(busy=2)
    writer = Writer(cli, _locks(tmp_path, timeout=30), poll=0.01)  # type: ignore[arg-type]
    written = writer.update("prod-0", lambda exported: {**exported, "marked": True})
    assert cli.exports == 3 and written["deployment"]["n"] == 3 and cli.state == written


def test_a_write_still_locked_after_the_timeout_fails_with_the_clis_message(tmp_path: Path) -> None:
    writer = Writer(_Cli(busy=100), _locks(tmp_path, timeout=0))  # type: ignore[arg-type]
    with pytest.raises(PulumiCliError, match="currently locked"):
        writer.update("prod-0", lambda exported: exported)


def test_a_run_of_a_stack_being_resharded_stops_and_names_the_command() -> None:
    previous = PreviousRun.from_outputs({RESHARDING_OUTPUT: {
        "command": "python -m inventory reshard --stack-prefix prod- --from-count 2 --to-count 3",
        "started": "2026-12-03T12:00:00+00:00"}})
    with pytest.raises(GuardError, match="stack prod-1 is being resharded: `python -m inventory reshard --stack-prefix "
                                         "prod- --from-count 2 --to-count 3` \\(started 2026-12-03T12:00:00\\+00:00\\)"
                                         ".*run the same command again"):
        check_no_reshard(previous, "prod-1")
    check_no_reshard(PreviousRun.from_outputs({}), "prod-1")
