"""Print the configuration reference of Pulumi.yaml as a markdown table (for docs/configuration.md).

    python tools/config_table.py

docs/configuration.md holds the output between `<!-- config-table:start -->` and
`<!-- config-table:end -->`; tests/unit/test_readme_config_table.py keeps them equal. To change a
key's text, edit its description in Pulumi.yaml and paste this script's output between the markers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

PULUMI_YAML = Path(__file__).resolve().parent.parent / "Pulumi.yaml"
PREFIX = "cluster-inventory:"


def _type_of(spec: dict[str, Any]) -> str:
    """The declared type; keys without one (free-form objects and lists) are named by their default."""
    declared = spec.get("type")
    if declared == "array":
        return f"array of {spec.get('items', {}).get('type', 'object')}"
    if declared:
        return str(declared)
    return "list of objects" if isinstance(spec.get("default"), list) else "object"


def _default_of(spec: dict[str, Any]) -> str:
    default = spec.get("default")
    text = default if isinstance(default, str) and default else json.dumps(default, separators=(", ", ": "))
    return f"`{text}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def config_table() -> str:
    config: dict[str, dict[str, Any]] = yaml.safe_load(PULUMI_YAML.read_text())["config"]
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, spec in config.items():
        name = key.removeprefix(PREFIX)
        lines.append(f"| `{name}` | {_type_of(spec)} | {_cell(_default_of(spec))} | {_cell(spec['description'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(config_table(), end="")
