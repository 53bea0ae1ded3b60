"""Memory that fits (issue 18), with the real CLI: a stack over memoryBudgetMib is warned in a
preview and stopped in `up` before anything is declared, naming a shardCount that fits;
allowOverMemoryBudget lets `up` run anyway."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from tests.integration.cli import pulumi
from tests.integration.controlplane import ControlPlane
from tests.integration.project import project_dir
from tests.integration.test_state_growth import init_stack, inventory  # noqa: F401 (the fixture)

# 103 MiB holds two objects (inventory/stack/memory.py); the inventory makes six push Secrets.
TINY_BUDGET = "103"
SHARDS_THAT_FIT = "`shardCount: 4`"  # 6 objects x 1.1 / 2 per stack, rounded up


def pushed(control_plane: ControlPlane, names: dict[str, str]) -> int:
    consumers = [ns.metadata.name for ns in client.CoreV1Api(control_plane.api).list_namespace(
        label_selector=names["label"]).items]
    return sum(len(client.CoreV1Api(control_plane.api).list_namespaced_secret(ns).items) for ns in consumers)


def test_over_the_budget_preview_warns_up_stops_and_the_switch_overrides(
    control_plane: ControlPlane, inventory: dict[str, str], tmp_path: Path  # noqa: F811
) -> None:
    workdir = project_dir(tmp_path / "project")
    init_stack(workdir, "budget", control_plane, inventory)
    pulumi(workdir, "config", "set", "cluster-inventory:memoryBudgetMib", TINY_BUDGET)

    preview = pulumi(workdir, "preview")
    assert "`pulumi up` would stop: this stack declares 6 objects" in preview.stdout, preview.stdout
    assert SHARDS_THAT_FIT in preview.stdout

    up = pulumi(workdir, "up", "--yes", "--skip-preview", check=False)
    assert up.returncode != 0
    diagnostics = up.stdout.partition("Diagnostics:")[2]
    assert diagnostics.count("error:") == 1 and SHARDS_THAT_FIT in diagnostics, up.stdout
    assert "allowOverMemoryBudget true" in diagnostics
    assert pushed(control_plane, inventory) == 0

    pulumi(workdir, "config", "set", "cluster-inventory:allowOverMemoryBudget", "true")
    allowed = pulumi(workdir, "up", "--yes", "--skip-preview")
    assert "allowOverMemoryBudget is set" in allowed.stdout
    assert pushed(control_plane, inventory) == 6
    pulumi(workdir, "destroy", "--yes", "--skip-preview")
