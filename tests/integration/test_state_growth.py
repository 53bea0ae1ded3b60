"""The state backend stops growing once a stack is steady (issue 18, SPEC §8): with the real CLI
and a file backend, a scheduled no-op `up` adds at most 10% of one state. The driver bounds it by
itself; plain `pulumi up` users are told what to set and to run, and get the same bound when
they do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from inventory.stack.backend import DISABLE_BACKUPS, KEEP_STATE_COPIES
from tests.integration.cli import driver, pulumi
from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import Inventory, kubeconfig_text
from tests.integration.project import project_dir

# The target: one scheduled run adds at most this share of one state once the stack is steady.
GROWTH_PER_RUN = 0.10


@pytest.fixture
def inventory(control_plane: ControlPlane) -> Iterator[dict[str, str]]:
    """Three CAPI Clusters, two consumer namespaces: six push Secrets."""
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    names = {"capi": f"capi-{run_id}", "label": f"consumer-{run_id}"}
    inv.namespace(names["capi"])
    consumers = [f"g1-{run_id}", f"g2-{run_id}"]
    for ns in consumers:
        inv.namespace(ns, {names["label"]: ""})
    for cluster in ("one", "two", "three"):
        inv.capi_cluster(names["capi"], cluster, {"clusterprofile-name": cluster},
                         kubeconfig_text(f"https://{cluster}:6443", f"token-{cluster}-{run_id}"))
    yield names
    for ns in (names["capi"], *consumers):
        control_plane.delete_namespace(ns)


def init_stack(workdir: Path, stack: str, control_plane: ControlPlane, names: dict[str, str]) -> None:
    pulumi(workdir, "stack", "init", stack, "--secrets-provider", "passphrase")
    for key, value in (("kubeconfig", str(control_plane.kubeconfig)), ("consumerNamespaceLabel", names["label"]),
                       ("sveltosMode", "off"), ("scheduleIntervalMinutes", "0")):
        pulumi(workdir, "config", "set", f"cluster-inventory:{key}", value)
    pulumi(workdir, "config", "set", "--path", "cluster-inventory:capiNamespaces[0]", names["capi"])
    # The routes of a stack that keeps the seeds' behaviour (docs/changes.md), set as a user would.
    for path in ('consumerNamespaces[0]', 'clusterPlacementRoutes["*"][0]', 'secretReaderRoutes["*"][0]'):
        pulumi(workdir, "config", "set", "--path", f"cluster-inventory:{path}", "*")


def backend_bytes(workdir: Path) -> int:
    return sum(p.stat().st_size for p in (workdir / "state").rglob("*") if p.is_file())


def state_bytes(workdir: Path, stack: str) -> int:
    return sum(p.stat().st_size for p in (workdir / "state").rglob(f"{stack}.json"))


def test_scheduled_runs_through_the_driver_stop_growing_the_backend(
    control_plane: ControlPlane, inventory: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = project_dir(tmp_path / "project")
    init_stack(workdir, "sched", control_plane, inventory)
    monkeypatch.delenv(DISABLE_BACKUPS, raising=False)
    # The cold up and the no-op ups until the history holds its newest copies of the state.
    for _ in range(KEEP_STATE_COPIES):
        assert driver(monkeypatch, workdir, "up", "--stack", "sched") == 0
    steady, one_state = backend_bytes(workdir), state_bytes(workdir, "sched")

    for _ in range(2):  # two scheduled runs that change nothing
        assert driver(monkeypatch, workdir, "up", "--stack", "sched") == 0

    grown = backend_bytes(workdir) - steady
    assert grown <= 2 * GROWTH_PER_RUN * one_state, f"{grown} bytes in two runs, one state is {one_state}"
    assert not list((workdir / "state" / ".pulumi").glob("backups/**/*.json"))
    assert driver(monkeypatch, workdir, "destroy", "--stack", "sched") == 0


def test_plain_pulumi_up_is_told_what_to_set_and_run_and_then_stays_bounded(
    control_plane: ControlPlane, inventory: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = project_dir(tmp_path / "project")
    init_stack(workdir, "plain", control_plane, inventory)

    first = pulumi(workdir, "up", "--yes", "--skip-preview", env={DISABLE_BACKUPS: ""})
    assert f"{DISABLE_BACKUPS}=true" in first.stdout, first.stdout
    for _ in range(KEEP_STATE_COPIES + 1):  # backups off, but nothing prunes the history's copies
        ran = pulumi(workdir, "up", "--yes", "--skip-preview", env={DISABLE_BACKUPS: "true"})
    assert f"{DISABLE_BACKUPS}=true" not in ran.stdout
    assert "python -m inventory deploy prune --stack plain" in ran.stdout, ran.stdout

    assert driver(monkeypatch, workdir, "prune", "--stack", "plain") == 0
    steady, one_state = backend_bytes(workdir), state_bytes(workdir, "plain")
    for _ in range(2):  # the schedule the docs give: up, then prune
        quiet = pulumi(workdir, "up", "--yes", "--skip-preview", env={DISABLE_BACKUPS: "true"})
        assert "grows by whole copies of the state" not in quiet.stdout, quiet.stdout
        assert driver(monkeypatch, workdir, "prune", "--stack", "plain") == 0
    grown = backend_bytes(workdir) - steady
    assert grown <= 2 * GROWTH_PER_RUN * one_state, f"{grown} bytes in two runs, one state is {one_state}"
    pulumi(workdir, "destroy", "--yes", "--skip-preview", env={DISABLE_BACKUPS: "true"})
