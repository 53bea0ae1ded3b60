"""tools/cluster.py knows its own processes from the moment they start, and nothing else (issue 16).

`make cluster-up` checks each process it launches at once. It used to read
/proc/<pid>/cmdline, which stays empty until the new program has finished loading, so the
first check now and then took a healthy kube-apiserver for one that had exited. These tests
launch and check straight away, many times over, each time from a fresh copy of a small real
executable pushed out of the page cache: the kernel then reads it from disk during the exec,
which widens the window the old check fell into (half of the launches, against about one in
two hundred with the file cached).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCHES = 200
SLEEP = shutil.which("sleep") or "/bin/sleep"


def _load_cluster_tool() -> ModuleType:
    """tools/cluster.py as a module (tools/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("cluster_tool", REPO / "tools" / "cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


cluster = _load_cluster_tool()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts itself; killed and reaped at the end, whatever happened."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def _program(where: Path, name: str, source: str = SLEEP) -> str:
    """A fresh copy of ``source`` named ``name`` (e.g. "etcd", so it counts as one of ours),
    written out and dropped from the page cache, like a binary nobody has run for a while."""
    where.mkdir(parents=True, exist_ok=True)
    path = where / name
    shutil.copy2(source, path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # no effect on tmpfs: still a valid test
    finally:
        os.close(fd)
    return str(path)


def _launch(args: list[str]) -> subprocess.Popen[bytes]:
    """Start ``args`` the way cluster.spawn does (own session, no stdin)."""
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``condition()`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.01)


def _state(pid: int) -> str:
    """The process state letter from /proc/<pid>/stat ("Z" for a zombie), "" when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def test_a_process_is_recognised_at_once_after_its_launch(tmp_path: Path) -> None:
    """The check `up`, `status` and `down` use, made the instant Popen returns."""
    missed = []
    for index in range(LAUNCHES):
        proc = _launch([_program(tmp_path / str(index), "etcd"), "60"])
        try:
            if not cluster.alive(proc.pid):
                missed.append(index)
        finally:
            proc.kill()
            proc.wait()
    assert not missed, f"{len(missed)} of {LAUNCHES} fresh launches not recognised at once: {missed}"


def test_wait_for_never_takes_a_fresh_launch_for_an_exited_one(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """spawn + wait_for as `up` runs them: the first liveness check falls right after the launch."""
    monkeypatch.setattr(cluster, "POLL_INTERVAL_S", 0)
    for index in range(LAUNCHES):
        where = tmp_path / str(index)
        launched = cluster.spawn([_program(where, "kube-apiserver"), "60"], where / "kube-apiserver.log")
        try:
            assert launched.program == "kube-apiserver"
            # Not ready at the first look, so wait_for checks the process; ready at the second.
            cluster.wait_for(iter([False, True]).__next__, "kube-apiserver", [launched])
        finally:
            os.killpg(launched.pid, signal.SIGKILL)


def test_a_process_that_exits_at_once_is_reported_with_its_log(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "STARTUP_TIMEOUT_S", 10)
    monkeypatch.setattr(cluster, "POLL_INTERVAL_S", 0.01)
    log = tmp_path / "etcd.log"
    launched = cluster.spawn(["/bin/sh", "-c", "echo 'listen tcp 127.0.0.1:2379: address in use' >&2; exit 1"],
                             log)
    with pytest.raises(SystemExit, match=rf"etcd: process {launched.pid} exited") as raised:
        cluster.wait_for(lambda: False, "etcd", [launched])
    assert "address in use" in str(raised.value)


def test_a_zombie_is_not_alive(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    """An exited child nobody has reaped yet still has a pid (and answers kill 0): it is gone."""
    proc = _launch([_program(tmp_path, "etcd", shutil.which("true") or "/bin/true")])
    processes.append(proc)
    _wait_until(lambda: _state(proc.pid) == "Z", "the child is a zombie")
    assert not cluster.alive(proc.pid)
    assert not cluster.alive(proc.pid, "etcd")


def test_a_pid_another_program_took_over_is_not_ours(tmp_path: Path,
                                                     processes: list[subprocess.Popen[bytes]]) -> None:
    """A pid from cluster.json that now runs something else: not recognised, and `stop` leaves it."""
    other = _launch([_program(tmp_path, "sleep"), "60"])
    processes.append(other)
    assert not cluster.alive(other.pid)
    cluster.stop([other.pid])
    assert other.poll() is None, "stop signalled a process that is not ours"


def test_a_pid_running_another_of_our_programs_is_not_what_was_launched(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    proc = _launch([_program(tmp_path, "etcd"), "60"])
    processes.append(proc)
    assert cluster.alive(proc.pid)  # status and down: any of ours
    assert cluster.alive(proc.pid, "etcd")
    assert not cluster.alive(proc.pid, "kube-apiserver")


def test_processes_of_an_earlier_start_are_found_and_stopped(tmp_path: Path) -> None:
    """Started through the tools/bin symlink, found from the bare pid (as cluster.json keeps it),
    still found after `make tools` replaced the binary on disk, and stopped by `stop`."""
    target = _program(tmp_path / "kube-apiserver-1.0.0" / "bin", "kube-apiserver")
    link = tmp_path / "bin" / "kube-apiserver"
    link.parent.mkdir()
    link.symlink_to(target)
    launched = cluster.spawn([str(link), "60"], tmp_path / "kube-apiserver.log")
    try:
        assert launched.program == "kube-apiserver"
        assert cluster.alive(launched.pid)
        shutil.copy2(SLEEP, target + ".tmp")
        os.replace(target + ".tmp", target)  # what tools/build-tools.sh does on a rebuild
        assert cluster.alive(launched.pid)
        assert cluster.alive(launched.pid, launched.program)
        cluster.stop([launched.pid])
        assert not cluster.alive(launched.pid)
    finally:
        if _state(launched.pid) not in ("", "Z"):
            os.killpg(launched.pid, signal.SIGKILL)
