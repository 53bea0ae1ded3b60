"""The commands README.md and docs/ print, run as a user runs them: from the repository's root,
without options the pages do not show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inventory.stack import driver

REPO = Path(__file__).resolve().parents[2]


def _run(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "inventory", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_deploy_reads_the_stack_config_of_the_directory_it_runs_in() -> None:
    ran = _run("deploy", "preview", "--stack", "no-such-stack")
    assert ran.returncode == 2
    assert f"no stack config {REPO / 'stacks' / 'Pulumi.no-such-stack.yaml'}" in ran.stderr


def test_reshard_reads_the_stack_config_of_the_directory_it_runs_in() -> None:
    ran = _run("reshard", "--from-stacks", "no-such-stack", "--to-stacks", "no-such-0,no-such-1", "--dry-run")
    assert ran.returncode == 1
    assert "no stacks/Pulumi.no-such-0.yaml" in ran.stderr


def test_deploy_outside_a_project_directory_says_where_to_run_it(tmp_path: Path) -> None:
    ran = _run("deploy", "preview", "--stack", "dev", cwd=tmp_path)
    assert ran.returncode == 2
    assert f"no Pulumi.yaml in {tmp_path}" in ran.stderr and "--cwd" in ran.stderr


def test_the_plugins_import_the_package_from_the_directory_that_holds_it() -> None:
    first = driver.cli_environment()["PYTHONPATH"].split(os.pathsep)[0]
    assert (Path(first) / "inventory" / "__init__.py").is_file()


def test_the_missing_plugin_hint_links_the_repository_provider_directory(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    problem = driver.project_problem(tmp_path)
    assert problem is not None
    assert f"ln -s {REPO / 'provider'} {tmp_path / 'provider'}" in problem
    assert (REPO / "provider" / "pulumi-resource-cluster-inventory").is_file()


@pytest.mark.parametrize("command", ["deploy", "reshard"])
def test_the_default_project_directory_is_the_current_one(command: str) -> None:
    ran = _run(command, "--help")
    assert "default: the current directory" in ran.stdout
