"""The commands README.md and docs/ print, run as a user runs them: from the repository's root,
without options the pages do not show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inventory import __version__
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


@pytest.mark.parametrize("argv", [["deploy", "preview"], ["reshard"]], ids=["deploy", "reshard"])
def test_the_default_project_directory_is_the_current_one(argv: list[str]) -> None:
    ran = _run(*argv, "--help")
    assert "default: the current directory" in " ".join(ran.stdout.split())


def test_help_lists_every_command_and_exits_0() -> None:
    ran = _run("--help")
    assert ran.returncode == 0 and ran.stderr == ""
    assert ran.stdout.startswith("usage: python -m inventory [-h] [--version] {render,deploy,reshard,rbac} ...")
    for command in ("render", "deploy", "reshard", "rbac"):
        assert f"\n  {command} " in ran.stdout


def test_an_unknown_command_is_named() -> None:
    ran = _run("deplyo")
    assert ran.returncode == 2 and "unknown command 'deplyo'" in ran.stderr


def test_version_prints_the_package_version() -> None:
    ran = _run("--version")
    assert (ran.returncode, ran.stdout) == (0, f"cluster-inventory {__version__}\n")


@pytest.mark.parametrize("argv", [["render"], ["reshard"], ["deploy"], *(["deploy", a] for a in driver.ACTIONS)],
                         ids=" ".join)
def test_every_command_and_deploy_action_has_its_own_help(argv: list[str]) -> None:
    ran = _run(*argv, "--help")
    assert ran.returncode == 0 and ran.stdout.startswith(f"usage: python -m inventory {' '.join(argv)}")


@pytest.mark.parametrize("argv", [["preview", "--yes"], ["destroy", "--diff"], ["outputs", "--diff"],
                                  ["cancel", "--keep-state-copies", "2"]], ids=" ".join)
def test_an_option_the_action_does_not_use_is_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        driver.parser().parse_args([*argv, "--stack", "dev"])
    assert refused.value.code == 2


def test_up_takes_yes_and_diff_as_pulumi_spells_them() -> None:
    args = driver.parser().parse_args(["up", "--stack", "dev", "--yes", "--diff"])
    assert (args.action, args.yes, args.diff) == ("up", True, True)


def test_make_help_starts_every_description_in_one_column() -> None:
    ran = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True)
    lines = ran.stdout.splitlines()
    targets = [line.split()[1] for line in lines]
    assert "bench-events-limit" in targets and len(lines) == len(set(targets))
    columns = {len(line) - len(line[len("  make "):].split(maxsplit=1)[1]) for line in lines}
    assert len(columns) == 1
