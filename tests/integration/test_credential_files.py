"""No copy of the management cluster's kubeconfig is left on disk by a run.

pulumi-kubernetes writes the kubeconfig it is configured with to a new file in $TMPDIR (for
Helm) and never removes it. Plain `pulumi` shows the provider doing so; `python -m inventory
deploy` gives the CLI and its plugins a temporary directory of their own and removes it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.integration.cli import driver, pulumi
from tests.integration.controlplane import ControlPlane
from tests.integration.project import project_dir


def _kubeconfig_copies(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("kubeconfig*") if p.is_file()]


@pytest.fixture
def workdir(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Path:
    workdir = project_dir(tmp_path / "project")
    pulumi(workdir, "stack", "init", "files", "--secrets-provider", "passphrase")
    pulumi(workdir, "config", "set", "cluster-inventory:kubeconfig", str(control_plane.kubeconfig))
    pulumi(workdir, "config", "set", "cluster-inventory:scheduleIntervalMinutes", "0")
    for key in ("capiNamespaces", "profileNamespaces"):
        pulumi(workdir, "config", "set", "--path", f"cluster-inventory:{key}[0]", namespace)
    return workdir


def test_plain_pulumi_leaves_the_providers_copy_of_the_kubeconfig(workdir: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "plain-tmp"
    tmp.mkdir()
    pulumi(workdir, "preview", "--stack", "files", "--non-interactive", env={"TMPDIR": str(tmp)})
    copies = _kubeconfig_copies(tmp)
    assert copies, "the provider no longer writes its kubeconfig file: drop the driver's TMPDIR and this test"
    assert "certificate-authority-data" in copies[0].read_text()


def test_the_driver_leaves_no_copy_of_the_kubeconfig(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "driver-tmp"
    tmp.mkdir()
    # The process's own temporary directory, which the CLI would inherit without the driver's.
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert driver(monkeypatch, workdir, "preview", "--stack", "files") == 0
    assert _kubeconfig_copies(tmp) == []
    assert list(tmp.iterdir()) == []
