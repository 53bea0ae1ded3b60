"""Grants (docs/security.md, "Grants") with real components: the pulumi CLI, the project's provider
plugin, the management API server and two workload API servers of the test bed (each its own CA,
admin certificate and service-account issuer), plus a CAPI Cluster whose server refuses
connections. A consumer's push Secret holds a token of its own ServiceAccount on each workload
cluster, limited to its grant; the steps share one stack, in file order."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration.consumers import RUN_TIMEOUT_SECONDS, build
from tests.integration.controlplane import ControlPlane
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import resource_changes
from tests.integration.watching import ObjectWatch
from tests.integration.workloads import (
    CapiCluster,
    WorkloadServer,
    register_capi_cluster,
    register_unanswered_cluster,
)

GRANT_TYPE = "cluster-inventory:index:ConsumerGrant"
CONSUMER_LABEL = "x-k8s.io/cluster-inventory-consumer"
# The ServiceAccounts' namespace on the workload clusters, this module's own: destroy deletes it, and a
# namespace being deleted cannot take new ServiceAccounts until the namespace controller is done.
GRANT_NAMESPACE = f"grants-{uuid.uuid4().hex[:6]}"
CONFIGMAPS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
JOBS = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}


@dataclass
class World:
    stack: ProjectStack
    mgmt: client.ApiClient
    capi_ns: str
    team: str  # a consumer with a grant
    other: str  # a consumer without one
    apps: str  # the namespace of the team's namespaced grant on the workload clusters
    workloads: dict[str, WorkloadServer]  # CAPI Cluster name -> its workload cluster
    clusters: dict[str, CapiCluster]
    ca_dir: Path

    def grants(self) -> dict[str, Any]:
        return {self.team: {"tokenLifetimeSeconds": 3600, "access": [
            {"rules": [CONFIGMAPS]}, {"namespaces": [self.apps], "rules": [JOBS]}]}}

    def push_secret(self, consumer: str, cluster: str) -> client.V1Secret | None:
        try:
            found: client.V1Secret = client.CoreV1Api(self.mgmt).read_namespaced_secret(
                f"{self.capi_ns}-{cluster}-kubeconfig", consumer)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return found

    def kubeconfig(self, cluster: str) -> dict[str, Any]:
        secret = self.push_secret(self.team, cluster)
        assert secret is not None and secret.data, f"no push Secret with data for {cluster}"
        loaded: dict[str, Any] = yaml.safe_load(base64.b64decode(secret.data["config"]))
        return loaded

    def token(self, cluster: str) -> str:
        return str(self.kubeconfig(cluster)["users"][0]["user"]["token"])

    def as_bearer(self, server: str, ca_pem: str, token: str) -> client.ApiClient:
        configuration = client.Configuration()
        configuration.host = server
        ca_file = self.ca_dir / f"ca-{uuid.uuid4().hex[:6]}.crt"
        ca_file.write_text(ca_pem)
        configuration.ssl_ca_cert = str(ca_file)
        configuration.api_key = {"authorization": f"Bearer {token}"}
        configuration.retries = False
        return client.ApiClient(configuration)

    def resources(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.stack.stack.export_stack().deployment.get("resources", [])
        return found


def _whoami(api: client.ApiClient) -> str:
    review = client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview")
    return str(client.AuthenticationV1Api(api).create_self_subject_review(review).status.user_info.username)


def _may(api: client.ApiClient, verb: str, resource: str, namespace: str, group: str = "") -> bool:
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(verb=verb, resource=resource, namespace=namespace,
                                                        group=group)))
    return bool(client.AuthorizationV1Api(api).create_self_subject_access_review(review).status.allowed)


def _status_of(call: Any) -> int:
    try:
        call()
    except ApiException as err:
        return int(err.status)
    return 200


# The API server caches a token's successful authentication for 10 s (its token cache), so a
# revoked token fails within that.
REVOCATION_S = 12


def _fails_within_seconds(api: client.ApiClient) -> None:
    since = time.monotonic()
    while _status_of(lambda: _whoami(api)) != 401:
        assert time.monotonic() - since < REVOCATION_S, "the revoked token still authenticates"
        time.sleep(0.2)


def _service_accounts(workload: WorkloadServer) -> list[str]:
    try:
        found = client.CoreV1Api(workload.api()).list_namespaced_service_account(GRANT_NAMESPACE)
    except ApiException as err:
        if err.status == 404:
            return []
        raise
    return sorted(sa.metadata.name for sa in found.items if sa.metadata.name != "default")


def _owned_rbac(workload: WorkloadServer, consumer: str) -> list[str]:
    rbac = client.RbacAuthorizationV1Api(workload.api())
    selector = f"grants.cluster-inventory.x-k8s.io/consumer={consumer}"
    return sorted([f"ClusterRoleBinding/{o.metadata.name}" for o in rbac.list_cluster_role_binding(label_selector=selector).items]
                  + [f"ClusterRole/{o.metadata.name}" for o in rbac.list_cluster_role(label_selector=selector).items]
                  + [f"RoleBinding/{o.metadata.namespace}/{o.metadata.name}"
                     for o in rbac.list_role_binding_for_all_namespaces(label_selector=selector).items]
                  + [f"Role/{o.metadata.namespace}/{o.metadata.name}"
                     for o in rbac.list_role_for_all_namespaces(label_selector=selector).items])


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, workloads: list[WorkloadServer],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    core = client.CoreV1Api(control_plane.api)
    capi_ns, team, other, apps = f"capi-g-{run_id}", f"team-{run_id}", f"other-{run_id}", f"apps-{run_id}"
    argocd = f"argocd-{run_id}"
    for name, labels in ((capi_ns, {}), (team, {CONSUMER_LABEL: "true"}), (other, {CONSUMER_LABEL: "true"}),
                         (argocd, {})):
        core.create_namespace({"metadata": {"name": name, "labels": labels}})
    one, two = workloads
    for workload in workloads:
        client.CoreV1Api(workload.api()).create_namespace({"metadata": {"name": apps}})
    clusters = {
        name: register_capi_cluster(control_plane.api, capi_ns, name, workload,
                                    labels={"clusterprofile-name": name, "clusterprofile-namespace": capi_ns})
        for name, workload in ((f"one-{run_id}", one), (f"two-{run_id}", two))}
    gone = f"gone-{run_id}"
    clusters[gone] = register_unanswered_cluster(control_plane.api, capi_ns, gone, labels={"clusterprofile-name": gone, "clusterprofile-namespace": capi_ns})
    mute = f"mute-{run_id}"  # accepts connections and never answers: each call waits out grantTimeoutSeconds
    clusters[mute] = register_unanswered_cluster(control_plane.api, capi_ns, mute, silent=True,
                                                 labels={"clusterprofile-name": mute, "clusterprofile-namespace": capi_ns})
    stack = ProjectStack(tmp_path_factory.mktemp("grants") / "project", routes={})
    world = World(stack, control_plane.api, capi_ns, team, other, apps,
                  {f"one-{run_id}": one, f"two-{run_id}": two}, clusters, tmp_path_factory.mktemp("ca"))
    stack.configure(capiNamespaces=[capi_ns], profileNamespaces=[capi_ns], pushMode="direct", sveltosMode="off",
                    consumerNamespaces=[team, other], managedByValue=f"ci-{run_id}", eventsNamePrefix=f"ci-{run_id}",
                    scheduleIntervalMinutes=30, grantTimeoutSeconds=3, grantServiceAccountNamespace=GRANT_NAMESPACE,
                    grants=world.grants())
    stack.configure_secret("kubeconfig", control_plane.kubeconfig.read_text())
    yield world
    stack.destroy()
    for name in (capi_ns, team, other, argocd):
        control_plane.delete_namespace(name)


def test_preview_shows_the_grants_to_create_on_each_workload_cluster(world: World) -> None:
    start = len(world.stack.output)
    preview = world.stack.preview()
    shown = "\n".join(world.stack.output[start:])
    for cluster in world.clusters:
        assert f"ConsumerGrant/{world.capi_ns}/{cluster}/{world.team}" in shown
    assert GRANT_TYPE in shown
    assert preview.change_summary.get("create", 0) >= 3


def test_up_converges_the_answering_clusters_skips_the_unanswered_one_and_exits_0(world: World) -> None:
    started = time.monotonic()
    result = world.stack.up()  # raises on a non-zero exit
    elapsed = time.monotonic() - started
    grants = [r for r in world.resources() if r["type"] == GRANT_TYPE]
    assert len(grants) == 4
    failed = sorted(result.outputs["failedGrants"].value)
    unanswered = sorted(name for name in world.clusters if name not in world.workloads)
    assert len(failed) == 2
    for line, cluster in zip(failed, unanswered, strict=True):
        assert f"/{cluster}/" in line and "does not answer" in line and "no token was delivered yet" in line
    assert "grant failed, the run goes on" in "\n".join(world.stack.output)
    for cluster in world.workloads:
        assert world.token(cluster)
    # Bounded: the silent cluster costs its grant about one grantTimeoutSeconds (3 s), not the run.
    print(f"first up with 4 grants (two unanswered): {elapsed:.1f} s")


def test_a_consumer_without_a_grant_entry_gets_no_credential(world: World) -> None:
    for cluster in world.clusters:
        assert world.push_secret(world.other, cluster) is None


def test_a_consumer_moving_from_admin_keeps_its_old_credential_where_no_token_came_yet(world: World) -> None:
    """docs/security.md, moving a stack to grants without a gap: where the workload cluster answers,
    the consumer's Secret changes in place to its token; where it does not, the Secret keeps the
    admin kubeconfig it held until a run reaches the cluster, instead of losing its data."""
    world.stack.configure(grants={**world.grants(), world.other: {"admin": True}})
    world.stack.up()
    held = {cluster: world.push_secret(world.other, cluster) for cluster in world.clusters}
    assert all(secret is not None and secret.data for secret in held.values())
    world.stack.configure(grants={**world.grants(), world.other: {"access": [{"rules": [CONFIGMAPS]}]}})
    world.stack.up()
    for cluster, before in held.items():
        assert before is not None
        now = world.push_secret(world.other, cluster)
        assert now is not None and now.metadata.uid == before.metadata.uid
        if cluster in world.workloads:
            workload = world.workloads[cluster]
            token = yaml.safe_load(base64.b64decode(now.data["config"]))["users"][0]["user"]["token"]
            api = world.as_bearer(workload.server, workload.ca_pem, token)
            assert _whoami(api) == f"system:serviceaccount:{GRANT_NAMESPACE}:{world.other}"
        else:
            assert now.data == before.data  # the admin kubeconfig it held
    world.stack.configure(grants=world.grants())
    world.stack.up()
    for cluster in world.clusters:
        assert world.push_secret(world.other, cluster) is None


def test_the_token_kubeconfig_reaches_the_same_server_as_the_capi_kubeconfig(world: World) -> None:
    for cluster, workload in world.workloads.items():
        kubeconfig = world.kubeconfig(cluster)
        entry = kubeconfig["clusters"][0]["cluster"]
        assert entry["server"] == workload.server
        assert base64.b64decode(entry["certificate-authority-data"]).decode() == workload.ca_pem
        assert set(kubeconfig["users"][0]["user"]) == {"token"}


def test_the_token_authenticates_as_the_consumers_service_account(world: World) -> None:
    for cluster, workload in world.workloads.items():
        api = world.as_bearer(workload.server, workload.ca_pem, world.token(cluster))
        assert _whoami(api) == f"system:serviceaccount:{GRANT_NAMESPACE}:{world.team}"


def test_access_review_allows_exactly_the_granted_verbs(world: World) -> None:
    for cluster, workload in world.workloads.items():
        api = world.as_bearer(workload.server, workload.ca_pem, world.token(cluster))
        assert _may(api, "get", "configmaps", "default") and _may(api, "list", "configmaps", world.apps)
        assert _may(api, "create", "jobs", world.apps, "batch")
        assert not _may(api, "delete", "configmaps", "default")
        assert not _may(api, "get", "secrets", "default")
        assert not _may(api, "create", "jobs", "default", "batch")
        assert not _may(api, "create", "serviceaccounts/token", GRANT_NAMESPACE)


def test_the_token_gets_401_on_the_other_workload_cluster_and_the_management_cluster(world: World) -> None:
    (first, _), (_, second_server) = world.workloads.items()
    token = world.token(first)
    other = world.as_bearer(second_server.server, second_server.ca_pem, token)
    assert _status_of(lambda: _whoami(other)) == 401
    host = world.mgmt.configuration.host
    ca_file = world.mgmt.configuration.ssl_ca_cert
    mgmt = client.Configuration()
    mgmt.host, mgmt.ssl_ca_cert, mgmt.retries = host, ca_file, False
    mgmt.api_key = {"authorization": f"Bearer {token}"}
    assert _status_of(lambda: _whoami(client.ApiClient(mgmt))) == 401


def test_no_token_in_cli_output_stack_outputs_or_state(world: World) -> None:
    tokens = [world.token(cluster) for cluster in world.workloads]
    state = world.stack.state_text()
    outputs = json.dumps({key: value.value for key, value in world.stack.stack.outputs().items()
                          if not value.secret})
    cli = "\n".join(world.stack.output)
    for token in tokens:
        for part in (token, token.split(".")[2]):
            assert part not in state
            assert part not in outputs
            assert part not in cli


def test_no_admin_credential_of_a_workload_cluster_is_in_the_state(world: World) -> None:
    state = world.stack.state_text()
    for workload in world.workloads.values():
        key = "".join(workload.admin_key_pem.splitlines()[1:-1])[:64]
        assert key not in state
        assert base64.b64encode(workload.admin_key_pem.encode()).decode()[:64] not in state
    grant = next(r for r in world.resources() if r["type"] == GRANT_TYPE)
    assert set(grant["inputs"]["kubeconfigSecret"]) == {"namespace", "name", "key"}


def test_a_steady_run_mints_nothing_and_only_retries_the_failed_grant(world: World) -> None:
    before = {cluster: world.token(cluster) for cluster in world.workloads}
    uids = {cluster: world.push_secret(world.team, cluster).metadata.uid  # type: ignore[union-attr]
            for cluster in world.workloads}
    result = world.stack.up()
    changes = resource_changes(result)
    assert {"create", "delete", "replace"}.isdisjoint(changes)
    assert {cluster: world.token(cluster) for cluster in world.workloads} == before
    assert {cluster: world.push_secret(world.team, cluster).metadata.uid  # type: ignore[union-attr]
            for cluster in world.workloads} == uids


def test_a_changed_grant_updates_in_place_and_prunes_what_it_no_longer_grants(world: World) -> None:
    world.stack.configure(grants={world.team: {"tokenLifetimeSeconds": 3600, "access": [{"rules": [CONFIGMAPS]}]}})
    uids = {cluster: world.push_secret(world.team, cluster).metadata.uid  # type: ignore[union-attr]
            for cluster in world.workloads}
    result = world.stack.up()
    assert {"create", "delete", "replace"}.isdisjoint(resource_changes(result))
    for cluster, workload in world.workloads.items():
        assert world.push_secret(world.team, cluster).metadata.uid == uids[cluster]  # type: ignore[union-attr]
        api = world.as_bearer(workload.server, workload.ca_pem, world.token(cluster))
        assert _may(api, "get", "configmaps", "default")
        assert not _may(api, "create", "jobs", world.apps, "batch")
        assert not any(name.startswith(("Role/", "RoleBinding/")) for name in _owned_rbac(workload, world.team))


def test_a_token_that_would_expire_before_the_next_run_is_rotated_in_place(world: World) -> None:
    """tokenLifetimeSeconds 600 with a run every 30 minutes: every run re-mints, and the preview says so."""
    world.stack.configure(grants={world.team: {"tokenLifetimeSeconds": 600, "access": [{"rules": [CONFIGMAPS]}]}})
    world.stack.up()
    before = {cluster: world.token(cluster) for cluster in world.workloads}
    uids = {cluster: world.push_secret(world.team, cluster).metadata.uid  # type: ignore[union-attr]
            for cluster in world.workloads}
    start = len(world.stack.output)
    preview = world.stack.preview()
    shown = "\n".join(world.stack.output[start:])
    assert preview.change_summary.get("update", 0) >= 2
    for cluster in world.workloads:
        assert f"ConsumerGrant/{world.capi_ns}/{cluster}/{world.team}" in shown
    selector = f"app.kubernetes.io/managed-by=ci-{world.team.removeprefix('team-')}"
    with ObjectWatch(partial(client.CoreV1Api(world.mgmt).list_namespaced_secret, world.team), selector) as seen:
        world.stack.up()
    pushed = {f"{world.team}/{world.push_secret(world.team, cluster).metadata.name}"  # type: ignore[union-attr]
              for cluster in world.workloads}
    # A consumer watching its Secrets sees each one change, never go and come back.
    assert pushed <= seen.of("MODIFIED") and not seen.of("DELETED") and not seen.of("ADDED")
    for cluster, workload in world.workloads.items():
        assert world.token(cluster) != before[cluster]
        assert world.push_secret(world.team, cluster).metadata.uid == uids[cluster]  # type: ignore[union-attr]
        # The previous token keeps working until it expires: a reader that holds it is not cut off.
        old = world.as_bearer(workload.server, workload.ca_pem, before[cluster])
        assert _whoami(old) == f"system:serviceaccount:{GRANT_NAMESPACE}:{world.team}"


def test_removing_the_consumer_deletes_its_identity_and_its_token_fails_within_seconds(world: World) -> None:
    tokens = {cluster: world.token(cluster) for cluster in world.workloads}
    world.stack.configure(grants={})
    world.stack.up()
    for cluster, workload in world.workloads.items():
        _fails_within_seconds(world.as_bearer(workload.server, workload.ca_pem, tokens[cluster]))
        assert _service_accounts(workload) == []
        assert _owned_rbac(workload, world.team) == []
    assert [r for r in world.resources() if r["type"] == GRANT_TYPE] == []
    for cluster in world.clusters:
        assert world.push_secret(world.team, cluster) is None


def test_a_removal_that_cannot_revoke_a_valid_token_stays_in_the_state_until_it_can(world: World) -> None:
    """The workload cluster does not answer when its grant is removed while the token it delivered
    is still valid: the delete fails (the run says so) and the grant stays in the state; once the
    cluster answers again, the next run revokes it."""
    world.stack.configure(grants=world.grants())
    world.stack.up()
    cluster, workload = next(iter(world.workloads.items()))
    token = world.token(cluster)
    core = client.CoreV1Api(world.mgmt)
    name = f"{cluster}-kubeconfig"
    kept = core.read_namespaced_secret(name, world.capi_ns).data["value"]
    unanswered = yaml.safe_load(base64.b64decode(kept))
    unanswered["clusters"][0]["cluster"]["server"] = world.clusters[
        next(c for c in world.clusters if c.startswith("gone-"))].server
    core.patch_namespaced_secret(name, world.capi_ns, {"data": {"value": base64.b64encode(
        yaml.safe_dump(unanswered).encode()).decode()}})
    try:
        world.stack.configure(grants={})
        with pytest.raises(Exception, match="stays valid until"):
            world.stack.up()
        names = [r["urn"].rsplit("::", 1)[1] for r in world.resources() if r["type"] == GRANT_TYPE]
        assert f"ConsumerGrant/{world.capi_ns}/{cluster}/{world.team}" in names
        api = world.as_bearer(workload.server, workload.ca_pem, token)
        assert _whoami(api) == f"system:serviceaccount:{GRANT_NAMESPACE}:{world.team}"
    finally:
        core.patch_namespaced_secret(name, world.capi_ns, {"data": {"value": kept}})
    world.stack.up()
    assert [r for r in world.resources() if r["type"] == GRANT_TYPE] == []
    _fails_within_seconds(world.as_bearer(workload.server, workload.ca_pem, token))


def test_argo_cd_gets_a_bearer_token_of_its_own(world: World) -> None:
    """Argo CD is the consumer argocdNamespace: its cluster Secrets carry its own token."""
    argocd = f"argocd-{world.team.removeprefix('team-')}"
    # An existing ClusterRole of the workload clusters (the test bed runs no controller, so the
    # aggregated ones such as view are empty there).
    reader = f"pod-reader-{argocd}"
    for workload in world.workloads.values():
        client.RbacAuthorizationV1Api(workload.api()).create_cluster_role({
            "metadata": {"name": reader},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    world.stack.configure(argocdMode="direct", argocdNamespace=argocd,
                          grants={**world.grants(), argocd: {"access": [{"clusterRole": reader}]}})
    world.stack.up()
    for cluster, workload in world.workloads.items():
        secret = client.CoreV1Api(world.mgmt).read_namespaced_secret(f"capi-{world.capi_ns}-{cluster}", argocd)
        token = json.loads(base64.b64decode(secret.data["config"]))["bearerToken"]
        assert base64.b64decode(secret.data["server"]).decode() == workload.server
        api = world.as_bearer(workload.server, workload.ca_pem, token)
        assert _whoami(api) == f"system:serviceaccount:{GRANT_NAMESPACE}:{argocd}"
        assert _may(api, "list", "pods", "default") and not _may(api, "delete", "pods", "default")
    world.stack.configure(argocdMode=None, argocdNamespace=None)
    world.stack.up()


def test_sveltos_reaches_each_workload_cluster_with_a_token_of_its_own(world: World, control_plane: ControlPlane) -> None:
    """Sveltos is the consumer eventsNamespace: the SveltosCluster of each published profile names a
    Secret with its own token, and libsveltos' lib/clusterproxy (Sveltos' own code, built from the
    pinned module) reaches the workload cluster with it, limited to the grant."""
    consumer = build("sveltos-consumer")
    sveltos = "projectsveltos"  # eventsNamespace's default
    world.stack.configure(clusterProfileMode="direct", sveltosMode="direct",
                          grants={**world.grants(), sveltos: {"access": [{"rules": [CONFIGMAPS]}]}})
    world.stack.up()
    for cluster, workload in world.workloads.items():
        reached = subprocess.run(
            [str(consumer), "-kubeconfig", str(control_plane.kubeconfig), "-namespace", world.capi_ns,
             "-name", cluster, "-can", "list:configmaps:default", "-can", "create:jobs:default",
             "-can", "list:secrets:default"], capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False)
        assert reached.returncode == 0, reached.stdout + reached.stderr
        seen = json.loads(reached.stdout)
        assert seen["server"] == workload.server
        assert seen["username"] == f"system:serviceaccount:{GRANT_NAMESPACE}:{sveltos}"
        assert seen["can"] == {"list:configmaps:default": True, "create:jobs:default": False,
                               "list:secrets:default": False}
        assert world.token(cluster) not in reached.stdout
    world.stack.configure(clusterProfileMode=None, sveltosMode="off", grants=world.grants())
    world.stack.up()


def test_destroy_leaves_nothing_on_any_workload_cluster(world: World) -> None:
    world.stack.configure(grants=world.grants())
    world.stack.up()
    for workload in world.workloads.values():
        assert _service_accounts(workload) == [world.team]
        assert len(_owned_rbac(workload, world.team)) == 4  # a ClusterRole, a Role and their bindings
    world.stack.destroy()
    for workload in world.workloads.values():
        assert _service_accounts(workload) == []
        assert _owned_rbac(workload, world.team) == []
        # The namespace the grants made goes with the last of them (the test bed runs no namespace
        # controller, so it may still be Terminating here).
        try:
            left = client.CoreV1Api(workload.api()).read_namespace(GRANT_NAMESPACE)
            assert left.metadata.deletion_timestamp is not None, f"{workload.name}: {GRANT_NAMESPACE} was left"
        except ApiException as err:
            assert err.status == 404
