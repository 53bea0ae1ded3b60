"""Test support: the package as a user installs it, a wheel built from the sources pyproject.toml
names, installed into a virtualenv of its own.

Only the wheel is installed (`--no-deps`): the new virtualenv sees the pinned dependencies already
installed in the test's own environment through a .pth file (tests/integration/test_package.py
proves with `pip check` that the wheel's pins are the ones installed)."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What the wheel is built from: anything else the build needed would be missing here.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "inventory")


def run(*argv: str | Path, cwd: Path, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``argv`` run outside the checkout's Python path (no PYTHONPATH, no VIRTUAL_ENV)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ.update(env or {})
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=environ, capture_output=True, text=True,
                            timeout=300, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def install_wheel(root: Path) -> Path:
    """The wheel built under ``root``/dist and installed into ``root``/venv; returns the venv's bin/."""
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", root / "dist", source, cwd=root)
    (wheel,) = (root / "dist").glob("cluster_inventory-*.whl")
    venv = root / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    python = venv / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root).stdout.strip()
    Path(purelib, "test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel, cwd=root)
    return venv / "bin"
