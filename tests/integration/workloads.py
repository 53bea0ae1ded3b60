"""Test support: real workload clusters, and the CAPI Clusters that point at them.

tools/cluster.py starts the workload clusters (``up --workloads N``, ``workloads-up N``): each a
kube-apiserver of its own on loopback with its own CA, admin certificate (CN kubernetes-admin,
O system:masters), service-account issuer and key (TokenRequest works), and etcd prefix
(``/workload-N``), with a kube-controller-manager of its own (garbage collector and namespace controller
only: a deleted namespace goes). This module is
the API the tests, benches and the demo use::

    from tests.integration.workloads import workload_servers, register_capi_cluster, register_unanswered_cluster

    one, two = workload_servers(2)      # starts workload-1 and workload-2 if they are not running
    one.name                            # "workload-1"
    one.server                          # "https://127.0.0.1:PORT"
    one.ca_pem                          # its CA certificate, PEM text
    one.admin_kubeconfig("prod-1")      # the kubeconfig text CAPI writes for a Cluster named prod-1
    one.api()                           # kubernetes.client.ApiClient, cluster-admin on workload-1

    capi = register_capi_cluster(mgmt_api, "capi-ns", "prod-1", one, labels={...})
    capi.kubeconfig                     # what its Secret capi-ns/prod-1-kubeconfig holds (key "value")
    dead = register_unanswered_cluster(mgmt_api, "capi-ns", "gone")          # connection refused
    mute = register_unanswered_cluster(mgmt_api, "capi-ns", "mute", silent=True)  # connects, never answers

``register_capi_cluster`` makes what Cluster API leaves on the management cluster for a running
cluster: a v1beta2 Cluster (``spec.controlPlaneEndpoint`` host and port, status ``Provisioned``
with ``ControlPlaneAvailable`` and ``RemoteConnectionProbe`` true) and its Secret
``<name>-kubeconfig`` (type ``cluster.x-k8s.io/secret``, key ``value``, label
``cluster.x-k8s.io/cluster-name``, owned by the Cluster) holding the admin kubeconfig as
sigs.k8s.io/cluster-api's ``util/kubeconfig`` writes it: cluster ``<name>``, user
``<name>-admin``, context ``<name>-admin@<name>``, the CA and client certificate embedded.
The management cluster's garbage collector deletes the Secret with its Cluster.

An unanswered cluster's server is a loopback port this process holds: bound but not listening
(connection refused at once) or, with ``silent=True``, listening but never accepting (the TCP
handshake completes and nothing more: a client waits out its own timeout). The port stays
reserved while this process runs, so no other server takes it.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from tests.integration.controlplane import REPO, tools_env

STATE = REPO / ".local" / "cluster.json"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
CAPI_SECRET_TYPE = "cluster.x-k8s.io/secret"
CAPI_GROUP, CAPI_VERSION = "cluster.x-k8s.io", "v1beta2"
# What CAPI shows for a provisioned cluster whose control plane answers (bench/fleet.py's too).
HEALTHY_SINCE = "2026-04-01T00:00:00Z"
HEALTHY_STATUS: dict[str, Any] = {"phase": "Provisioned", "conditions": [
    {"type": kind, "status": "True", "reason": reason, "message": "", "lastTransitionTime": HEALTHY_SINCE}
    for kind, reason in (("ControlPlaneAvailable", "Available"), ("RemoteConnectionProbe", "ProbeSucceeded"))]}
# Sockets that hold unanswered clusters' ports for this process's life.
_held_sockets: list[socket.socket] = []


@dataclass(frozen=True)
class WorkloadServer:
    """A running workload cluster of the test bed."""

    name: str  # workload-N
    server: str  # https://127.0.0.1:PORT
    ca_pem: str
    admin_cert_pem: str  # CN kubernetes-admin, O system:masters
    admin_key_pem: str
    etcd_prefix: str  # /workload-N
    kubeconfig_path: Path  # .local/workloads/workload-N.kubeconfig (plain admin kubeconfig)

    @property
    def port(self) -> int:
        return int(self.server.rsplit(":", 1)[1])

    def admin_kubeconfig(self, cluster_name: str) -> str:
        """The admin kubeconfig Cluster API writes for a Cluster named ``cluster_name``."""
        return capi_kubeconfig(cluster_name, self.server, self.ca_pem, self.admin_cert_pem, self.admin_key_pem)

    def api(self) -> client.ApiClient:
        """A client that is cluster-admin on this workload cluster."""
        return config.new_client_from_config(str(self.kubeconfig_path))


@dataclass(frozen=True)
class CapiCluster:
    """A CAPI Cluster on the management cluster and the kubeconfig its Secret holds."""

    namespace: str
    name: str
    server: str  # https://HOST:PORT, from spec.controlPlaneEndpoint
    kubeconfig: str  # the Secret's key "value"

    @property
    def secret_name(self) -> str:
        return f"{self.name}-kubeconfig"


def capi_kubeconfig(cluster_name: str, server: str, ca_pem: str, cert_pem: str, key_pem: str) -> str:
    """A kubeconfig in Cluster API's shape (util/kubeconfig.New, serialised by clientcmd.Write:
    YAML, keys sorted)."""
    def b64(pem: str) -> str:
        return base64.b64encode(pem.encode()).decode()

    user, context = f"{cluster_name}-admin", f"{cluster_name}-admin@{cluster_name}"
    document = {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": b64(ca_pem), "server": server}, "name": cluster_name}],
        "contexts": [{"context": {"cluster": cluster_name, "user": user}, "name": context}],
        "current-context": context,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": user, "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
    }
    return str(yaml.safe_dump(document, default_flow_style=False))


def running_workload_servers() -> list[WorkloadServer]:
    """The workload clusters tools/cluster.py recorded as started, by name (none when it is down)."""
    try:
        state = json.loads(STATE.read_text())
    except (OSError, ValueError):
        return []
    servers = []
    for entry in sorted(state.get("workloads", []), key=lambda w: int(w["name"].rsplit("-", 1)[1])):
        pki = Path(entry["pki"])
        servers.append(WorkloadServer(
            name=entry["name"], server=f"https://127.0.0.1:{entry['port']}", ca_pem=(pki / "ca.crt").read_text(),
            admin_cert_pem=(pki / "admin.crt").read_text(), admin_key_pem=(pki / "admin.key").read_text(),
            etcd_prefix=entry["etcd_prefix"], kubeconfig_path=Path(entry["kubeconfig"])))
    return servers


def workload_servers(count: int = 2) -> list[WorkloadServer]:
    """workload-1..``count``, started on the running control plane when they are not running."""
    subprocess.run([sys.executable, str(REPO / "tools" / "cluster.py"), "workloads-up", str(count)], check=True,
                   env=tools_env(), stdout=subprocess.DEVNULL)
    return running_workload_servers()[:count]


def stop_workload_servers() -> None:
    subprocess.run([sys.executable, str(REPO / "tools" / "cluster.py"), "workloads-down"], check=True,
                   env=tools_env(), stdout=subprocess.DEVNULL)


def register_capi_cluster(mgmt_api: client.ApiClient, namespace: str, name: str, workload: WorkloadServer,
                          labels: dict[str, str] | None = None,
                          status: dict[str, Any] | None = None) -> CapiCluster:
    """A provisioned CAPI Cluster ``namespace/name`` on the management cluster whose endpoint and
    kubeconfig Secret are those of ``workload``."""
    kubeconfig = workload.admin_kubeconfig(name)
    return _register(mgmt_api, namespace, name, "127.0.0.1", workload.port, kubeconfig, labels, status)


def register_unanswered_cluster(mgmt_api: client.ApiClient, namespace: str, name: str,
                                labels: dict[str, str] | None = None, status: dict[str, Any] | None = None,
                                *, silent: bool = False) -> CapiCluster:
    """A CAPI Cluster like ``register_capi_cluster``'s (status Provisioned, as CAPI still shows
    a cluster that stopped answering a moment ago) whose server is a loopback port held by this
    process: refused at once, or with ``silent`` accepted and never answered. Its kubeconfig
    carries a CA and admin certificate of its own, valid nowhere."""
    port = _held_port(listening=silent)
    server = f"https://127.0.0.1:{port}"
    ca_pem, cert_pem, key_pem = _throwaway_credentials()
    kubeconfig = capi_kubeconfig(name, server, ca_pem, cert_pem, key_pem)
    return _register(mgmt_api, namespace, name, "127.0.0.1", port, kubeconfig, labels, status)


def _register(mgmt_api: client.ApiClient, namespace: str, name: str, host: str, port: int, kubeconfig: str,
              labels: dict[str, str] | None, status: dict[str, Any] | None) -> CapiCluster:
    custom, core = client.CustomObjectsApi(mgmt_api), client.CoreV1Api(mgmt_api)
    created = custom.create_namespaced_custom_object(CAPI_GROUP, CAPI_VERSION, namespace, "clusters", {
        "apiVersion": f"{CAPI_GROUP}/{CAPI_VERSION}", "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"controlPlaneEndpoint": {"host": host, "port": port}},
    })
    custom.patch_namespaced_custom_object_status(CAPI_GROUP, CAPI_VERSION, namespace, "clusters", name,
                                                 {"status": status if status is not None else HEALTHY_STATUS})
    core.create_namespaced_secret(namespace, {
        "metadata": {"name": f"{name}-kubeconfig", "namespace": namespace, "labels": {CLUSTER_NAME_LABEL: name},
                     "ownerReferences": [{"apiVersion": f"{CAPI_GROUP}/{CAPI_VERSION}", "kind": "Cluster",
                                          "name": name, "uid": created["metadata"]["uid"]}]},
        "type": CAPI_SECRET_TYPE,
        "data": {"value": base64.b64encode(kubeconfig.encode()).decode()},
    })
    return CapiCluster(namespace, name, f"https://{host}:{port}", kubeconfig)


def _held_port(*, listening: bool) -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    if listening:
        sock.listen(16)  # never accepted: the kernel completes handshakes into the backlog, nothing answers
    _held_sockets.append(sock)
    return int(sock.getsockname()[1])


def _throwaway_credentials() -> tuple[str, str, str]:
    """(CA, client certificate, client key) PEM, made with openssl for an unanswered cluster."""
    with tempfile.TemporaryDirectory() as tmp:
        pki = Path(tmp)

        def run(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=pki, check=True, capture_output=True)

        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-keyout", "ca.key", "-out", "ca.crt",
            "-subj", "/CN=cluster-inventory-unanswered-ca")
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "admin.key", "-out", "admin.csr",
            "-subj", "/O=system:masters/CN=kubernetes-admin")
        run("x509", "-req", "-in", "admin.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "30", "-out", "admin.crt")
        return tuple((pki / name).read_text() for name in ("ca.crt", "admin.crt", "admin.key"))  # type: ignore[return-value]
