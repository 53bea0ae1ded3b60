"""docs/configuration.md's configuration reference is exactly what tools/config_table.py makes of Pulumi.yaml.

The table lives in docs/configuration.md, and only there: README.md and the other pages link to it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"
REFERENCE = REPO / "docs" / "configuration.md"


def _generated_table() -> str:
    spec = importlib.util.spec_from_file_location("config_table", REPO / "tools" / "config_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table: str = module.config_table()
    return table


def _documented_table() -> str:
    assert REFERENCE.exists(), "docs/configuration.md is missing"
    page = REFERENCE.read_text(encoding="utf-8")
    assert page.count(START) == 1 and page.count(END) == 1, f"docs/configuration.md needs one {START} ... {END} block"
    return page.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def test_documented_config_table_matches_pulumi_yaml() -> None:
    assert _documented_table() == _generated_table(), (
        "docs/configuration.md's config table is out of date: replace the block between the config-table "
        "markers with the output of `python tools/config_table.py`"
    )


def test_no_other_page_holds_a_copy_of_the_config_table() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    copies = [page.relative_to(REPO).as_posix() for page in pages if page != REFERENCE and START in page.read_text()]
    assert not copies, f"the config table belongs in docs/configuration.md only; also found in {copies}"


def test_config_table_lists_every_key_of_pulumi_yaml() -> None:
    import yaml

    keys = [key.split(":", 1)[1] for key in yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]]
    rows = [line.split("|")[1].strip().strip("`") for line in _generated_table().splitlines()[2:]]
    assert rows == keys
