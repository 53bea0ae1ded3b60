"""Test support: the project's two entry points in a project directory of a test's own.

``pulumi(workdir, ...)`` runs the plain CLI as users do (the CLI starts the project's Python
language host, which runs __main__.py in .venv); ``driver(...)`` runs
`python -m inventory deploy` (Automation API, program inline) in this process.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from inventory.stack import driver as deploy
from tests.integration.controlplane import tools_env
from tests.integration.pulumi_stack import local_backend_env


def pulumi(workdir: Path, *args: str, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pulumi ARGS` in the project directory ``workdir``, with its local backend and passphrase
    (and ``env`` on top)."""
    env = {**tools_env(), **local_backend_env(workdir), **(env or {})}
    result = subprocess.run(["pulumi", *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def driver(monkeypatch: pytest.MonkeyPatch, workdir: Path, *argv: str, env: dict[str, str] | None = None) -> int:
    """`python -m inventory deploy ARGV` with ``workdir`` as the project directory; ``env``
    overrides the backend and passphrase variables of ``workdir``'s local backend."""
    for key, value in local_backend_env(workdir, env).items():
        monkeypatch.setenv(key, value)
    return deploy.main([*argv, "--cwd", str(workdir)])
