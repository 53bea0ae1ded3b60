"""The package as a user installs it: a wheel built from the sources pyproject.toml names, installed
into a virtualenv of its own, gives a `cluster-inventory` command that prints the version, the help
of every subcommand, and renders what `python -m inventory render` renders in the checkout.

Only the wheel is installed here (`--no-deps`): the new virtualenv sees the pinned dependencies
already installed in the test's own environment through a .pth file, and `pip check` proves the
wheel's pins are the ones installed. The command runs outside the checkout, with no PYTHONPATH, so
it imports the installed package and nothing else."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inventory import __version__

REPO = Path(__file__).resolve().parents[2]
# What the wheel is built from: anything else the build needed would be missing here.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "inventory")
RENDER = ("render", "--from-dir", str(REPO / "tests" / "fixtures" / "basic"),
          "--config", str(REPO / "tests" / "fixtures" / "basic-routes.yaml"))


def _run(*argv: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ directory of a fresh virtualenv with the built wheel installed."""
    root = tmp_path_factory.mktemp("package")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", root / "dist", source, cwd=root)
    (wheel,) = (root / "dist").glob("cluster_inventory-*.whl")
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    python = venv / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root).stdout.strip()
    Path(purelib, "test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel, cwd=root)
    yield venv / "bin"


def test_the_wheel_is_named_after_the_version(installed: Path) -> None:
    assert list((installed.parents[1] / "dist").glob(f"cluster_inventory-{__version__}-py3-none-any.whl"))


def test_the_wheels_pins_are_the_installed_dependencies(installed: Path, tmp_path: Path) -> None:
    _run(sys.executable, "-m", "pip", "--python", installed / "python", "check", cwd=tmp_path)


def test_the_command_imports_the_installed_package(installed: Path, tmp_path: Path) -> None:
    where = _run(installed / "python", "-c", "import inventory; print(inventory.__file__)", cwd=tmp_path).stdout
    assert Path(where.strip()).is_relative_to(installed.parent)


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
