"""Running one exec plugin: the one side effect of the exec-plugin flow (SPEC §3 B.2).

``inventory.credentials.exec.resolve`` hands ``run_plugin`` (or a test's ``PluginRunner``) an argv
and environment decided beforehand (``inventory.credentials.exec.invocation``) and gives what
comes back to ``inventory.credentials.exec.output``. This module starts processes, enforces the
timeout by killing the plugin's whole process group, and decides which of this process's
environment variables a plugin may inherit; it interprets none of the plugin's output.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# The variable kubectl uses to hand the ExecCredential request to a plugin.
EXEC_INFO_ENV = "KUBERNETES_EXEC_INFO"
# The deploy process's own secrets (stack passphrase, backend token, management cluster access):
# a plugin does not inherit them; the provider file may still set them explicitly.
_WITHHELD_PREFIXES = ("PULUMI_",)
_WITHHELD_NAMES = ("KUBECONFIG",)
# After killing a timed-out plugin, how long to wait for its pipes to close.
_KILL_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class PluginOutput:
    """What a plugin run produced; ``returncode`` is None when it was killed for taking too long."""

    returncode: int | None
    stdout: bytes = field(repr=False)
    stderr: bytes = field(repr=False)

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


class PluginRunner(Protocol):
    """Runs one plugin; raises OSError when it cannot be started (not found, not executable)."""

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> PluginOutput: ...


def run_plugin(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> PluginOutput:
    """Run ``argv`` directly (never through a shell), without a terminal, within ``timeout``.

    The plugin gets its own process group so that a timeout kills whatever it started
    as well; otherwise a lingering child holding its stdout would block the run.
    """
    with subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_process_group(process)
            try:
                _, stderr = process.communicate(timeout=_KILL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                stderr = b""
            return PluginOutput(returncode=None, stdout=b"", stderr=stderr)
    return PluginOutput(returncode=process.returncode, stdout=stdout, stderr=stderr)


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
