"""The package as a user installs it: a wheel built from the sources pyproject.toml names, installed
into a virtualenv of its own, gives a `cluster-inventory` command that prints the version, the help
of every subcommand, and renders what `python -m inventory render` renders in the checkout.

Only the wheel is installed here (`--no-deps`): the new virtualenv sees the pinned dependencies
already installed in the test's own environment through a .pth file, and `pip check` proves the
wheel's pins are the ones installed. The command runs outside the checkout, with no PYTHONPATH, so
it imports the installed package and nothing else."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inventory import __version__
from tests.integration.wheel import REPO, install_wheel
from tests.integration.wheel import run as _run

RENDER = ("render", "--from-dir", str(REPO / "tests" / "fixtures" / "basic"),
          "--config", str(REPO / "tests" / "fixtures" / "basic-routes.yaml"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ directory of a fresh virtualenv with the built wheel installed."""
    yield install_wheel(tmp_path_factory.mktemp("package"))


def test_the_wheel_is_named_after_the_version(installed: Path) -> None:
    assert list((installed.parents[1] / "dist").glob(f"cluster_inventory-{__version__}-py3-none-any.whl"))


def test_the_wheels_pins_are_the_installed_dependencies(installed: Path, tmp_path: Path) -> None:
    _run(sys.executable, "-m", "pip", "--python", installed / "python", "check", cwd=tmp_path)


def test_the_command_imports_the_installed_package(installed: Path, tmp_path: Path) -> None:
    where = _run(installed / "python", "-c", "import inventory; print(inventory.__file__)", cwd=tmp_path).stdout
    assert Path(where.strip()).is_relative_to(installed.parent)


def test_the_wheel_ships_the_provider_plugin_of_feature_e(installed: Path, tmp_path: Path) -> None:
    # Started by the engine with its address, the plugin prints the port it serves on.
    plugin = installed / "pulumi-resource-cluster-inventory"
    assert plugin.is_file()
    assert "engine" in _run(plugin, "--help", cwd=tmp_path).stdout


def test_the_command_prints_the_version(installed: Path, tmp_path: Path) -> None:
    assert _run(installed / "cluster-inventory", "--version", cwd=tmp_path).stdout == f"cluster-inventory {__version__}\n"


@pytest.mark.parametrize("argv", [[], ["render"], ["deploy"], ["deploy", "up"], ["reshard"]], ids=" ".join)
def test_every_subcommand_has_help(installed: Path, tmp_path: Path, argv: list[str]) -> None:
    shown = _run(installed / "cluster-inventory", *argv, "--help", cwd=tmp_path).stdout
    assert shown.startswith(" ".join(["usage: cluster-inventory", *argv]))


def test_the_command_renders_what_the_checkout_renders(installed: Path, tmp_path: Path) -> None:
    rendered = _run(installed / "cluster-inventory", *RENDER, cwd=tmp_path)
    in_checkout = _run(sys.executable, "-m", "inventory", *RENDER, cwd=REPO)
    assert "kind: Secret" in rendered.stdout
    assert (rendered.stdout, rendered.stderr) == (in_checkout.stdout, in_checkout.stderr)
