"""stacks/Pulumi.production.example.yaml is a stack a user can start from as its header says."""

from __future__ import annotations

from pathlib import Path

import yaml

from inventory.settings import Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "stacks" / "Pulumi.production.example.yaml"


def _header() -> list[str]:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines[:lines.index("config:")] if line.startswith("#")]


def test_its_settings_are_valid() -> None:
    config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["config"]
    Settings.from_mapping({key.removeprefix("cluster-inventory:"): value for key, value in config.items()})


def test_it_is_copied_before_stack_init_as_running_md_says() -> None:
    header = _header()
    copy = next(i for i, line in enumerate(header) if "cp stacks/Pulumi.production.example.yaml" in line)
    init = next(i for i, line in enumerate(header) if line.lstrip("# ").startswith("pulumi stack init"))
    assert copy < init
    running = (REPO / "docs" / "running.md").read_text(encoding="utf-8")
    assert running.index("cp stacks/Pulumi.production.example.yaml") < running.index("pulumi stack init mgmt")


def test_it_recommends_kubeconfig_from_the_environment_as_ci_does() -> None:
    assert not any(key.endswith(":kubeconfig") for key in yaml.safe_load(EXAMPLE.read_text())["config"])
    assert "export KUBECONFIG" in " ".join(_header())
    assert "set `KUBECONFIG`, with `cluster-inventory:kubeconfig` left empty" in " ".join(
        (REPO / "docs" / "ci.md").read_text(encoding="utf-8").split())
