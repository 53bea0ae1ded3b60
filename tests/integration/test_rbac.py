"""rbac/: the read-only role is enough for preview, the deploy role for up, and up as a reader fails clearly.

Each identity is a ServiceAccount with a token from the TokenRequest API, bound to the
ClusterRoles of rbac/ as they are committed. A token, not kubeconfig impersonation
(`as:`): the official Python client the program reads the inventory with ignores `as:`,
so an impersonating kubeconfig would read as the admin and only write as the user.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
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

ROLES = {"preview": "cluster-inventory-preview", "deploy": "cluster-inventory-deploy"}


@dataclass
class Identities:
    run_id: str
    names: dict[str, str]
    kubeconfigs: dict[str, Path]  # "preview" / "deploy" -> a kubeconfig holding that identity's token


def apply_cluster_roles(rbac: client.RbacAuthorizationV1Api) -> None:
    """The ClusterRoles exactly as rbac/ commits them (create, or replace when present)."""
    for path in sorted((REPO / "rbac").glob("clusterrole-*.yaml")):
        role = yaml.safe_load(path.read_text())
        try:
            rbac.create_cluster_role(role)
        except ApiException as err:
            if err.status != 409:
                raise
            rbac.replace_cluster_role(role["metadata"]["name"], role)


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


@pytest.fixture
def identities(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Identities]:
    """A small inventory in fresh namespaces, and a ServiceAccount bound to each ClusterRole."""
    run_id = uuid.uuid4().hex[:6]
    names = {"capi": f"capi-{run_id}", "fleet": f"fleet-{run_id}", "label": f"consumer-{run_id}",
             "accounts": f"rbac-{run_id}"}
    inv = Inventory(control_plane.api)
    for ns in (names["capi"], names["fleet"], names["accounts"]):
        inv.namespace(ns)
    consumer = f"c-{run_id}"
    inv.namespace(consumer, {names["label"]: ""})
    inv.capi_cluster(names["capi"], "one", {"clusterprofile-name": "one"}, kubeconfig_text("https://one:6443", "t1"))
    inv.secret(names["fleet"], "src", {"kubeconfig": kubeconfig_text("https://p:6443", "t2")})
    inv.cluster_profile(names["fleet"], "prof", [secret_reader_provider("https://p:6443", "src", "kubeconfig")])

    core, rbac = client.CoreV1Api(control_plane.api), client.RbacAuthorizationV1Api(control_plane.api)
    apply_cluster_roles(rbac)
    kubeconfigs = {}
    bindings = []
    for purpose, role in ROLES.items():
        account = f"inventory-{purpose}"
        core.create_namespaced_service_account(names["accounts"], {"metadata": {"name": account}})
        binding = f"{role}-{run_id}"
        rbac.create_cluster_role_binding({
            "metadata": {"name": binding},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": names["accounts"]}],
        })
        bindings.append(binding)
        token = core.create_namespaced_service_account_token(
            account, names["accounts"], {"spec": {"expirationSeconds": 3600}}).status.token
        kubeconfigs[purpose] = token_kubeconfig(control_plane.kubeconfig, token, tmp_path / f"{purpose}.kubeconfig")
    yield Identities(run_id, names, kubeconfigs)
    for binding in bindings:
        rbac.delete_cluster_role_binding(binding)
    for ns in (names["capi"], names["fleet"], names["accounts"], consumer):
        control_plane.delete_namespace(ns)


def _stack(tmp_path: Path, identities: Identities) -> ProjectStack:
    names = identities.names
    stack = ProjectStack(tmp_path / "project")
    stack.configure(capiNamespaces=[names["capi"]], profileNamespaces=[names["fleet"]],
                    consumerNamespaceLabel=names["label"], managedByValue=f"ci-{identities.run_id}",
                    scheduleIntervalMinutes=0)
    return stack


def _managed(control_plane: ControlPlane, identities: Identities) -> set[str]:
    inv = Inventory(control_plane.api)
    selector = f"app.kubernetes.io/managed-by=ci-{identities.run_id}"
    return inv.secret_names(selector) | inv.custom_names(SVELTOS, selector=selector)


def test_preview_succeeds_with_the_read_only_role(identities: Identities, tmp_path: Path) -> None:
    stack = _stack(tmp_path, identities)
    stack.configure(kubeconfig=str(identities.kubeconfigs["preview"]))
    result = stack.preview()
    assert result.change_summary.get("create") == 6  # Stack, component, provider, 2 Secrets, 1 SveltosCluster
    stack.destroy()


def test_up_with_the_read_only_role_fails_with_a_forbidden_message_and_writes_nothing(
    control_plane: ControlPlane, identities: Identities, tmp_path: Path
) -> None:
    stack = _stack(tmp_path, identities)
    stack.configure(kubeconfig=str(identities.kubeconfigs["preview"]))
    with pytest.raises(auto.CommandError):
        stack.up()
    message = "\n".join(stack.output)
    account = f"system:serviceaccount:{identities.names['accounts']}:inventory-preview"
    # Server-side apply creates with PATCH: the reader is refused that verb, object by object.
    for kind, namespace, name in (("secrets", f"c-{identities.run_id}", "default-one-kubeconfig"),
                                  ("sveltosclusters.lib.projectsveltos.io", identities.names["fleet"], "prof")):
        assert (f'{kind} "{name}" is forbidden: User "{account}" cannot patch resource "{kind.split(".")[0]}"'
                in message)
        assert f'in the namespace "{namespace}"' in message
    assert "was not successfully created by the Kubernetes API server" in message
    assert _managed(control_plane, identities) == set()


def test_up_succeeds_with_the_deploy_role_and_the_reader_previews_the_next_change(
    control_plane: ControlPlane, identities: Identities, tmp_path: Path
) -> None:
    stack = _stack(tmp_path, identities)
    stack.configure(kubeconfig=str(identities.kubeconfigs["deploy"]))
    stack.up()
    fleet = identities.names["fleet"]
    assert _managed(control_plane, identities) == {
        f"c-{identities.run_id}/default-one-kubeconfig", f"{fleet}/prof-sveltos-kubeconfig", f"{fleet}/prof"}
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


def test_the_deploy_role_publishes_cluster_profiles_with_their_status(
    control_plane: ControlPlane, identities: Identities, tmp_path: Path
) -> None:
    stack = _stack(tmp_path, identities)
    stack.configure(kubeconfig=str(identities.kubeconfigs["deploy"]), clusterProfileMode="direct",
                    clusterManagerName=f"ci-{identities.run_id}", pushMode="off", sveltosMode="off",
                    profileNamespaces=[identities.names["fleet"], "default"])
    stack.up()
    inv = Inventory(control_plane.api)
    group, version, plural = PROFILES
    published = inv.custom.get_namespaced_custom_object(group, version, "default", plural, "one")
    assert published["spec"]["clusterManager"] == {"name": f"ci-{identities.run_id}"}
    assert [c["type"] for c in published["status"]["conditions"]] == ["ControlPlaneHealthy"]
    stack.destroy()
    assert "default/one" not in inv.custom_names(PROFILES, "default")
