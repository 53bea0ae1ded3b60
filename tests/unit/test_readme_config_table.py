"""README.md's configuration reference is exactly what tools/config_table.py makes of Pulumi.yaml."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def _generated_table() -> str:
    spec = importlib.util.spec_from_file_location("config_table", REPO / "tools" / "config_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table: str = module.config_table()
    return table


def _readme_table() -> str:
    path = REPO / "README.md"
    assert path.exists(), "README.md is missing"
    readme = path.read_text(encoding="utf-8")
    assert readme.count(START) == 1 and readme.count(END) == 1, f"README.md needs one {START} ... {END} block"
    return readme.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def test_readme_config_table_matches_pulumi_yaml() -> None:
    assert _readme_table() == _generated_table(), (
        "README.md's config table is out of date: replace the block between the config-table "
        "markers with the output of `python tools/config_table.py`"
    )


def test_config_table_lists_every_key_of_pulumi_yaml() -> None:
    import yaml

    keys = [key.split(":", 1)[1] for key in yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]]
    rows = [line.split("|")[1].strip().strip("`") for line in _generated_table().splitlines()[2:]]
    assert rows == keys
