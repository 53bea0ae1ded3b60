"""The examples of docs/configuration.md are valid config as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from inventory.events import plan_events
from inventory.settings import Settings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _section(title: str) -> str:
    return PAGE.read_text(encoding="utf-8").split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _extras_example() -> dict[str, Any]:
    """The section's YAML block, plus the value its `pulumi config set --secret` line sets."""
    section = _section("Extra Event Framework objects")
    values: dict[str, Any] = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1))  # type: ignore[union-attr]
    command = shlex.split(re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert command[:4] == ["pulumi", "config", "set", "--secret"]
    values[command[4].removeprefix("cluster-inventory:")] = json.loads(command[5])
    return values


def test_the_extra_event_framework_examples_plan_as_written() -> None:
    objects = plan_events(Settings.from_mapping(_extras_example()))
    assert sorted(f"{o.kind}/{o.name}" for o in objects) == [
        "ConfigMap/team-a-template", "EventSource/team-a-services", "EventTrigger/team-a-services",
        "Secret/team-a-registry"]


def test_every_extra_key_is_described_as_a_manifest_with_metadata() -> None:
    project = yaml.safe_load((PAGE.parents[1] / "Pulumi.yaml").read_text(encoding="utf-8"))
    for key in ("extraEventSources", "extraEventTriggers", "extraConfigMaps", "extraSecrets"):
        description = project["config"][f"cluster-inventory:{key}"]["description"]
        assert "manifest" in description and "metadata" in description, key
