"""Release hygiene: one version, pinned dependencies, a license and a changelog that names the version."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from inventory import __version__

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _requirements() -> list[str]:
    lines = (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_package_depends_on_exactly_the_pinned_requirements() -> None:
    assert PYPROJECT["project"]["dependencies"] == _requirements()
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", pin) for pin in _requirements())


def test_the_build_backend_is_pinned() -> None:
    assert all("==" in requirement for requirement in PYPROJECT["build-system"]["requires"])


def test_the_version_is_written_once_in_the_package() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert PYPROJECT["project"]["dynamic"] == ["version"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "inventory.__version__"}


def test_the_console_scripts_are_the_cli_and_the_provider_plugin() -> None:
    assert PYPROJECT["project"]["scripts"] == {
        "cluster-inventory": "inventory.__main__:console_script",
        "pulumi-resource-cluster-inventory": "inventory.stack.status_provider:main"}


def test_the_license_is_apache_2() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and PYPROJECT["project"]["license"] == "Apache-2.0"


def test_the_changelog_starts_with_the_current_version() -> None:
    headings = re.findall(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(encoding="utf-8"), re.MULTILINE)
    assert headings and headings[0] == __version__
