"""SPEC §9 on the real API server with the real CLI: a tenant with rights only in its own namespace
asks the program to move credentials it does not own, and the next `pulumi up` refuses every request.

The operator's inventory (two CAPI Clusters, a ClusterProfile reading a CAPI Secret through a
declared route, two routed consumer namespaces, a ClusterSet namespace) is deployed first. Then a
ServiceAccount bound to namespace-scoped rights in `tenant-<id>` (and to patching that one
namespace's labels, as a tenancy tool allows) performs each attack of docs/security.md through the
API server with its own token. The `up` after it exits 0, names every refused input in its outputs
and log, and leaves every operator object exactly as it was: same UID, same resourceVersion.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import (
    PROFILES,
    SVELTOS,
    Inventory,
    kubeconfig_text,
    secret_reader_provider,
)
from tests.integration.project import ProjectStack
from tests.integration.test_rbac import token_kubeconfig

# The operator's credentials: a tenant must never see these markers anywhere it can read.
PROD_EU_TOKEN = "operator-prod-eu-1-admin-token"
PROD_US_TOKEN = "operator-prod-us-1-admin-token"
PROFILE_TOKEN = "operator-fleet-profile-token"

EXEC_KUBECONFIG = json.dumps({
    "apiVersion": "v1", "kind": "Config", "current-context": "c",
    "clusters": [{"name": "c", "cluster": {"server": "https://tenant.example:6443"}}],
    "users": [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                              "command": "/bin/sh", "args": ["-c", "touch /tmp/pwned"]}}}],
    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
})
TOKEN_FILE_KUBECONFIG = EXEC_KUBECONFIG.replace(
    '"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh", "args": ["-c", "touch /tmp/pwned"]}',
    '"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"')


@dataclass(frozen=True)
class World:
    run_id: str
    capi: str
    fleet: str
    fleet_prod: str
    tenant: str
    label: str
    consumers: tuple[str, str]
    managed_by: str
    tenant_api: client.ApiClient

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/managed-by={self.managed_by}"


def _tenant_client(control_plane: ControlPlane, tenant: str, tmp: Path) -> client.ApiClient:
    """A ServiceAccount of `tenant` with a Role over its own namespace's inventory objects and the
    right to label that namespace, as a TokenRequest token (no impersonation: every request is the SA's)."""
    core, rbac = client.CoreV1Api(control_plane.api), client.RbacAuthorizationV1Api(control_plane.api)
    core.create_namespaced_service_account(tenant, {"metadata": {"name": "team"}})
    subject = [{"kind": "ServiceAccount", "name": "team", "namespace": tenant}]
    rbac.create_namespaced_role(tenant, {"metadata": {"name": "team"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "update", "patch", "delete"]},
        {"apiGroups": ["multicluster.x-k8s.io"], "resources": ["clusterprofiles", "clusterprofiles/status"],
         "verbs": ["get", "list", "create", "update", "patch", "delete"]},
        {"apiGroups": ["cluster.x-k8s.io"], "resources": ["clusters"],
         "verbs": ["get", "list", "create", "update", "patch", "delete"]},
    ]})
    rbac.create_namespaced_role_binding(tenant, {"metadata": {"name": "team"}, "subjects": subject,
                                                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                             "kind": "Role", "name": "team"}})
    rbac.create_cluster_role({"metadata": {"name": f"label-{tenant}"}, "rules": [
        {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [tenant], "verbs": ["get", "patch"]}]})
    rbac.create_cluster_role_binding({"metadata": {"name": f"label-{tenant}"}, "subjects": subject,
                                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                  "kind": "ClusterRole", "name": f"label-{tenant}"}})
    token = core.create_namespaced_service_account_token(
        "team", tenant, {"spec": {"expirationSeconds": 3600}}).status.token
    path = token_kubeconfig(control_plane.kubeconfig, token, tmp / "tenant.kubeconfig")
    return config.new_client_from_config(str(path))


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    # The tenant's namespace sorts first, so its ClusterSet claim comes before the operator's.
    capi, fleet, fleet_prod, tenant = f"capi-{run_id}", f"fleet-{run_id}", f"fleet-prod-{run_id}", f"a-tenant-{run_id}"
    label = f"consumer-{run_id}"
    consumers = (f"team-a-{run_id}", f"team-b-{run_id}")
    for ns in (capi, fleet, tenant):
        inv.namespace(ns)
    inv.namespace(fleet_prod, {"clusterset.multicluster.x-k8s.io": f"prod-{run_id}"})
    for ns in consumers:
        inv.namespace(ns, {label: ""})
    inv.capi_cluster(capi, "prod-eu-1", {"clusterprofile-name": "prod-eu-1", "clusterprofile-namespace": fleet},
                     kubeconfig_text("https://prod-eu-1.example:6443", PROD_EU_TOKEN))
    inv.capi_cluster(capi, "prod-us-1", {"clusterprofile-name": "prod-us-1", "clusterset.k8s.io": f"prod-{run_id}"},
                     kubeconfig_text("https://prod-us-1.example:6443", PROD_US_TOKEN))
    inv.secret(fleet, "reader", {"kubeconfig": kubeconfig_text("https://fleet-1.example:6443", PROFILE_TOKEN)})
    inv.cluster_profile(fleet, "fleet-1", [secret_reader_provider("https://fleet-1.example:6443", "reader",
                                                                   "kubeconfig")], labels={"env": "prod"})
    tenant_api = _tenant_client(control_plane, tenant, tmp_path_factory.mktemp("tenant"))
    yield World(run_id, capi, fleet, fleet_prod, tenant, label, consumers, f"ci-{run_id}", tenant_api)
    rbac = client.RbacAuthorizationV1Api(control_plane.api)
    rbac.delete_cluster_role(f"label-{tenant}")
    rbac.delete_cluster_role_binding(f"label-{tenant}")
    for ns in (capi, fleet, fleet_prod, tenant, *consumers):
        control_plane.delete_namespace(ns)


def _stack(tmp_path: Path, control_plane: ControlPlane, world: World) -> ProjectStack:
    """The operator's stack: routes only between its own namespaces (docs/security.md)."""
    stack = ProjectStack(tmp_path / "project", routes={
        "consumerNamespaces": list(world.consumers),
        "clusterPlacementRoutes": {world.capi: [world.fleet, world.fleet_prod]},
        "secretReaderRoutes": {world.fleet: [world.capi]},
        # "type" is allowed on purpose: a label matching managementClusterSelector is refused all the same.
        "sveltosClusterLabels": ["env", "type"],
    })
    stack.configure(kubeconfig=str(control_plane.kubeconfig), consumerNamespaceLabel=world.label,
                    managedByValue=world.managed_by, scheduleIntervalMinutes=0,
                    capiNamespaces=[world.capi, world.tenant],
                    profileNamespaces=[world.fleet, world.fleet_prod, world.tenant],
                    argocdMode="direct", argocdSources=["clusters", "profiles"], argocdNamespace=world.fleet)
    return stack


def _managed_versions(control_plane: ControlPlane, world: World) -> dict[str, tuple[str, str]]:
    """Every object the stack manages: ``Kind/ns/name`` -> (uid, resourceVersion)."""
    core = client.CoreV1Api(control_plane.api)
    custom = client.CustomObjectsApi(control_plane.api)
    found = {f"Secret/{s.metadata.namespace}/{s.metadata.name}": (s.metadata.uid, s.metadata.resource_version)
             for s in core.list_secret_for_all_namespaces(label_selector=world.selector).items}
    group, version, plural = SVELTOS
    for item in custom.list_cluster_custom_object(group, version, plural, label_selector=world.selector)["items"]:
        meta = item["metadata"]
        found[f"SveltosCluster/{meta['namespace']}/{meta['name']}"] = (meta["uid"], meta["resourceVersion"])
    return found


def _attack(world: World) -> None:
    """Everything the tenant writes, each through the API server with the tenant's own token."""
    tenant = Inventory(world.tenant_api)
    ns = world.tenant
    # 1. Cross-namespace copy: a profile naming the operator's CAPI Secret, and one naming kube-system.
    tenant.cluster_profile(ns, "steal-capi", [secret_reader_provider(
        "https://prod-eu-1.example:6443", "prod-eu-1-kubeconfig", "value", namespace=world.capi)])
    tenant.cluster_profile(ns, "steal-system", [secret_reader_provider(
        "https://x.example", "bootstrap-token-abcdef", "token-secret", namespace="kube-system")])
    # 2. A label is a grant: the tenant labels its own namespace as a consumer.
    client.CoreV1Api(world.tenant_api).patch_namespace(ns, {"metadata": {"labels": {
        world.label: "", "clusterset.multicluster.x-k8s.io": f"prod-{world.run_id}"}}})
    # 3. Runnable credentials: labelled Secrets holding an exec kubeconfig and a tokenFile one.
    for profile, text in (("runs-exec", EXEC_KUBECONFIG), ("reads-token-file", TOKEN_FILE_KUBECONFIG)):
        tenant.cluster_profile(ns, profile, [])
        tenant.secret(ns, f"{profile}-credentials", {"config": text}, labels={"x-k8s.io/cluster-profile": profile})
    # 5. CAPI labels choose where objects land: the real profile's name, a victim's namespace, mgmt.
    tenant.capi_cluster(ns, "imposter", {"clusterprofile-name": "prod-eu-1", "clusterprofile-namespace": world.fleet},
                        kubeconfig_text("https://attacker.example:6443", "tenant-token-1"))
    tenant.capi_cluster(ns, "intruder", {"clusterprofile-name": "intruder",
                                          "clusterprofile-namespace": world.consumers[0],
                                          "clusterset.k8s.io": f"prod-{world.run_id}"},
                        kubeconfig_text("https://attacker.example:6443", "tenant-token-2"))
    tenant.capi_cluster(ns, "mgmt", {"clusterprofile-name": "mgmt", "clusterprofile-namespace": "mgmt"},
                        kubeconfig_text("https://attacker.example:6443", "tenant-token-3"))
    # A member of the operator's ClusterSet whose set namespace the tenant now claims first: the
    # tenant's claim must neither take prod-us-1 (it has no route there) nor block it.
    tenant.capi_cluster(ns, "joins-prod", {"clusterprofile-name": "joins-prod",
                                            "clusterset.k8s.io": f"prod-{world.run_id}"},
                        kubeconfig_text("https://attacker.example:6443", "tenant-token-4"))
    # 6. Labels copied blindly: a profile of its own, labelled as the management cluster.
    tenant.secret(ns, "own", {"kubeconfig": kubeconfig_text("https://own.example:6443", "tenant-own")})
    tenant.cluster_profile(ns, "looks-like-mgmt", [secret_reader_provider("https://own.example:6443", "own",
                                                                          "kubeconfig")],
                           labels={"type": "mgmt", "env": "dev"})


def _skipped(stack: ProjectStack) -> str:
    return "\n".join(stack.stack.outputs()["skipped"].value)


def test_no_tenant_request_moves_a_credential_and_the_operators_objects_stay_untouched(
    control_plane: ControlPlane, world: World, tmp_path: Path
) -> None:
    stack = _stack(tmp_path, control_plane, world)
    stack.up()
    before = _managed_versions(control_plane, world)
    a, b = world.consumers
    assert {f"Secret/{a}/{world.fleet}-prod-eu-1-kubeconfig", f"Secret/{b}/{world.fleet_prod}-prod-us-1-kubeconfig",
            f"SveltosCluster/{world.fleet}/fleet-1"} <= before.keys()

    _attack(world)
    result = stack.up()
    after = _managed_versions(control_plane, world)

    # Nothing of the operator's changed: same objects, same UIDs, same resourceVersions.
    assert {k: v for k, v in after.items() if world.tenant not in k and "intruder" not in k} == before
    # The tenant received nothing but what its own namespace's inputs make, in its own namespace.
    core = client.CoreV1Api(control_plane.api)
    tenant_secrets = core.list_namespaced_secret(world.tenant, label_selector=world.selector).items
    assert {s.metadata.name for s in tenant_secrets} == {"looks-like-mgmt-sveltos-kubeconfig"}
    for secret in core.list_secret_for_all_namespaces(label_selector=world.selector).items:
        text = json.dumps(secret.data)
        if secret.metadata.namespace == world.tenant:
            for marker in (PROD_EU_TOKEN, PROD_US_TOKEN, PROFILE_TOKEN):
                assert marker not in _decoded(secret.data), (secret.metadata.name, marker)
        assert "touch /tmp/pwned" not in _decoded(secret.data) and "tokenFile" not in _decoded(secret.data), text[:0]
    # The management-cluster label was not carried; the allowed one was.
    mgmt_like = Inventory(control_plane.api).custom_object(SVELTOS, world.tenant, "looks-like-mgmt")
    assert mgmt_like["metadata"]["labels"].get("type") is None
    assert mgmt_like["metadata"]["labels"]["env"] == "dev"
    # No SveltosCluster named mgmt/mgmt, nothing in the victim's namespace but its push Secrets.
    assert "SveltosCluster/mgmt/mgmt" not in after
    assert not [k for k in after if k.startswith(f"Secret/{a}/") and "intruder" in k and a + "-intruder" in k]

    skipped = _skipped(stack)
    log = "\n".join(stack.output)
    for expected in (
        f"ClusterProfile {world.tenant}/steal-capi",
        f"source Secret {world.capi}/prod-eu-1-kubeconfig refused",
        f"ClusterProfile {world.tenant}/steal-system",
        f"Namespace {world.tenant}: refused as a consumer",
        f"ClusterProfile {world.tenant}/runs-exec",
        "refused: kubeconfig carries exec",
        f"ClusterProfile {world.tenant}/reads-token-file",
        "refused: kubeconfig carries tokenFile",
        f"Cluster {world.tenant}/imposter: skipped, refused: its labels place its ClusterProfile in "
        + f"namespace {world.fleet}",
        f"Cluster {world.tenant}/intruder: skipped, refused: its labels place its ClusterProfile in namespace {a}",
        f"Cluster {world.tenant}/mgmt: skipped, refused: its labels place its ClusterProfile in namespace mgmt",
        f"ClusterProfile {world.tenant}/looks-like-mgmt: label type=mgmt not carried",
    ):
        assert expected in skipped, expected
        assert expected in log, expected
    for marker in (PROD_EU_TOKEN, PROD_US_TOKEN, PROFILE_TOKEN, "tenant-token-1", "tenant-own"):
        assert marker not in log
        assert marker not in stack.state_text()
    assert result.summary.result == "succeeded"
    stack.destroy()
    assert _managed_versions(control_plane, world) == {}


def test_the_tenant_cannot_read_what_it_was_refused(control_plane: ControlPlane, world: World) -> None:
    """The attacks go through the API server as the tenant: its own rights stop at its namespace."""
    core = client.CoreV1Api(world.tenant_api)
    with pytest.raises(client.ApiException) as denied:
        core.read_namespaced_secret("prod-eu-1-kubeconfig", world.capi)
    assert denied.value.status == 403
    group, version, plural = PROFILES
    with pytest.raises(client.ApiException) as denied:
        client.CustomObjectsApi(world.tenant_api).create_namespaced_custom_object(
            group, version, world.fleet, plural,
            {"apiVersion": f"{group}/{version}", "kind": "ClusterProfile",
             "metadata": {"name": "x", "namespace": world.fleet}, "spec": {"clusterManager": {"name": "x"}}})
    assert denied.value.status == 403


def _decoded(data: dict[str, Any] | None) -> str:
    import base64

    return "".join(base64.b64decode(value).decode(errors="replace") for value in (data or {}).values())
