"""The roles `python -m inventory rbac` generates are enough for preview and up, and no wider.

Each test configures a stack, runs the real CLI (`python -m inventory rbac --stack test`) on its
config file, applies what it prints, and acts with ServiceAccount tokens from the TokenRequest API
(not kubeconfig impersonation, `as:`: the official Python client the program reads the inventory
with ignores `as:`, so an impersonating kubeconfig would read as the admin and only write as the
user). The preview identity previews and reads no Secret outside the stack's namespaces; the deploy
identity deploys and writes no Secret outside them; with the generated ValidatingAdmissionPolicy
bound, the deploy identity changes no object without the managed-by label.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient
from pulumi import automation as auto

from tests.integration.controlplane import REPO, ControlPlane
from tests.integration.inventory_objects import (
    PROFILES,
    SVELTOS,
    Inventory,
    kubeconfig_text,
    secret_reader_provider,
)
from tests.integration.project import ProjectStack

PURPOSES = ("preview", "deploy")


@dataclass
class Identities:
    control_plane: ControlPlane
    run_id: str
    names: dict[str, str]
    workdir: Path
    kubeconfigs: dict[str, Path] = field(default_factory=dict)  # "preview" / "deploy" -> that identity's token
    applied: list[dict[str, Any]] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"ci-{self.run_id}"

    def username(self, purpose: str) -> str:
        return f"system:serviceaccount:{self.names['accounts']}:{self.prefix}-{purpose}"

    def api(self, purpose: str) -> client.ApiClient:
        return client.ApiClient(_configuration(self.kubeconfigs[purpose]))

    def generate(self, stack: ProjectStack, *extra: str) -> list[dict[str, Any]]:
        """What the real CLI prints for the stack's config file, as documents."""
        result = subprocess.run(
            [sys.executable, "-m", "inventory", "rbac", "--stack", stack.name, "--cwd", str(stack.workdir),
             "--name", self.prefix, "--identity-namespace", self.names["accounts"], *extra],
            cwd=REPO, capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    def apply(self, documents: list[dict[str, Any]]) -> None:
        """Create each document as the admin (replace when it exists), and remember it for the cleanup."""
        dynamic = DynamicClient(self.control_plane.api)
        for doc in documents:
            resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            namespace = doc["metadata"].get("namespace")
            try:
                resource.create(body=doc, namespace=namespace)
            except ApiException as err:
                if err.status != 409:
                    raise
                live = resource.get(name=doc["metadata"]["name"], namespace=namespace)
                doc = {**doc, "metadata": {**doc["metadata"], "resourceVersion": live.metadata.resourceVersion}}
                resource.replace(body=doc, namespace=namespace)
            self.applied.append(doc)

    def grant(self, stack: ProjectStack) -> None:
        """Apply the generated roles of the stack's current config; tokens for both identities."""
        self.apply(self.generate(stack))
        core = client.CoreV1Api(self.control_plane.api)
        for purpose in PURPOSES:
            if purpose in self.kubeconfigs:
                continue
            token = core.create_namespaced_service_account_token(
                f"{self.prefix}-{purpose}", self.names["accounts"],
                {"spec": {"expirationSeconds": 3600}}).status.token
            self.kubeconfigs[purpose] = token_kubeconfig(self.control_plane.kubeconfig, token,
                                                         self.workdir / f"{purpose}.kubeconfig")


def token_kubeconfig(admin_kubeconfig: Path, token: str, path: Path) -> Path:
    """The admin kubeconfig's cluster with a bearer token instead of the admin certificate."""
    admin: dict[str, Any] = json.loads(admin_kubeconfig.read_text())
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": admin["clusters"],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": admin["clusters"][0]["name"], "user": "sa"}}],
    }))
    return path


def _configuration(kubeconfig: Path) -> client.Configuration:
    from kubernetes import config

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return configuration


@pytest.fixture
def identities(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Identities]:
    """A small inventory in fresh namespaces; the identities' namespace; nothing granted yet."""
    run_id = uuid.uuid4().hex[:6]
    names = {"capi": f"capi-{run_id}", "fleet": f"fleet-{run_id}", "label": f"consumer-{run_id}",
             "accounts": f"rbac-{run_id}", "consumer": f"c-{run_id}", "outside": f"other-{run_id}"}
    inv = Inventory(control_plane.api)
    for ns in (names["capi"], names["fleet"], names["accounts"], names["outside"]):
        inv.namespace(ns)
    inv.namespace(names["consumer"], {names["label"]: ""})
    inv.capi_cluster(names["capi"], "one", {"clusterprofile-name": "one"}, kubeconfig_text("https://one:6443", "t1"))
    inv.secret(names["fleet"], "src", {"kubeconfig": kubeconfig_text("https://p:6443", "t2")})
    inv.cluster_profile(names["fleet"], "prof", [secret_reader_provider("https://p:6443", "src", "kubeconfig")])
    inv.secret(names["outside"], "not-for-the-program", {"kubeconfig": kubeconfig_text("https://x:6443", "t3")})
    found = Identities(control_plane, run_id, names, tmp_path)
    yield found
    dynamic = DynamicClient(control_plane.api)
    for doc in reversed(found.applied):
        resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        try:
            resource.delete(name=doc["metadata"]["name"], namespace=doc["metadata"].get("namespace"))
        except ApiException as err:
            if err.status != 404:
                raise
    for ns in names.values():
        if ns != names["label"]:
            control_plane.delete_namespace(ns)


def _stack(identities: Identities, **config: Any) -> ProjectStack:
    """A stack with narrow trust routes (docs/security.md): the roles follow them, so no "*" here. The
    Cluster names no profile namespace, so its profile's is defaultProfileNamespace, along a route."""
    names = identities.names
    stack = ProjectStack(identities.workdir / "project",
                         routes={"consumerNamespaces": [names["consumer"]], "sveltosClusterLabels": ["tier"],
                                 "clusterPlacementRoutes": {names["capi"]: ["default"]}})
    stack.configure(capiNamespaces=[names["capi"]], profileNamespaces=[names["fleet"]],
                    consumerNamespaceLabel=names["label"], managedByValue=f"ci-{identities.run_id}",
                    scheduleIntervalMinutes=0, **config)
    return stack


def _managed(control_plane: ControlPlane, identities: Identities) -> set[str]:
    inv = Inventory(control_plane.api)
    selector = f"app.kubernetes.io/managed-by=ci-{identities.run_id}"
    return inv.secret_names(selector) | inv.custom_names(SVELTOS, selector=selector)


def _forbidden(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ApiException) as raised:
        call(*args, **kwargs)
    assert raised.value.status == 403, raised.value
    return str(raised.value.body)


def test_the_generated_roles_name_only_the_stacks_namespaces(identities: Identities) -> None:
    stack = _stack(identities)
    roles = [d for d in identities.generate(stack) if d["kind"] in ("Role", "RoleBinding")]
    names = identities.names
    assert {d["metadata"]["namespace"] for d in roles} == {names["capi"], names["fleet"], names["consumer"]}


def test_preview_succeeds_as_the_preview_identity(identities: Identities) -> None:
    stack = _stack(identities)
    identities.grant(stack)
    stack.configure(kubeconfig=str(identities.kubeconfigs["preview"]))
    result = stack.preview()
    assert result.change_summary.get("create") == 6  # Stack, component, provider, 2 Secrets, 1 SveltosCluster
    stack.destroy()


def test_the_preview_identity_cannot_read_a_secret_outside_the_stack(identities: Identities) -> None:
    identities.grant(_stack(identities))
    core = client.CoreV1Api(identities.api("preview"))
    account = identities.username("preview")
    for namespace in ("kube-system", identities.names["outside"]):
        message = _forbidden(core.list_namespaced_secret, namespace)
        assert f'User \\"{account}\\" cannot list resource \\"secrets\\"' in message
        _forbidden(core.read_namespaced_secret, "not-for-the-program", namespace)
    _forbidden(core.list_secret_for_all_namespaces)
    # Inside the stack it reads what the program reads.
    assert core.read_namespaced_secret("src", identities.names["fleet"]).metadata.name == "src"


def test_up_as_the_preview_identity_fails_with_a_forbidden_message_and_writes_nothing(
    control_plane: ControlPlane, identities: Identities
) -> None:
    stack = _stack(identities)
    identities.grant(stack)
    stack.configure(kubeconfig=str(identities.kubeconfigs["preview"]))
    with pytest.raises(auto.CommandError):
        stack.up()
    message = "\n".join(stack.output)
    account = identities.username("preview")
    # Server-side apply creates with PATCH: the reader is refused that verb, object by object.
    for kind, namespace, name in (("secrets", identities.names["consumer"], "default-one-kubeconfig"),
                                  ("sveltosclusters.lib.projectsveltos.io", identities.names["fleet"], "prof")):
        assert (f'{kind} "{name}" is forbidden: User "{account}" cannot patch resource "{kind.split(".")[0]}"'
                in message)
        assert f'in the namespace "{namespace}"' in message
    assert "was not successfully created by the Kubernetes API server" in message
    assert _managed(control_plane, identities) == set()


def test_up_succeeds_as_the_deploy_identity_and_the_preview_identity_previews_the_next_change(
    control_plane: ControlPlane, identities: Identities
) -> None:
    stack = _stack(identities)
    identities.grant(stack)
    stack.configure(kubeconfig=str(identities.kubeconfigs["deploy"]))
    stack.up()
    fleet = identities.names["fleet"]
    assert _managed(control_plane, identities) == {
        f"{identities.names['consumer']}/default-one-kubeconfig", f"{fleet}/prof-sveltos-kubeconfig", f"{fleet}/prof"}
    # A pull request previews the deployed stack as the reader: the relabelled ClusterProfile
    # shows as an update of its SveltosCluster (the provider, given other credentials, as one too).
    inv = Inventory(control_plane.api)
    group, version, plural = PROFILES
    inv.custom.patch_namespaced_custom_object(group, version, fleet, plural, "prof",
                                              {"metadata": {"labels": {"tier": "gold"}}})
    stack.configure(kubeconfig=str(identities.kubeconfigs["preview"]))
    result = stack.preview()
    assert result.change_summary == {"same": 4, "update": 2}
    assert "~ kubernetes:lib.projectsveltos.io/v1beta1:SveltosCluster: (update)" in result.stdout
    assert "~ pulumi:providers:kubernetes: (update)" in result.stdout
    sveltos = inv.custom.get_namespaced_custom_object(*SVELTOS[:2], fleet, SVELTOS[2], "prof")
    assert "tier" not in sveltos["metadata"]["labels"]  # previewed, not written
    stack.configure(kubeconfig=str(identities.kubeconfigs["deploy"]))
    stack.destroy()
    assert _managed(control_plane, identities) == set()


def test_the_deploy_identity_cannot_write_a_secret_outside_the_stack(identities: Identities) -> None:
    identities.grant(_stack(identities))
    core = client.CoreV1Api(identities.api("deploy"))
    account = identities.username("deploy")
    body = {"metadata": {"name": f"planted-{identities.run_id}",
                         "labels": {"app.kubernetes.io/managed-by": f"ci-{identities.run_id}"}},
            "stringData": {"k": "v"}}
    for namespace in ("kube-system", identities.names["outside"]):
        message = _forbidden(core.create_namespaced_secret, namespace, body)
        assert f'User \\"{account}\\" cannot create resource \\"secrets\\"' in message
        _forbidden(core.delete_namespaced_secret, "not-for-the-program", namespace)
    # Nor may it write the inventory: the CAPI namespace is read only.
    _forbidden(core.create_namespaced_secret, identities.names["capi"], body)


def test_the_deploy_identity_publishes_cluster_profiles_with_their_status_only_when_E_is_on(
    control_plane: ControlPlane, identities: Identities
) -> None:
    stack = _stack(identities, pushMode="off", sveltosMode="off")
    identities.grant(stack)
    custom = client.CustomObjectsApi(identities.api("deploy"))
    group, version, plural = PROFILES
    profile = {"apiVersion": f"{group}/{version}", "kind": "ClusterProfile",
               "metadata": {"name": "one", "namespace": "default"},
               "spec": {"displayName": "one", "clusterManager": {"name": "x"}}}
    _forbidden(custom.create_namespaced_custom_object, group, version, "default", plural, profile)

    stack.configure(clusterProfileMode="direct", clusterManagerName=f"ci-{identities.run_id}",
                    profileNamespaces=[identities.names["fleet"], "default"])
    identities.grant(stack)
    stack.configure(kubeconfig=str(identities.kubeconfigs["deploy"]))
    stack.up()
    inv = Inventory(control_plane.api)
    published = inv.custom.get_namespaced_custom_object(group, version, "default", plural, "one")
    assert published["spec"]["clusterManager"] == {"name": f"ci-{identities.run_id}"}
    assert [c["type"] for c in published["status"]["conditions"]] == ["ControlPlaneHealthy"]
    stack.destroy()
    assert "default/one" not in inv.custom_names(PROFILES, "default")


def test_with_the_admission_policy_the_deploy_identity_changes_only_labelled_objects(
    control_plane: ControlPlane, identities: Identities
) -> None:
    stack = _stack(identities)
    identities.grant(stack)
    identities.apply(identities.generate(stack, "--admission-policy"))
    consumer = identities.names["consumer"]
    admin = Inventory(control_plane.api)
    admin.secret(consumer, "someone-elses", {"k": "v"})
    core = client.CoreV1Api(identities.api("deploy"))
    account = identities.username("deploy")
    patch = {"metadata": {"labels": {"app.kubernetes.io/managed-by": f"ci-{identities.run_id}"}}}

    # The API server starts enforcing a new policy within a second or two.
    deadline = time.monotonic() + 30
    while True:
        try:
            core.patch_namespaced_secret("someone-elses", consumer, patch)
        except ApiException as err:
            if err.status == 403 and "ValidatingAdmissionPolicy" in str(err.body):
                break
            raise
        assert time.monotonic() < deadline, "the admission policy was not enforced within 30 s"
        admin.core.patch_namespaced_secret("someone-elses", consumer,
                                           {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}})
        time.sleep(0.5)
    # RBAC allows each of these; the policy refuses them, naming the label.
    for message in (_forbidden(core.patch_namespaced_secret, "someone-elses", consumer, patch),
                    _forbidden(core.delete_namespaced_secret, "someone-elses", consumer),
                    _forbidden(core.create_namespaced_secret, consumer,
                               {"metadata": {"name": "unlabelled"}, "stringData": {"k": "v"}})):
        assert account in message and f"app.kubernetes.io/managed-by=ci-{identities.run_id}" in message
    assert admin.core.read_namespaced_secret("someone-elses", consumer).metadata.labels is None

    # The program's own objects carry the label: up and destroy pass the policy.
    stack.configure(kubeconfig=str(identities.kubeconfigs["deploy"]))
    stack.up()
    assert f"{consumer}/default-one-kubeconfig" in _managed(control_plane, identities)
    stack.destroy()
    assert _managed(control_plane, identities) == set()
