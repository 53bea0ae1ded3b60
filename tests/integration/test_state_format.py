"""Every assumption inventory/stack/state_format.py makes about Pulumi's exported state holds for
the pinned `pulumi` CLI: a tiny stack (tests/fixtures/state-format-program: a ConfigMap on the
local control plane, a resource declared beside it, one whose old copy waits to be deleted) is
deployed with the real CLI and exported, each constant of the module is checked against the
export, and the export rewritten by the module's own functions (as `python -m inventory reshard`
rewrites it) is imported back: the program, now declaring its resources under a component, then
previews with no change. A Pulumi release that changes the format fails here first."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inventory.settings import ShardAssignment
from inventory.stack import state_format as state
from inventory.stack.guards import MANAGED_OBJECTS_OUTPUT, RESHARDING_OUTPUT, SHARDS_OUTPUT, shard_layout
from inventory.stack.reshard.moves import COMPONENT_NAME, COMPONENT_TYPE, classify
from inventory.stack.reshard.pulumi_cli import Cli
from inventory.stack.reshard.settle import mark, settle
from tests.integration.cli import pulumi
from tests.integration.controlplane import REPO, ControlPlane
from tests.integration.pulumi_stack import local_backend_env

PROGRAM = REPO / "tests" / "fixtures" / "state-format-program"
PROJECT = "state-format"
STACK = "formats"
OBJECT = "ConfigMap/{namespace}/state-format"


def _every_urn_in(value: Any) -> Iterator[str]:
    if isinstance(value, str) and value.startswith(state.URN_PREFIX):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _every_urn_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _every_urn_in(item)


class Project:
    """The program in a directory of its own, its stack in a file backend there, driven by the
    module's own CLI wrapper (``Cli``) where it has one, and by the plain CLI otherwise."""

    def __init__(self, workdir: Path, monkeypatch: pytest.MonkeyPatch, control_plane: ControlPlane,
                 namespace: str) -> None:
        self.workdir = workdir
        workdir.mkdir()
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(PROGRAM / name, workdir / name)
        (workdir / ".venv").symlink_to(REPO / ".venv")
        for key, value in local_backend_env(workdir).items():
            monkeypatch.setenv(key, value)
        self.cli = Cli(workdir, str(workdir))
        self.refuse_delete = workdir / "refuse-delete"
        self.pulumi("stack", "init", STACK, "--secrets-provider", "passphrase")
        for key, value in {"namespace": namespace, "componentType": COMPONENT_TYPE, "componentName": COMPONENT_NAME,
                           "nested": "false", "doomedGeneration": "1", "refuseDelete": str(self.refuse_delete)}.items():
            self.pulumi("config", "set", key, value)
        self.pulumi("config", "set", "--secret", "token", "not-a-real-token")
        self.pulumi("config", "set", "--secret", "kubeconfig", control_plane.kubeconfig.read_text())

    def pulumi(self, *args: str, check: bool = True) -> str:
        return pulumi(self.workdir, *args, "--non-interactive", check=check).stdout

    def up(self, check: bool = True) -> str:
        return self.pulumi("up", "--yes", "--skip-preview", check=check)

    def export(self) -> dict[str, Any]:
        return self.cli.export(STACK)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, control_plane: ControlPlane,
            namespace: str) -> Iterator[Project]:
    project = Project(tmp_path / "program", monkeypatch, control_plane, namespace)
    yield project
    project.refuse_delete.unlink(missing_ok=True)
    project.pulumi("destroy", "--yes", "--skip-preview", check=False)


def _by_name(exported: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {state.name_of(r): r for r in state.resources_of(state.deployment_of(exported, STACK))}


def test_the_pinned_cli_writes_the_state_format_the_module_names_and_takes_back_its_rewrite(
        project: Project, namespace: str) -> None:
    obj = OBJECT.format(namespace=namespace)

    # A stack with no resources: its export, and the root stack resource the module gives it.
    empty = project.export()
    assert empty[state.VERSION_KEY] == state.EMPTY_STACK_VERSION and state.RESOURCES_KEY not in empty[
        state.DEPLOYMENT_KEY]
    assert set(state.MANIFEST_FIELDS) <= set(empty[state.DEPLOYMENT_KEY][state.MANIFEST_KEY])
    marked = mark(copy.deepcopy(empty), STACK, PROJECT, {"command": "reshard"})
    project.cli.import_(STACK, marked)
    assert json.loads(project.pulumi("stack", "output", "--json")) == {RESHARDING_OUTPUT: {"command": "reshard"}}
    assert state.urn_of(state.resources_of(state.deployment_of(project.export(), STACK))[0]) == state.root_urn(
        STACK, PROJECT)
    project.cli.import_(STACK, mark(project.export(), STACK, PROJECT, None))
    assert STACK in project.cli.stacks()

    # The resources at the root, as `pulumi state move` leaves them; `doomed` replaced while its
    # old copy's delete fails, so the state holds a resource waiting to be deleted.
    project.refuse_delete.touch()
    project.up()
    project.pulumi("config", "set", "doomedGeneration", "2")
    project.up(check=False)
    exported = project.export()
    assert exported[state.VERSION_KEY] in state.KNOWN_VERSIONS
    waiting = [r for r in exported[state.DEPLOYMENT_KEY][state.RESOURCES_KEY] if r.get(state.DELETE)]
    assert [state.name_of(r) for r in waiting] == [f"{obj}/doomed"]
    assert [state.name_of(r) for r in state.resources_of(exported[state.DEPLOYMENT_KEY])].count(f"{obj}/doomed") == 1
    project.refuse_delete.unlink()
    project.up()

    exported = project.export()
    resources = _by_name(exported)
    root = state.root_of(resources.values())
    assert root is not None and root[state.TYPE] == state.ROOT_TYPE and root[state.CUSTOM] is False
    assert state.urn_of(root) == state.root_urn(STACK, PROJECT) and state.stack_and_project(root) == (STACK, PROJECT)
    assert state.root_outputs(exported) == {"declared": "by the program"}

    kube = resources["management-cluster"]
    assert state.is_provider(kube) and state.provider_key(kube) == "pulumi:providers:kubernetes::management-cluster"
    config_map, status = resources[obj], resources[f"{obj}/status"]
    assert state.is_kubernetes_object(config_map)
    assert state.kubernetes_kind(config_map)[:2] == ("v1", "ConfigMap")
    assert config_map[state.PROVIDER] == f"{state.urn_of(kube)}{state.PROVIDER_REFERENCE_DELIMITER}{kube[state.ID]}"
    for resource in (config_map, status):
        assert resource[state.PARENT] == state.urn_of(root)
        assert state.urn_of(resource) == state.urn(STACK, PROJECT, state.type_of(resource), state.name_of(resource))
    cm_urn = state.urn_of(config_map)
    assert state.dependencies_of(status) == [cm_urn]
    assert status[state.PROPERTY_DEPENDENCIES]["name"] == [cm_urn]
    assert status[state.DELETED_WITH] == cm_urn and status[state.REPLACE_WITH] == [cm_urn]
    # The default provider of dynamic resources holds the stack's config, a secret as a secret.
    python = next(r for r in resources.values() if state.provider_key(r) == "pulumi:providers:pulumi-python::default")
    assert status[state.PROVIDER].startswith(state.urn_of(python) + state.PROVIDER_REFERENCE_DELIMITER)
    inputs = state.inputs_of(python)
    assert inputs[f"{PROJECT}:namespace"] == namespace
    assert state.is_secret(inputs[f"{PROJECT}:token"]) and state.SECRET_CIPHERTEXT in inputs[f"{PROJECT}:token"]
    assert "not-a-real-token" not in json.dumps(exported)
    # Every field that names another resource is one the module follows when it renames.
    following = {*state.URN_FIELDS, *state.URN_LIST_FIELDS, *state.URN_MAP_FIELDS, state.PROVIDER}
    for resource in resources.values():
        naming = {field for field, value in resource.items() if field != state.URN and any(_every_urn_in(value))}
        assert naming <= following, f"{state.urn_of(resource)}: {sorted(naming - following)} name resources"

    # What reshard reads: the object, with what belongs to it.
    held, unmovable = classify(state.deployment_of(exported, STACK))
    assert unmovable == [] and list(held) == [obj] and held[obj].shape == "v1 ConfigMap"
    assert set(held[obj].companions) == {state.urn_of(status), state.urn_of(resources[f"{obj}/doomed"])}

    # What reshard writes: marked, the providers' plain inputs aligned with another stack's and
    # put back, settled under the component; taken back by the CLI.
    marked = mark(exported, STACK, PROJECT, {"command": "reshard"})
    canonical = {"pulumi:providers:pulumi-python::default": {**inputs, f"{PROJECT}:namespace": "elsewhere"}}
    originals = state.align_providers(marked[state.DEPLOYMENT_KEY], canonical)
    assert list(originals) == ["pulumi:providers:pulumi-python::default"]
    state.restore_providers(marked[state.DEPLOYMENT_KEY], originals)
    layout = shard_layout(2, 1, ShardAssignment.RENDEZVOUS)
    settled = {**marked, state.DEPLOYMENT_KEY: settle(marked[state.DEPLOYMENT_KEY], layout, {})}
    project.cli.import_(STACK, settled)

    outputs = json.loads(project.pulumi("stack", "output", "--json"))
    assert outputs[MANAGED_OBJECTS_OUTPUT] == {"v1 ConfigMap": [obj]} and outputs[SHARDS_OUTPUT] == layout
    assert RESHARDING_OUTPUT not in outputs
    nested = _by_name(project.export())
    component_urn = state.urn(STACK, PROJECT, COMPONENT_TYPE, COMPONENT_NAME)
    assert nested[obj][state.PARENT] == component_urn and state.dependencies_of(nested[f"{obj}/status"]) == [
        state.urn_of(nested[obj])]

    project.pulumi("config", "set", "nested", "true")
    preview = json.loads(project.pulumi("preview", "--json", "--expect-no-changes"))
    assert set(preview["changeSummary"]) == {"same"}, preview["changeSummary"]
