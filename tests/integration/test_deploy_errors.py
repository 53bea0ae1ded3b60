"""`python -m inventory deploy` shows the `pulumi` CLI's own message when the CLI fails:
a stack locked by a running update, a wrong passphrase, a backend that does not exist.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.cli import driver, pulumi
from tests.integration.controlplane import ControlPlane, tools_env
from tests.integration.inventory_objects import Inventory, exec_provider
from tests.integration.project import project_dir
from tests.integration.pulumi_stack import local_backend_env

SLOW_PLUGIN = """#!/usr/bin/env python3
import json, time
time.sleep(8)
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": "slow-token"}}))
"""


def _project(tmp_path: Path, stack: str) -> Path:
    workdir = project_dir(tmp_path / "project")
    pulumi(workdir, "stack", "init", stack, "--secrets-provider", "passphrase")
    return workdir


def _assert_cli_message(stderr: str, message: str) -> None:
    assert message in stderr, stderr
    assert stderr.startswith("pulumi up failed: error: "), stderr
    assert "code: 1" not in stderr and "stdout:" not in stderr and "Traceback" not in stderr


def test_wrong_passphrase_shows_the_clis_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = _project(tmp_path, "guarded")
    pulumi(workdir, "config", "set", "--secret", "cluster-inventory:kubeconfig", "/nowhere/kubeconfig")
    status = driver(monkeypatch, workdir, "up", "--stack", "guarded", env={"PULUMI_CONFIG_PASSPHRASE": "wrong"})
    assert status == 1
    _assert_cli_message(capsys.readouterr().err, "incorrect passphrase")


def test_missing_backend_shows_the_clis_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = _project(tmp_path, "nowhere")
    missing = tmp_path / "no-such-state-dir"
    assert driver(monkeypatch, workdir, "up", "--stack", "nowhere", env={"PULUMI_BACKEND_URL": f"file://{missing}"}) == 1
    _assert_cli_message(capsys.readouterr().err, f"unable to open state directory \"file://{missing}\"")


def test_second_concurrent_up_shows_the_lock_message(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workdir = _project(tmp_path, "busy")
    plugin = tmp_path / "slow-plugin"
    plugin.write_text(SLOW_PLUGIN)
    plugin.chmod(0o755)
    (tmp_path / "providers.json").write_text(json.dumps({"providers": [{"name": "slow", "execConfig": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "interactiveMode": "Never"}}]}))
    Inventory(control_plane.api).cluster_profile(namespace, "slow", [exec_provider("slow", "https://s:6443")])
    for key, value in {"kubeconfig": str(control_plane.kubeconfig), "profileNamespaces[0]": namespace,
                       "pushMode": "off", "execProviderFile": str(tmp_path / "providers.json"),
                       "execProviderBindings.slow.namespaces[0]": namespace,
                       "managedByValue": f"ci-{namespace}", "scheduleIntervalMinutes": "0"}.items():
        pulumi(workdir, "config", "set", "--path", f"cluster-inventory:{key}", value)

    first = subprocess.Popen(["pulumi", "up", "--yes", "--skip-preview"], cwd=workdir,
                             env={**tools_env(), **local_backend_env(workdir)},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        locks = workdir / "state" / ".pulumi" / "locks"
        deadline = time.monotonic() + 60
        while not any(locks.rglob("*.json")) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(locks.rglob("*.json")), "the first update never took the stack's lock"
        assert driver(monkeypatch, workdir, "up", "--stack", "busy") == 1
    finally:
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    _assert_cli_message(capsys.readouterr().err, "the stack is currently locked")
    pulumi(workdir, "destroy", "--yes")
