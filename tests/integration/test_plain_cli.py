"""The program under the plain `pulumi` commands users run in the project directory
(CLI -> the project's Python language host -> __main__.py in .venv), against the
driver `python -m inventory deploy` (Automation API, program inline): same objects,
and Pulumi's own one-line errors for refusals, bad config and failed reads.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.integration.cli import driver, pulumi
from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import SVELTOS, Inventory, kubeconfig_text, secret_reader_provider
from tests.integration.project import project_dir

ENTRY_POINTS = ("pulumi", "python -m inventory deploy")


@pytest.fixture
def inventory(control_plane: ControlPlane) -> Iterator[dict[str, str]]:
    """One CAPI Cluster with two consumer namespaces, one secret-reader ClusterProfile."""
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    names = {"id": run_id, "capi": f"capi-{run_id}", "fleet": f"fleet-{run_id}", "label": f"consumer-{run_id}",
             "marker": f"SECRET-PLAIN-{run_id}"}
    inv.namespace(names["capi"])
    inv.namespace(names["fleet"])
    consumers = [f"c1-{run_id}", f"c2-{run_id}"]
    for ns in consumers:
        inv.namespace(ns, {names["label"]: ""})
    inv.capi_cluster(names["capi"], "one", {"clusterprofile-name": "one"},
                     kubeconfig_text("https://one:6443", names["marker"]))
    inv.secret(names["fleet"], "src", {"kubeconfig": kubeconfig_text("https://p:6443", names["marker"] + "-p")})
    inv.cluster_profile(names["fleet"], "prof", [secret_reader_provider("https://p:6443", "src", "kubeconfig")])
    yield names
    for ns in (names["capi"], names["fleet"], *consumers):
        control_plane.delete_namespace(ns)


def init_stack(workdir: Path, stack: str, control_plane: ControlPlane, names: dict[str, str]) -> None:
    """`pulumi stack init` and `pulumi config set [--secret|--path]`, as the README tells users."""
    pulumi(workdir, "stack", "init", stack, "--secrets-provider", "passphrase")
    key = "cluster-inventory:"
    pulumi(workdir, "config", "set", "--secret", f"{key}kubeconfig", control_plane.kubeconfig.read_text())
    pulumi(workdir, "config", "set", "--path", f"{key}capiNamespaces[0]", names["capi"])
    pulumi(workdir, "config", "set", "--path", f"{key}profileNamespaces[0]", names["fleet"])
    pulumi(workdir, "config", "set", f"{key}consumerNamespaceLabel", names["label"])
    # The routes of a stack that keeps the seeds' behaviour (docs/changes.md), set as a user would.
    for path in ('consumerNamespaces[0]', 'clusterPlacementRoutes["*"][0]', 'secretReaderRoutes["*"][0]'):
        pulumi(workdir, "config", "set", "--path", f"cluster-inventory:{path}", "*")
    pulumi(workdir, "config", "set", f"{key}managedByValue", f"ci-{names['id']}")
    pulumi(workdir, "config", "set", f"{key}scheduleIntervalMinutes", "0")


def live_objects(control_plane: ControlPlane, names: dict[str, str]) -> dict[str, Any]:
    """Every object the stack manages in the cluster, with the fields the program sets."""
    selector = f"app.kubernetes.io/managed-by=ci-{names['id']}"
    found: dict[str, Any] = {}
    for s in client.CoreV1Api(control_plane.api).list_secret_for_all_namespaces(label_selector=selector).items:
        found[f"Secret/{s.metadata.namespace}/{s.metadata.name}"] = {
            "type": s.type, "labels": s.metadata.labels, "annotations": s.metadata.annotations, "data": s.data}
    group, version, plural = SVELTOS
    listed = client.CustomObjectsApi(control_plane.api).list_cluster_custom_object(
        group, version, plural, label_selector=selector)
    for o in listed["items"]:
        meta = o["metadata"]
        found[f"SveltosCluster/{meta['namespace']}/{meta['name']}"] = {
            "labels": meta.get("labels"), "annotations": meta.get("annotations"), "spec": o.get("spec")}
    return found


def test_plain_pulumi_commands_and_the_driver_make_the_same_objects(
    control_plane: ControlPlane, inventory: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = project_dir(tmp_path / "project")
    init_stack(workdir, "plain", control_plane, inventory)

    preview = pulumi(workdir, "preview", "--diff")
    assert "+ kubernetes:core/v1:Secret: (create)" in preview.stdout
    # The language host is the one installed next to the CLI, not a stray copy on PATH.
    assert "pulumi-language-python from $PATH" not in preview.stdout + preview.stderr
    up = pulumi(workdir, "up", "--yes", "--skip-preview")
    outputs = json.loads(pulumi(workdir, "stack", "output", "--json").stdout)
    assert outputs["counts"] == {"push": {"Secret": 2}, "sveltos": {"Secret": 1, "SveltosCluster": 1}}
    pulumi(workdir, "refresh", "--yes")
    pulumi(workdir, "preview", "--expect-no-changes")  # fails the test if refresh or a rerun finds drift
    about = pulumi(workdir, "about").stdout
    assert "language  python" in about and str(workdir / ".venv" / "bin" / "python") in about
    through_plain = live_objects(control_plane, inventory)
    printed = preview.stdout + preview.stderr + up.stdout + up.stderr + json.dumps(outputs)
    assert inventory["marker"] not in printed
    pulumi(workdir, "destroy", "--yes")
    assert live_objects(control_plane, inventory) == {}

    # The same stack and config (its objects carry the stack's name), now through the driver.
    assert driver(monkeypatch, workdir, "up", "--stack", "plain") == 0
    through_driver = live_objects(control_plane, inventory)
    assert driver(monkeypatch, workdir, "destroy", "--stack", "plain") == 0

    assert len(through_plain) == 4
    assert through_driver == through_plain


@pytest.mark.parametrize(("key", "value", "message"), [
    pytest.param("pushMode", "sideways", "pushMode", id="bad config value"),
    pytest.param("kubeconfig", "ADMIN-KUBECONFIG-CONTENT", "kubeconfig holds a kubeconfig's content",
                 id="guard refusal"),
    pytest.param("kubeconfig", "UNREACHABLE", "127.0.0.1:1", id="failed inventory read"),
])
def test_a_refused_run_is_one_pulumi_error_with_the_programs_message(
    control_plane: ControlPlane, tmp_path: Path, key: str, value: str, message: str
) -> None:
    workdir = project_dir(tmp_path / "project")
    pulumi(workdir, "stack", "init", "refused", "--secrets-provider", "passphrase")
    pulumi(workdir, "config", "set", "cluster-inventory:kubeconfig", str(control_plane.kubeconfig))
    admin = control_plane.kubeconfig.read_text()
    if value == "ADMIN-KUBECONFIG-CONTENT":
        value = admin
    elif value == "UNREACHABLE":
        (tmp_path / "unreachable").write_text(kubeconfig_text("https://127.0.0.1:1", "nobody"))
        value = str(tmp_path / "unreachable")
    pulumi(workdir, "config", "set", f"cluster-inventory:{key}", value)

    result = pulumi(workdir, "preview", check=False)
    printed = result.stdout + result.stderr
    assert result.returncode != 0
    diagnostics = printed.partition("Diagnostics:")[2].partition("\nResources:")[0]
    assert diagnostics.count("error:") == 1 and message in diagnostics, printed
    assert "Traceback" not in printed and "non-zero exit code" not in printed
    credentials = [value for user in yaml.safe_load(admin)["users"] for field, value in user["user"].items()
                   if field in ("token", "client-key-data", "client-certificate-data")]
    assert credentials and not any(c in printed for c in credentials)
