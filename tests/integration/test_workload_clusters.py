"""The test bed's workload clusters (tools/cluster.py --workloads, tests/integration/workloads.py):
separate API servers, reached through the admin kubeconfig Cluster API keeps for each, each
minting service-account tokens that only it accepts; and a CAPI Cluster whose server never answers."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.integration.controlplane import KUBECONFIG, ControlPlane
from tests.integration.workloads import (
    CAPI_SECRET_TYPE,
    CLUSTER_NAME_LABEL,
    CapiCluster,
    WorkloadServer,
    register_capi_cluster,
    register_unanswered_cluster,
)

TIMEOUT_S = 2.0  # the client's connect and read timeout towards an unanswered cluster


def _marker() -> str:
    return f"marker-{uuid.uuid4().hex[:8]}"


def _secret_kubeconfig(control_plane: ControlPlane, capi: CapiCluster) -> tuple[Any, dict[str, Any]]:
    """The Secret Cluster API keeps for ``capi`` on the management cluster, and its kubeconfig parsed."""
    secret = client.CoreV1Api(control_plane.api).read_namespaced_secret(capi.secret_name, capi.namespace)
    return secret, yaml.safe_load(base64.b64decode(secret.data["value"]))


def _client(kubeconfig: dict[str, Any], timeout: float | None = None) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config_from_dict(kubeconfig, client_configuration=configuration)
    if timeout is not None:
        configuration.retries = False  # one attempt: the time measured is the timeout's
    return client.ApiClient(configuration)


def _token_client(server: str, ca_pem: str, token: str, ca_dir: Path) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = server
    ca_file = ca_dir / f"ca-{uuid.uuid4().hex[:6]}.crt"
    ca_file.write_text(ca_pem)
    configuration.ssl_ca_cert = str(ca_file)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def _whoami(api: client.ApiClient, timeout: float | None = None) -> Any:
    review = client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview")
    kwargs = {"_request_timeout": (timeout, timeout)} if timeout else {}
    return client.AuthenticationV1Api(api).create_self_subject_review(review, **kwargs).status.user_info


@pytest.fixture(scope="module")
def capi_namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = control_plane.new_namespace("capi-workloads")
    yield name
    control_plane.delete_namespace(name)


@pytest.fixture(scope="module")
def registered(control_plane: ControlPlane, workloads: list[WorkloadServer],
               capi_namespace: str) -> dict[str, CapiCluster]:
    one, two = workloads
    return {
        "one": register_capi_cluster(control_plane.api, capi_namespace, "one", one, labels={"env": "test"}),
        "two": register_capi_cluster(control_plane.api, capi_namespace, "two", two, labels={"env": "test"}),
        "gone": register_unanswered_cluster(control_plane.api, capi_namespace, "gone"),
        "mute": register_unanswered_cluster(control_plane.api, capi_namespace, "mute", silent=True),
    }


def test_each_workload_cluster_has_its_own_ca_and_storage(workloads: list[WorkloadServer]) -> None:
    one, two = workloads
    assert one.ca_pem != two.ca_pem
    assert (one.etcd_prefix, two.etcd_prefix) == ("/workload-1", "/workload-2")
    assert len({one.server, two.server, config.new_client_from_config(str(KUBECONFIG)).configuration.host}) == 3


def test_an_object_made_on_one_workload_cluster_is_on_no_other_cluster(
        control_plane: ControlPlane, workloads: list[WorkloadServer]) -> None:
    one, two = workloads
    name = _marker()
    client.CoreV1Api(one.api()).create_namespaced_config_map("default", {"metadata": {"name": name}})
    assert client.CoreV1Api(one.api()).read_namespaced_config_map(name, "default").metadata.name == name
    for other in (two.api(), control_plane.api):
        with pytest.raises(ApiException) as absent:
            client.CoreV1Api(other).read_namespaced_config_map(name, "default")
        assert absent.value.status == 404


def test_the_capi_secret_is_the_one_cluster_api_writes(control_plane: ControlPlane,
                                                       registered: dict[str, CapiCluster]) -> None:
    capi = registered["one"]
    secret, kubeconfig = _secret_kubeconfig(control_plane, capi)
    assert secret.type == CAPI_SECRET_TYPE
    assert secret.metadata.labels == {CLUSTER_NAME_LABEL: "one"}
    owner = secret.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.api_version) == ("Cluster", "one", "cluster.x-k8s.io/v1beta2")
    assert set(secret.data) == {"value"}
    assert [c["name"] for c in kubeconfig["clusters"]] == ["one"]
    assert [u["name"] for u in kubeconfig["users"]] == ["one-admin"]
    assert kubeconfig["current-context"] == "one-admin@one"
    assert kubeconfig["contexts"] == [{"name": "one-admin@one", "context": {"cluster": "one", "user": "one-admin"}}]


def test_the_capi_cluster_points_at_its_workload_server(control_plane: ControlPlane, workloads: list[WorkloadServer],
                                                        registered: dict[str, CapiCluster]) -> None:
    capi = registered["one"]
    cluster = client.CustomObjectsApi(control_plane.api).get_namespaced_custom_object(
        "cluster.x-k8s.io", "v1beta2", capi.namespace, "clusters", capi.name)
    endpoint = cluster["spec"]["controlPlaneEndpoint"]
    assert f"https://{endpoint['host']}:{endpoint['port']}" == workloads[0].server == capi.server
    assert cluster["status"]["phase"] == "Provisioned"


def test_each_admin_kubeconfig_from_its_capi_secret_is_cluster_admin_on_its_own_cluster(
        control_plane: ControlPlane, workloads: list[WorkloadServer], registered: dict[str, CapiCluster]) -> None:
    name = _marker()
    client.CoreV1Api(workloads[0].api()).create_namespaced_config_map("default", {"metadata": {"name": name}})
    for key, server in (("one", workloads[0]), ("two", workloads[1])):
        _, kubeconfig = _secret_kubeconfig(control_plane, registered[key])
        api = _client(kubeconfig)
        assert api.configuration.host == server.server
        user = _whoami(api)
        assert user.username == "kubernetes-admin"
        assert "system:masters" in user.groups
        names = {cm.metadata.name for cm in client.CoreV1Api(api).list_namespaced_config_map("default").items}
        assert (name in names) == (key == "one")


def test_a_workload_admin_kubeconfig_does_not_trust_another_workload_server(
        control_plane: ControlPlane, workloads: list[WorkloadServer], registered: dict[str, CapiCluster]) -> None:
    _, kubeconfig = _secret_kubeconfig(control_plane, registered["one"])
    kubeconfig["clusters"][0]["cluster"]["server"] = workloads[1].server
    with pytest.raises(ApiException, match="CERTIFICATE_VERIFY_FAILED"):
        _whoami(_client(kubeconfig, timeout=TIMEOUT_S), timeout=TIMEOUT_S)


def test_a_service_account_token_from_one_workload_cluster_authenticates_only_there(
        workloads: list[WorkloadServer], tmp_path: Path) -> None:
    one, two = workloads
    account = f"consumer-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(one.api())
    core.create_namespaced_service_account("default", {"metadata": {"name": account}})
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    status = core.create_namespaced_service_account_token(account, "default", request).status
    assert status.expiration_timestamp is not None
    user = _whoami(_token_client(one.server, one.ca_pem, status.token, tmp_path))
    assert user.username == f"system:serviceaccount:default:{account}"
    mgmt = config.new_client_from_config(str(KUBECONFIG)).configuration
    mgmt_ca = Path(mgmt.ssl_ca_cert).read_text()
    for server, ca_pem in ((two.server, two.ca_pem), (mgmt.host, mgmt_ca)):
        with pytest.raises(ApiException) as refused:
            _whoami(_token_client(server, ca_pem, status.token, tmp_path))
        assert refused.value.status == 401, server


def test_an_unanswered_cluster_refuses_the_connection_at_once(
        control_plane: ControlPlane, registered: dict[str, CapiCluster]) -> None:
    _, kubeconfig = _secret_kubeconfig(control_plane, registered["gone"])
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError, match="Connection refused"):
        _whoami(_client(kubeconfig, timeout=TIMEOUT_S), timeout=TIMEOUT_S)
    assert time.monotonic() - started < TIMEOUT_S


def test_a_silent_cluster_fails_when_the_clients_timeout_runs_out(
        control_plane: ControlPlane, registered: dict[str, CapiCluster]) -> None:
    _, kubeconfig = _secret_kubeconfig(control_plane, registered["mute"])
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError, match="timed out"):
        _whoami(_client(kubeconfig, timeout=TIMEOUT_S), timeout=TIMEOUT_S)
    assert TIMEOUT_S <= time.monotonic() - started < TIMEOUT_S + 1
