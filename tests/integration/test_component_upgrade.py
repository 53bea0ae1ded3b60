"""A stack deployed by the program as it was before ``ClusterInventory`` sees no change from it.

The project declares the component under the same type and name as the program before it
(``cluster-inventory:index:Inventory`` named ``inventory``), with its providers at the stack's
root as before, so every URN is the one the stack holds. Proved with the real CLI: the code of
``BEFORE_COMPONENT`` (``git archive``) runs `pulumi up` of a stack with every direct-mode feature
(push Secrets, SveltosClusters, Argo CD cluster Secrets, ClusterProfiles with their statuses through
the project's own provider); the same stack, its project now linked to this checkout, previews
no create, update, replace or delete, and its `up` and the preview after it neither.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.controlplane import REPO, ControlPlane
from tests.integration.inventory_objects import Inventory, kubeconfig_text
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import resource_changes

# The last commit of main before the component: the program every existing stack was made by.
BEFORE_COMPONENT = "d1d10bf9235c8a79d8c0eca0d6ab28f4f2971df8"
# What the project directory links from a source tree (tests/integration/project.py).
PROGRAM = ("__main__.py", "inventory", "provider")


def _checkout(commit: str, into: Path) -> Path:
    """The tree of ``commit``, with the repository's virtualenv (the provider plugin's Python)."""
    found = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO, check=False)
    if found.returncode != 0:
        pytest.fail(f"commit {commit} is not in this clone (a shallow clone? `git fetch --unshallow`)")
    archive = into.with_suffix(".tar")
    subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), commit], cwd=REPO, check=True)
    into.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="tar")
    (into / ".venv").symlink_to(REPO / ".venv")
    return into


def _link_program(workdir: Path, tree: Path) -> None:
    """The project in ``workdir`` becomes ``tree``'s: its program, and its Pulumi.yaml (whose config
    defaults name the keys that program knows; a later one's would be refused by an earlier program)."""
    for name in PROGRAM:
        link = workdir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(tree / name)
    shutil.copy(tree / "Pulumi.yaml", workdir / "Pulumi.yaml")


@dataclass
class Upgraded:
    stack: ProjectStack
    first_preview: dict[str, int]


@pytest.fixture(scope="module")
def upgraded(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upgraded]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    capi_ns, fleet_ns, consumer = f"capi-{run_id}", f"fleet-{run_id}", f"team-{run_id}"
    consumer_label = f"consumer-{run_id}"
    for ns in (capi_ns, fleet_ns, "argocd"):
        inv.namespace(ns)
    inv.namespace(consumer, {consumer_label: ""})
    for name in ("alpha", "beta"):
        inv.capi_cluster(capi_ns, name, {"clusterprofile-name": name, "clusterprofile-namespace": fleet_ns},
                         kubeconfig_text(f"https://{name}.example:6443", f"SECRET-UPGRADE-{run_id}-{name}"))
    tmp = tmp_path_factory.mktemp("upgrade")
    before = _checkout(BEFORE_COMPONENT, tmp / "before")
    workdir = tmp / "project"
    workdir.mkdir()
    _link_program(workdir, before)
    stack = ProjectStack(workdir)
    _link_program(workdir, before)  # ProjectStack lays this checkout's Pulumi.yaml
    stack.configure(kubeconfig=str(control_plane.kubeconfig), capiNamespaces=[capi_ns],
                    profileNamespaces=[fleet_ns], consumerNamespaceLabel=consumer_label,
                    sveltosMode="direct", argocdMode="direct", clusterProfileMode="direct",
                    clusterManagerName=f"mgr-{run_id}", managedByValue=f"ci-{run_id}",
                    eventsNamePrefix=f"ci-{run_id}", scheduleIntervalMinutes=0)
    result = stack.up()
    assert result.summary.result == "succeeded"
    _link_program(workdir, REPO)
    yield Upgraded(stack, dict(stack.preview().change_summary))
    stack.destroy()
    for ns in (capi_ns, fleet_ns, consumer):
        control_plane.delete_namespace(ns)


def test_the_stack_before_the_component_holds_every_kind_of_object(upgraded: Upgraded) -> None:
    types = {r["type"] for r in upgraded.stack.stack.export_stack().deployment["resources"]}
    assert {"kubernetes:core/v1:Secret", "kubernetes:lib.projectsveltos.io/v1beta1:SveltosCluster",
            "kubernetes:multicluster.x-k8s.io/v1alpha1:ClusterProfile",
            "cluster-inventory:index:ClusterProfileStatus", "pulumi:providers:kubernetes",
            "pulumi:providers:cluster-inventory"} <= types


def test_the_component_previews_no_change_of_a_stack_made_before_it(upgraded: Upgraded) -> None:
    assert set(upgraded.first_preview) == {"same"}, upgraded.first_preview


def test_its_up_changes_nothing_and_keeps_every_urn(upgraded: Upgraded) -> None:
    before = {r["urn"] for r in upgraded.stack.stack.export_stack().deployment["resources"]}
    result = upgraded.stack.up()
    assert set(resource_changes(result)) == {"same"}, resource_changes(result)
    assert {r["urn"] for r in upgraded.stack.stack.export_stack().deployment["resources"]} == before


def test_the_preview_after_that_up_shows_no_change(upgraded: Upgraded) -> None:
    assert set(upgraded.stack.preview().change_summary) == {"same"}


def test_no_credential_appears_in_the_cli_output(upgraded: Upgraded) -> None:
    assert "SECRET-UPGRADE-" not in "".join(upgraded.stack.output)
