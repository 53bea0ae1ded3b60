"""Running one exec plugin: the one side effect of the exec-plugin flow (SPEC §3 B.2).

``inventory.credentials.exec.resolve`` hands ``run_plugin`` (or a test's ``PluginRunner``) an argv
and environment decided beforehand (``inventory.credentials.exec.invocation``) and gives what
comes back to ``inventory.credentials.exec.output``. This module starts processes, enforces the
timeout by killing the plugin's whole process group, and decides which of this process's
environment variables a plugin may inherit; it interprets none of the plugin's output.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Self

# The variable kubectl uses to hand the ExecCredential request to a plugin.
EXEC_INFO_ENV = "KUBERNETES_EXEC_INFO"
# The deploy process's own secrets (stack passphrase, backend token, management cluster access):
# a plugin does not inherit them; the provider file may still set them explicitly.
_WITHHELD_PREFIXES = ("PULUMI_",)
_WITHHELD_NAMES = ("KUBECONFIG",)
# After killing a timed-out plugin, how long to wait for its pipes to close.
_KILL_GRACE_SECONDS = 5.0
# An ExecCredential is a few KiB; more is not one, and holding it all would let one plugin fill the
# deploy job's memory. A plugin that prints more on stdout is killed.
STDOUT_LIMIT_BYTES = 1024 * 1024
# Enough stderr for any diagnostic (the excerpt is 500 characters); the rest is read and dropped.
STDERR_LIMIT_BYTES = 64 * 1024
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class PluginOutput:
    """What a plugin run produced; ``returncode`` is None when it was killed for taking too long.

    ``stdout_too_large`` means it printed more than STDOUT_LIMIT_BYTES and was killed for it;
    ``stdout`` then holds the first STDOUT_LIMIT_BYTES only. ``stderr`` holds at most
    STDERR_LIMIT_BYTES, whatever the plugin printed.
    """

    returncode: int | None
    stdout: bytes = field(repr=False)
    stderr: bytes = field(repr=False)
    stdout_too_large: bool = False

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


class PluginRunner(Protocol):
    """Runs one plugin; raises OSError when it cannot be started (not found, not executable)."""

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> PluginOutput: ...


def run_plugin(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> PluginOutput:
    """Run ``argv`` directly (never through a shell), without a terminal, within ``timeout``.

    The plugin gets its own process group so that a timeout kills whatever it started
    as well; otherwise a lingering child holding its stdout would block the run. Its output is
    read as it comes and kept only up to the limits above.
    """
    with subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        deadline = time.monotonic() + timeout
        with _BoundedOutput(process.stdout.fileno(), process.stderr.fileno()) as output:
            if output.read_until(deadline):
                try:
                    returncode = process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass  # it closed its pipes but kept running: a timeout like any other
                else:
                    return PluginOutput(returncode=returncode, stdout=output.stdout, stderr=output.stderr)
            _kill_process_group(process)
            # What it printed before being killed still explains the failure; a child that left
            # the process group and keeps the pipes open is given up on after the grace period.
            output.read_until(time.monotonic() + _KILL_GRACE_SECONDS)
            process.wait()
            if output.stdout_too_large:
                return PluginOutput(process.returncode, output.stdout, output.stderr, stdout_too_large=True)
            return PluginOutput(returncode=None, stdout=b"", stderr=output.stderr)


class _BoundedOutput:
    """Reads a plugin's stdout and stderr pipes together, keeping at most their limits."""

    def __init__(self, stdout_fd: int, stderr_fd: int) -> None:
        self._selector = selectors.DefaultSelector()
        self._kept = {stdout_fd: bytearray(), stderr_fd: bytearray()}
        self._limit = {stdout_fd: STDOUT_LIMIT_BYTES, stderr_fd: STDERR_LIMIT_BYTES}
        self._stdout_fd, self._stderr_fd = stdout_fd, stderr_fd
        self.stdout_too_large = False
        for fd in (stdout_fd, stderr_fd):
            os.set_blocking(fd, False)
            self._selector.register(fd, selectors.EVENT_READ)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self._selector.close()

    @property
    def stdout(self) -> bytes:
        return bytes(self._kept[self._stdout_fd])

    @property
    def stderr(self) -> bytes:
        return bytes(self._kept[self._stderr_fd])

    def read_until(self, deadline: float) -> bool:
        """Read until both pipes close (True), or until ``deadline`` or stdout overflows (False)."""
        while self._selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.stdout_too_large:
                return False
            for key, _ in self._selector.select(remaining):
                self._read(key.fd)
        return not self.stdout_too_large

    def _read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        if not chunk:
            self._selector.unregister(fd)
            return
        kept = self._kept[fd]
        room = self._limit[fd] - len(kept)
        kept += chunk[:room]
        if fd == self._stdout_fd and len(chunk) > room:
            self.stdout_too_large = True


def _kill_process_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def inherited_env() -> dict[str, str]:
    """This process's environment without the deploy's own secrets (see ``_WITHHELD_PREFIXES``)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in _WITHHELD_NAMES and not name.startswith(_WITHHELD_PREFIXES)
    }


def job_env_values() -> tuple[str, ...]:
    """Every value of this process's environment, withheld ones included: what stderr excerpts are
    scrubbed of (a plugin can learn them from files or its parent even when it does not inherit them)."""
    return tuple(os.environ.values())
