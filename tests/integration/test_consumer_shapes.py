"""SPEC §3 D on the real local cluster with the real CLI: the Secrets read back by each consumer's own rule.

multicluster-runtime (``kubeconfigstrategy/secret.go``): in the ClusterProfile's namespace,
list Secrets labelled with the consumer and the profile, exactly one, data key ``Config``,
a kubeconfig. Argo CD (declarative setup): Secrets labelled
``argocd.argoproj.io/secret-type: cluster`` in Argo CD's namespace, ``name``, ``server`` and
``config`` JSON of the documented fields. Every credential read back is used for a real
request to the local API server, which says who it authenticated (SelfSubjectReview).

The four inventory clusters are the local API server reached four ways, so Argo CD can
tell them apart by server: ``127.0.0.1`` (ServiceAccount token + CA), ``localhost`` with
``tls-server-name`` (the admin client certificate + CA), ``kubernetes.default.svc`` through
an HTTP CONNECT proxy (``proxy-url``, token + CA), and a TCP relay on another port (token,
``insecure-skip-tls-verify``, through a ClusterProfile's kubeconfig-secretreader).
The steps share one stack and run in file order.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from tests.integration.controlplane import REPO, ControlPlane
from tests.integration.inventory_objects import PROFILES, Inventory, secret_reader_provider
from tests.integration.project import ProjectStack
from tests.seed_routes import SEED_ROUTES_CONFIG

CONSUMER_LABEL = "x-k8s.io/cluster-inventory-consumer"
PROFILE_LABEL = "x-k8s.io/cluster-profile"
ARGOCD_SECRET_TYPE = "argocd.argoproj.io/secret-type"
ADMIN_USER = "cluster-inventory-admin"  # the CN tools/cluster.py gives the admin certificate

# Argo CD's cluster Secret, as operator-manual/declarative-setup.md documents it: data keys,
# and the `config` JSON's fields with their types. Nothing else may appear.
ARGOCD_DATA_KEYS = {"name", "server", "config", "namespaces", "clusterResources", "project"}
ARGOCD_CONFIG_FIELDS: dict[str, Any] = {
    "username": str, "password": str, "bearerToken": str,
    "awsAuthConfig": {"clusterName": str, "roleARN": str, "profile": str},
    "execProviderConfig": {"command": str, "args": list, "env": dict, "apiVersion": str, "installHint": str},
    "proxyUrl": str,
    "tlsClientConfig": {"caData": str, "certData": str, "insecure": bool, "keyData": str, "serverName": str},
    "disableCompression": bool,
}


def documented_config_problems(value: Any, schema: dict[str, Any], path: str = "config") -> list[str]:
    if not isinstance(value, dict):
        return [f"{path} is not an object"]
    problems = []
    for key, item in value.items():
        expected = schema.get(key)
        if expected is None:
            problems.append(f"{path}.{key} is not a documented field")
        elif isinstance(expected, dict):
            problems.extend(documented_config_problems(item, expected, f"{path}.{key}"))
        elif not isinstance(item, expected):
            problems.append(f"{path}.{key} is not a {expected.__name__}")
    return problems


class Relay:
    """A TCP relay from a free local port to the API server: one more address for the same server."""

    def __init__(self, target_port: int) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._target = ("127.0.0.1", target_port)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._listener.close()


class ConnectProxy(Relay):
    """An HTTP CONNECT proxy that takes every host to the API server, and remembers what it was asked."""

    def __init__(self, target_port: int) -> None:
        self.requests: list[str] = []
        super().__init__(target_port)

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(downstream,), daemon=True).start()

    def _tunnel(self, downstream: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = downstream.recv(4096)
            if not chunk:
                return
            request += chunk
        self.requests.append(request.split(b"\r\n", 1)[0].decode())
        upstream = socket.create_connection(self._target)
        downstream.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for source, sink in ((downstream, upstream), (upstream, downstream)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()


@dataclass
class World:
    run_id: str
    stack: ProjectStack
    inventory: Inventory
    names: dict[str, str]
    config: dict[str, object]
    usernames: dict[str, str]  # inventory cluster -> the user its credentials authenticate as
    proxy: ConnectProxy
    credentials: list[str] = field(default_factory=list)  # texts that must never be in the state

    @property
    def managed(self) -> str:
        return f"app.kubernetes.io/managed-by=ci-{self.run_id}"

    def render(self, tmp: Path) -> set[str]:
        config_file = tmp / "config.yaml"
        config_file.write_text(yaml.safe_dump({**SEED_ROUTES_CONFIG, **self.config}))  # as ProjectStack starts
        result = subprocess.run(
            [sys.executable, "-m", "inventory", "render", "--kubeconfig", str(REPO / ".local" / "kubeconfig"),
             "--config", str(config_file), "-o", "json"],
            cwd=REPO, capture_output=True, text=True, check=True)
        return {f"{o['kind']}/{o['metadata']['namespace']}/{o['metadata']['name']}"
                for o in json.loads(result.stdout)["items"]}


def whoami(api: client.ApiClient) -> str:
    """The user the API server authenticated this client's credentials as."""
    review = client.AuthenticationV1Api(api).create_self_subject_review({"apiVersion": "authentication.k8s.io/v1",
                                                                          "kind": "SelfSubjectReview"})
    return str(review.status.user_info.username)


def kubeconfig(server: str, user: dict[str, Any], ca: str | None, **cluster: Any) -> str:
    body = {"server": server, **cluster}
    if ca:
        body["certificate-authority-data"] = ca
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": body}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    })


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    names = {"capi": f"capi-{run_id}", "fleet": f"fleet-{run_id}", "argocd": f"argocd-{run_id}",
             "label": f"consumer-{run_id}", "consumer": f"kueue-{run_id}", "team": f"team-{run_id}",
             "unnamed": f"unnamed-{run_id}"}
    for ns in (names["capi"], names["fleet"], names["argocd"]):
        inv.namespace(ns)
    inv.namespace(names["team"], {names["label"]: names["consumer"]})
    inv.namespace(names["unnamed"], {names["label"]: ""})

    admin = json.loads(control_plane.kubeconfig.read_text())
    admin_cluster, admin_user = admin["clusters"][0]["cluster"], admin["users"][0]["user"]
    port = int(admin_cluster["server"].rsplit(":", 1)[1])
    ca = admin_cluster["certificate-authority-data"]
    inv.core.create_namespaced_service_account(names["fleet"], {"metadata": {"name": "reader"}})
    token = inv.core.create_namespaced_service_account_token(
        "reader", names["fleet"], {"spec": {"expirationSeconds": 3600}}).status.token
    relay, proxy = Relay(port), ConnectProxy(port)
    kubeconfigs = {
        "alpha": kubeconfig(f"https://127.0.0.1:{port}", {"token": token}, ca),
        "beta": kubeconfig(f"https://localhost:{port}", admin_user, ca, **{"tls-server-name": "kubernetes.default.svc"}),
        "gamma": kubeconfig(f"https://127.0.0.1:{relay.port}", {"token": token}, None,
                            **{"insecure-skip-tls-verify": True}),
        "delta": kubeconfig(f"https://kubernetes.default.svc:{port}", {"token": token}, ca,
                            **{"proxy-url": f"http://127.0.0.1:{proxy.port}"}),
    }
    reader = f"system:serviceaccount:{names['fleet']}:reader"
    labels = {"clusterprofile-namespace": names["fleet"], "env": "prod", "team": "a"}
    inv.capi_cluster(names["capi"], "alpha", {"clusterprofile-name": "alpha", **labels}, kubeconfigs["alpha"])
    inv.capi_cluster(names["capi"], "beta", {"clusterprofile-name": "beta", **labels}, kubeconfigs["beta"])
    inv.capi_cluster(names["capi"], "delta", {"clusterprofile-name": "delta", **labels}, kubeconfigs["delta"])
    inv.secret(names["fleet"], "gamma-source", {"kubeconfig": kubeconfigs["gamma"]})
    inv.cluster_profile(names["fleet"], "gamma", [secret_reader_provider(f"https://127.0.0.1:{relay.port}",
                                                                         "gamma-source", "kubeconfig")],
                        labels={"env": "staging"})
    settings: dict[str, object] = {
        **SEED_ROUTES_CONFIG,
        "kubeconfig": str(control_plane.kubeconfig),
        "capiNamespaces": [names["capi"]],
        "profileNamespaces": [names["fleet"]],
        "consumerNamespaceLabel": names["label"],
        "managedByValue": f"ci-{run_id}",
        "scheduleIntervalMinutes": 0,
        "sveltosMode": "off",
        "pushLayout": "multicluster-runtime",
        "argocdMode": "direct",
        "argocdSources": ["clusters", "profiles"],
        "argocdNamespace": names["argocd"],
        "argocdLabels": ["env"],
    }
    tmp = tmp_path_factory.mktemp("consumers")
    stack = ProjectStack(tmp / "project")
    stack.configure(**settings)
    secrets = [token, *kubeconfigs.values(), *(base64.b64encode(k.encode()).decode() for k in kubeconfigs.values()),
               admin_user["client-key-data"]]
    yield World(run_id, stack, inv, names, settings,
                {"alpha": reader, "beta": ADMIN_USER, "gamma": reader, "delta": reader}, proxy, secrets)
    stack.destroy()
    relay.close()
    proxy.close()
    for ns in names.values():
        if not ns.startswith(("consumer-", "kueue-")):
            control_plane.delete_namespace(ns)


def _mcr_kubeconfig(world: World, profile: str) -> dict[str, Any]:
    """multicluster-runtime's GetKubeConfig, step by step."""
    secrets = world.inventory.core.list_namespaced_secret(
        world.names["fleet"],
        label_selector=f"{CONSUMER_LABEL}={world.names['consumer']},{PROFILE_LABEL}={profile}").items
    assert len(secrets) == 1, f"multicluster-runtime wants exactly one Secret, found {len(secrets)}"
    assert "Config" in secrets[0].data
    loaded: dict[str, Any] = yaml.safe_load(base64.b64decode(secrets[0].data["Config"]))
    return loaded


def _argocd_clusters(world: World) -> dict[str, dict[str, str]]:
    """Argo CD's view: every cluster Secret in its namespace, by cluster name."""
    secrets = world.inventory.core.list_namespaced_secret(
        world.names["argocd"], label_selector=f"{ARGOCD_SECRET_TYPE}=cluster").items
    clusters = {}
    for secret in secrets:
        data = {key: base64.b64decode(value).decode() for key, value in secret.data.items()}
        clusters[data["name"]] = {**data, "labels": json.dumps(secret.metadata.labels)}
    return clusters


def _argocd_client(server: str, cluster_config: dict[str, Any], tmp: Path) -> client.ApiClient:
    """A client configured from Argo CD's fields only, as Argo CD builds its rest.Config."""
    configuration = client.Configuration()
    configuration.host = server
    tls = cluster_config["tlsClientConfig"]
    configuration.verify_ssl = not tls["insecure"]
    for key, attribute in (("caData", "ssl_ca_cert"), ("certData", "cert_file"), ("keyData", "key_file")):
        if key in tls:
            path = tmp / key
            path.write_bytes(base64.b64decode(tls[key]))
            setattr(configuration, attribute, str(path))
    if "serverName" in tls:
        configuration.tls_server_name = tls["serverName"]
    if "proxyUrl" in cluster_config:
        configuration.proxy = cluster_config["proxyUrl"]
    if "bearerToken" in cluster_config:
        configuration.api_key = {"authorization": f"Bearer {cluster_config['bearerToken']}"}
    return client.ApiClient(configuration)


def test_the_first_run_over_a_peers_argocd_cluster_secret_skips_it_and_says_how_to_adopt(world: World) -> None:
    # What capi2argo-cluster-operator would have left for Cluster alpha, under the name the template gives.
    name = f"capi-{world.names['capi']}-alpha"
    world.inventory.secret(world.names["argocd"], name, {"name": "alpha", "server": "https://old", "config": "{}"},
                           labels={ARGOCD_SECRET_TYPE: "cluster", "capi-to-argocd/owned": "true"})
    world.stack.up()
    skipped = "\n".join(world.stack.stack.outputs()["skipped"].value)
    assert f"Secret {world.names['argocd']}/{name} not declared: the name is taken" in skipped
    assert "adoptExisting true" in skipped
    peer = world.inventory.core.read_namespaced_secret(name, world.names["argocd"])
    assert base64.b64decode(peer.data["server"]) == b"https://old"
    world.stack.configure(adoptExisting=True)


def test_up_creates_exactly_what_render_prints(world: World, tmp_path: Path) -> None:
    expected = world.render(tmp_path)
    world.stack.up()
    assert world.stack.managed_resources() == expected
    fleet, argocd = world.names["fleet"], world.names["argocd"]
    consumer, capi = world.names["consumer"], world.names["capi"]
    assert expected == {
        *(f"Secret/{fleet}/{consumer}-{name}-kubeconfig" for name in ("alpha", "beta", "delta")),
        *(f"Secret/{argocd}/capi-{capi}-{name}" for name in ("alpha", "beta", "delta")),
        f"Secret/{argocd}/profile-{fleet}-gamma",
    }
    world.stack.configure(adoptExisting=None)


def test_adopted_secret_is_now_managed_and_holds_the_new_credentials(world: World) -> None:
    secret = world.inventory.core.read_namespaced_secret(f"capi-{world.names['capi']}-alpha", world.names["argocd"])
    assert secret.metadata.labels["app.kubernetes.io/managed-by"] == f"ci-{world.run_id}"
    assert base64.b64decode(secret.data["server"]).decode().startswith("https://127.0.0.1:")


@pytest.mark.parametrize("profile", ["alpha", "beta", "delta"])
def test_multicluster_runtime_finds_one_secret_whose_config_authenticates(world: World, profile: str) -> None:
    api = config.new_client_from_config_dict(_mcr_kubeconfig(world, profile))
    assert whoami(api) == world.usernames[profile]


def test_proxy_url_survives_into_both_shapes_and_is_used(world: World) -> None:
    mcr = _mcr_kubeconfig(world, "delta")
    assert mcr["clusters"][0]["cluster"]["proxy-url"] == f"http://127.0.0.1:{world.proxy.port}"
    argocd = json.loads(_argocd_clusters(world)[f"{world.names['capi']}-delta"]["config"])
    assert argocd["proxyUrl"] == f"http://127.0.0.1:{world.proxy.port}"
    assert any(r.startswith("CONNECT kubernetes.default.svc:") for r in world.proxy.requests)


def test_consumer_namespace_without_a_name_is_reported_in_the_outputs(world: World) -> None:
    skipped = world.stack.stack.outputs()["skipped"].value
    assert any(f"Namespace {world.names['unnamed']}: skipped: label {world.names['label']} has an empty value"
               in line for line in skipped)


def test_argocd_cluster_secrets_hold_only_documented_fields(world: World) -> None:
    clusters = _argocd_clusters(world)
    assert set(clusters) == {f"{world.names['capi']}-alpha", f"{world.names['capi']}-beta",
                             f"{world.names['capi']}-delta", f"{world.names['fleet']}-gamma"}
    for data in clusters.values():
        assert set(data) - {"labels"} <= ARGOCD_DATA_KEYS
        assert documented_config_problems(json.loads(data["config"]), ARGOCD_CONFIG_FIELDS) == []
    labels = json.loads(clusters[f"{world.names['capi']}-alpha"]["labels"])
    assert labels["env"] == "prod" and "team" not in labels  # only the allow-listed label is carried


# gamma's kubeconfig says insecure-skip-tls-verify: the request is unverified on purpose.
@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
@pytest.mark.parametrize(("cluster", "source"),
                         [("alpha", "capi"), ("beta", "capi"), ("gamma", "fleet"), ("delta", "capi")])
def test_argocd_cluster_config_authenticates_to_the_api_server(world: World, cluster: str, source: str) -> None:
    data = _argocd_clusters(world)[f"{world.names[source]}-{cluster}"]
    with tempfile.TemporaryDirectory() as tmp:
        api = _argocd_client(data["server"], json.loads(data["config"]), Path(tmp))
        assert whoami(api) == world.usernames[cluster]


def test_no_credential_appears_in_the_state_or_outputs(world: World) -> None:
    state = world.stack.state_text()
    outputs = json.dumps({k: v.value for k, v in world.stack.stack.outputs().items()})
    printed = "\n".join(world.stack.output)
    # Each Argo CD config as the base64 a Secret's data would hold in plaintext state.
    written = [world.inventory.core.read_namespaced_secret(f"capi-{world.names['capi']}-{name}",
                                                           world.names["argocd"]).data["config"]
               for name in ("alpha", "beta")]
    for needle in [*world.credentials, *written]:
        for text, where in ((state, "stack export"), (outputs, "stack outputs"), (printed, "CLI output")):
            assert needle not in text, f"credential {needle[:12]}... in {where}"


def test_deleted_cluster_profile_loses_its_argocd_secret(world: World) -> None:
    group, version, plural = PROFILES
    world.inventory.custom.delete_namespaced_custom_object(group, version, world.names["fleet"], plural, "gamma")
    world.stack.up()
    assert set(_argocd_clusters(world)) == {f"{world.names['capi']}-{name}" for name in ("alpha", "beta", "delta")}


def test_turning_argocd_off_counts_against_the_deletion_cap(world: World) -> None:
    world.stack.configure(argocdMode="off", maxDeletions=2)
    world.stack.up()  # the three come from one namespace's Clusters: held back, the run goes ahead
    assert world.stack.stack.outputs()["heldBackDeletions"].value == {world.names["capi"]: 3}
    assert len(_argocd_clusters(world)) == 3  # nothing was deleted
    world.stack.configure(argocdMode="direct", maxDeletions=None)
