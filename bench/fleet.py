"""A synthetic fleet on the local control plane, shared by `make bench-deploy` and the
recovery tests: N CAPI Clusters with 5.5 KB certificate kubeconfigs, C consumer namespaces,
and N ClusterProfiles reading those kubeconfigs through ``kubeconfig-secretreader``, in
namespaces of its own (prefix ``{name}{N}``); the stack reads only those.

The cluster-manager variant (``cluster_manager=True``, prefix ``{name}{N}e``) writes no
ClusterProfiles: its Clusters (``cluster.x-k8s.io/v1beta2``) carry status conditions, and the
stack publishes the profiles itself (feature E, ``clusterProfileMode: direct``), which feature B
reads in the same run.

The grants variant (``workloads=W``, prefix ``{name}{N}g``) spreads its N CAPI Clusters over the
test bed's first W workload API servers (tests/integration/workloads.py): each Cluster's endpoint
and kubeconfig Secret are a workload server's, as Cluster API writes them. The stack sets
``grants`` for every consumer (a ClusterRole of its own, 24-hour tokens) and runs every 30
minutes, so each (Cluster, consumer) pair gets a ConsumerGrant: its own ServiceAccount and token.
Sveltos is off and there are no ClusterProfiles: N*C push Secrets and N*C grants.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.controlplane import KUBECONFIG, REPO
from tests.integration.workloads import HEALTHY_STATUS, WorkloadServer, running_workload_servers

CAPI_NAMESPACES = 10
CLUSTER_MANAGER = "bench"  # clusterManagerName of the cluster-manager variant
# The grants variant: what each consumer may do on every workload cluster, its tokens' lifetime and the schedule.
GRANT_RULE = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
GRANT_TOKEN_LIFETIME_S = 86_400
GRANT_SCHEDULE_MINUTES = 30
# The variant's Clusters: healthy (ControlPlaneAvailable=True, reachable), as Cluster API v1.11 writes them.
HEALTHY_SINCE = "2026-12-01T00:00:00Z"

# A CAPI admin kubeconfig: CA, client certificate and key make it ~5.5 KB, like the real ones.
KUBECONFIG_TEMPLATE = """apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: https://{name}.clusters.example:6443
    certificate-authority-data: {ca}
users:
- name: {name}-admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: {name}-admin@{name}
  context:
    cluster: {name}
    user: {name}-admin
current-context: {name}-admin@{name}
"""


@dataclass(frozen=True)
class Fleet:
    clusters: int
    consumers: int
    name: str = "bench"
    cluster_manager: bool = False  # feature E publishes the profiles; the inventory has none
    workloads: int = 0  # grants: the Clusters point at this many workload API servers (0: no grants)

    @property
    def prefix(self) -> str:
        return f"{self.name}{self.clusters}{'e' if self.cluster_manager else ''}{'g' if self.workloads else ''}"

    @property
    def consumer_label(self) -> str:
        return f"bench.cluster-inventory.io/consumer-{self.prefix}"

    @property
    def profile_namespace(self) -> str:
        return f"{self.prefix}-fleet"

    def capi_namespace(self, index: int) -> str:
        return f"{self.prefix}-capi-{index % CAPI_NAMESPACES}"

    @property
    def namespaces(self) -> list[str]:
        return ([self.capi_namespace(i) for i in range(CAPI_NAMESPACES)] + [self.profile_namespace]
                + [f"{self.prefix}-consumer-{c}" for c in range(self.consumers)])

    @property
    def objects_per_cluster(self) -> int:
        """Push Secrets, feature B's Secret and SveltosCluster, and feature E's ClusterProfile
        (grants: the push Secrets only; the grants are resources of the project's provider)."""
        if self.workloads:
            return self.consumers
        return self.consumers + 2 + (1 if self.cluster_manager else 0)

    @property
    def grants(self) -> int:
        """ConsumerGrants: one per (Cluster, consumer) pair in the grants variant."""
        return self.clusters * self.consumers if self.workloads else 0

    @property
    def objects(self) -> int:
        return self.clusters * self.objects_per_cluster

    @property
    def removed(self) -> list[int]:
        """The clusters the "remove 10%" step deletes: every tenth."""
        return [i for i in range(self.clusters) if i % 10 == 5]

    @property
    def objects_after_removal(self) -> int:
        return (self.clusters - len(self.removed)) * self.objects_per_cluster

    def describe(self) -> str:
        if self.workloads:
            return (f"{self.clusters} clusters over {self.workloads} workload API servers x {self.consumers} consumers "
                    f"= {self.grants} grants + {self.objects} push Secrets")
        what = "published profiles" if self.cluster_manager else "profiles"
        return (f"{self.clusters} clusters x {self.consumers} consumers + {self.clusters} {what} "
                f"= {self.objects} objects")

    def stack_config(self) -> dict[str, Any]:
        config = self._base_config()
        if self.workloads:
            config.update({
                "cluster-inventory:sveltosMode": "off",
                "cluster-inventory:scheduleIntervalMinutes": GRANT_SCHEDULE_MINUTES,
                "cluster-inventory:grants": {
                    f"{self.prefix}-consumer-{c}": {"tokenLifetimeSeconds": GRANT_TOKEN_LIFETIME_S,
                                                    "access": [{"rules": [GRANT_RULE]}]}
                    for c in range(self.consumers)},
            })
        if self.cluster_manager:
            config.update({
                "cluster-inventory:clusterProfileMode": "direct",
                "cluster-inventory:clusterManagerName": CLUSTER_MANAGER,
                "cluster-inventory:clusterProfileLabels": ["region"],
                "cluster-inventory:requireHealthyControlPlane": True,
            })
        return config

    def _base_config(self) -> dict[str, Any]:
        return {
            "cluster-inventory:kubeconfig": str(KUBECONFIG),
            "cluster-inventory:scheduleIntervalMinutes": 0,
            "cluster-inventory:capiNamespaces": [self.capi_namespace(i) for i in range(CAPI_NAMESPACES)],
            "cluster-inventory:profileNamespaces": [self.profile_namespace],
            "cluster-inventory:consumerNamespaceLabel": self.consumer_label,
            # The fleet's trust routes (docs/security.md): its consumers, and its CAPI namespaces
            # publishing into and read by its profile namespace.
            "cluster-inventory:consumerNamespaces": [f"{self.prefix}-consumer-{c}" for c in range(self.consumers)],
            "cluster-inventory:clusterPlacementRoutes": {
                self.capi_namespace(i): [self.profile_namespace] for i in range(CAPI_NAMESPACES)},
            "cluster-inventory:secretReaderRoutes": {
                self.profile_namespace: [self.capi_namespace(i) for i in range(CAPI_NAMESPACES)]},
            # The "remove 10%" scenario deletes 10% x (consumers + 2) objects on purpose.
            "cluster-inventory:maxDeletions": self.objects,
        }


def _random_b64(size: int) -> str:
    return base64.b64encode(random.randbytes(size)).decode("ascii")


def kubeconfig_secret(fleet: Fleet, index: int, generation: int = 0) -> dict[str, Any]:
    name = f"cluster-{index:05d}"
    text = KUBECONFIG_TEMPLATE.format(name=name, ca=_random_b64(1100), cert=_random_b64(1150), key=_random_b64(1700))
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
        "metadata": {"name": f"{name}-kubeconfig", "namespace": fleet.capi_namespace(index),
                     "labels": {"cluster.x-k8s.io/cluster-name": name},
                     "annotations": {"bench.cluster-inventory.io/generation": str(generation)}},
        "data": {"value": base64.b64encode(text.encode()).decode("ascii")},
    }


def inventory_manifests(fleet: Fleet) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(namespaces, everything else) of the synthetic inventory."""
    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in fleet.namespaces]
    for namespace in namespaces[-fleet.consumers:]:
        namespace["metadata"]["labels"] = {fleet.consumer_label: namespace["metadata"]["name"]}
    objects: list[dict[str, Any]] = []
    servers = fleet_workload_servers(fleet)
    for i in range(fleet.clusters):
        name, capi_namespace = f"cluster-{i:05d}", fleet.capi_namespace(i)
        if servers:
            objects.extend(granted_cluster(fleet, i, servers[i % len(servers)]))
            continue
        if fleet.cluster_manager:
            objects.extend([capi_cluster(fleet, i), kubeconfig_secret(fleet, i)])
            continue
        objects.append({
            "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": {"name": name, "namespace": capi_namespace,
                         "labels": {"clusterprofile-name": name, "clusterprofile-namespace": fleet.profile_namespace}},
            "spec": {},
        })
        objects.append(kubeconfig_secret(fleet, i))
        objects.append({
            "apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ClusterProfile",
            "metadata": {"name": name, "namespace": fleet.profile_namespace,
                         "labels": {"env": "bench", "region": f"r{i % 7}"}},
            "spec": {"displayName": f"Cluster {i}", "clusterManager": {"name": "bench"}},
            "status": {"accessProviders": [{"name": "kubeconfig-secretreader", "cluster": {
                "server": f"https://{name}.clusters.example:6443",
                "extensions": [{"name": "client.authentication.k8s.io/exec",
                                "extension": {"name": f"{name}-kubeconfig", "key": "value",
                                              "namespace": capi_namespace}}]}}]},
        })
    return namespaces, objects


def capi_cluster(fleet: Fleet, index: int) -> dict[str, Any]:
    """A v1beta2 Cluster of the cluster-manager variant, labelled for its profile, with a healthy status."""
    name = f"cluster-{index:05d}"
    conditions = [{"type": kind, "status": "True", "reason": reason, "message": "",
                   "lastTransitionTime": HEALTHY_SINCE}
                  for kind, reason in (("ControlPlaneAvailable", "Available"),
                                       ("RemoteConnectionProbe", "ProbeSucceeded"))]
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
        "metadata": {"name": name, "namespace": fleet.capi_namespace(index),
                     "labels": {"clusterprofile-name": name, "clusterprofile-namespace": fleet.profile_namespace,
                                "region": f"r{index % 7}"}},
        "spec": {"controlPlaneEndpoint": {"host": f"{name}.clusters.example", "port": 6443}},
        "status": {"phase": "Provisioned", "conditions": conditions},
    }


def fleet_workload_servers(fleet: Fleet) -> list[WorkloadServer]:
    """The workload API servers the grants variant's Clusters point at (none for the other variants)."""
    if not fleet.workloads:
        return []
    servers = running_workload_servers()[:fleet.workloads]
    if len(servers) < fleet.workloads:
        raise SystemExit(f"{fleet.workloads} workload API servers wanted, {len(servers)} running: "
                         f"`python tools/cluster.py workloads-up {fleet.workloads}`")
    return servers


def granted_cluster(fleet: Fleet, index: int, server: WorkloadServer) -> list[dict[str, Any]]:
    """A provisioned v1beta2 Cluster whose endpoint and kubeconfig Secret are ``server``'s, as
    tests/integration/workloads.py's register_capi_cluster makes them (without the owner reference)."""
    name = f"cluster-{index:05d}"
    kubeconfig = server.admin_kubeconfig(name)
    return [{
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
        "metadata": {"name": name, "namespace": fleet.capi_namespace(index),
                     "labels": {"clusterprofile-name": name, "clusterprofile-namespace": fleet.profile_namespace}},
        "spec": {"controlPlaneEndpoint": {"host": "127.0.0.1", "port": server.port}},
        "status": HEALTHY_STATUS,
    }, {
        "apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
        "metadata": {"name": f"{name}-kubeconfig", "namespace": fleet.capi_namespace(index),
                     "labels": {"cluster.x-k8s.io/cluster-name": name}},
        "data": {"value": base64.b64encode(kubeconfig.encode()).decode("ascii")},
    }]


def grant_floor_objects(fleet: Fleet, server_index: int) -> list[dict[str, Any]]:
    """What the grants of the Clusters on workload server ``server_index`` apply there, one set per
    grant as the grants apply them (the ServiceAccount named after its consumer, the ClusterRole
    with the grant's rules and its binding): the writes the API server's floor makes."""
    from inventory.stack.grants import binding_objects

    servers = fleet.workloads
    account_namespace = "cluster-inventory-grants"  # grantServiceAccountNamespace's default
    objects: list[dict[str, Any]] = []
    for _ in range(server_index, fleet.clusters, servers):
        for c in range(fleet.consumers):
            consumer = f"{fleet.prefix}-consumer-{c}"
            account = {"namespace": account_namespace, "name": consumer}
            labels = {"app.kubernetes.io/managed-by": "cluster-inventory-bench-floor"}
            objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                            "metadata": {**account, "labels": labels}})
            objects.extend(body for _, body in binding_objects(consumer, account, labels, {"rules": [GRANT_RULE]}))
    return objects


def removed_clusters(fleet: Fleet) -> list[dict[str, Any]]:
    """The Cluster, kubeconfig Secret and (unless published) ClusterProfile of every tenth cluster."""
    _, objects = inventory_manifests(fleet)
    removed = set(fleet.removed)
    return [obj for obj in objects
            if int(obj["metadata"]["name"].split("-")[1]) in removed]


def applier(mode: str, manifests: Sequence[dict[str, Any]], kubeconfig: Path = KUBECONFIG) -> dict[str, Any]:
    binary = subprocess.run(["bash", str(REPO / "tools" / "build-go-helper.sh"), "applier"], check=True,
                            capture_output=True, text=True).stdout.strip()
    done = subprocess.run([binary, "--kubeconfig", str(kubeconfig), "--mode", mode], input=json.dumps(manifests),
                          capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    if result["errors"]:
        raise SystemExit(f"applier {mode}: {result['errors']} errors, first: {result['firstError']}")
    return result


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    # os.listdir, not Path.glob: glob stats each entry, and a process that exits meanwhile raises
    # ProcessLookupError there (ESRCH, which pathlib does not ignore), ending a long bench run.
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def delete_namespaces(fleet: Fleet) -> None:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(config.new_client_from_config(str(KUBECONFIG)))
    for name in fleet.namespaces:
        try:
            core.delete_namespace(name)
        except ApiException as err:
            if err.status != 404:
                raise
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        remaining = {ns.metadata.name for ns in core.list_namespace().items} & set(fleet.namespaces)
        if not remaining:
            return
        time.sleep(1)
    raise SystemExit(f"namespaces still terminating after 120 s: {sorted(remaining)}")
