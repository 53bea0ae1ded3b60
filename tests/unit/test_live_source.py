"""The live source against a stand-in API server: bounded, paginated reads; loud failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from inventory.settings import Mode, Settings
from inventory.sources import InventoryReadError, live
from inventory.sources.files import read_directory
from inventory.sources.live import read_cluster
from tests.unit.fake_apiserver import FakeApiServer, serving
from tests.unit.inventory_support import FIXTURES, seeded


def fixture_documents(name: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((FIXTURES / name).rglob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    server.add(*fixture_documents("basic"))
    with serving(server) as running:
        yield running


def settings_for(api: FakeApiServer, tmp_path: Path, **overrides: Any) -> Settings:
    return seeded(kubeconfig=str(api.kubeconfig(tmp_path)), **overrides)


def same_objects_as_files(api: FakeApiServer, tmp_path: Path) -> Path:
    """The stand-in's objects as manifests, Clusters at the version the server serves."""
    directory = tmp_path / "manifests"
    directory.mkdir()
    served = api.groups["cluster.x-k8s.io"][0]
    docs = []
    for obj in api.objects:
        if obj["kind"] == "Cluster":
            obj = {**obj, "apiVersion": f"cluster.x-k8s.io/{served}"}
        docs.append(obj)
    (directory / "all.yaml").write_text(yaml.safe_dump_all(docs))
    return directory


def test_live_and_directory_sources_give_the_same_inventory(api: FakeApiServer, tmp_path: Path) -> None:
    settings = settings_for(api, tmp_path)
    from_cluster = read_cluster(settings)
    assert from_cluster == read_directory(same_objects_as_files(api, tmp_path), settings)
    assert len(from_cluster.clusters) == 2 and len(from_cluster.profiles) == 2 and len(from_cluster.secrets) == 3


def test_terminating_namespace_is_read_as_terminating(api: FakeApiServer, tmp_path: Path) -> None:
    api.add({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "going",
            "labels": {"x-k8s.io/cluster-inventory-consumer": "true"},
            "deletionTimestamp": "2025-03-01T12:00:00Z",
        },
        "status": {"phase": "Terminating"},
    })
    inventory = read_cluster(settings_for(api, tmp_path))
    assert [(n.name, n.terminating) for n in inventory.namespaces] == [
        ("fleet-east", False), ("going", True), ("team-a", False), ("team-b", False)
    ]


def test_lists_are_paginated(api: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "PAGE_SIZE", 1)
    inventory = read_cluster(settings_for(api, tmp_path))
    assert [n.name for n in inventory.namespaces] == ["fleet-east", "team-a", "team-b"]
    namespace_requests = [r for r in api.requests if r.startswith("/api/v1/namespaces?")]
    assert namespace_requests == [
        "/api/v1/namespaces?limit=1",
        "/api/v1/namespaces?continue=1&limit=1",
        "/api/v1/namespaces?continue=2&limit=1",
    ]


def test_reads_are_bounded_by_label_selectors(api: FakeApiServer, tmp_path: Path) -> None:
    read_cluster(settings_for(api, tmp_path))
    assert "/apis/cluster.x-k8s.io/v1beta1/clusters?labelSelector=clusterprofile-name&limit=500" in api.requests
    assert "/api/v1/secrets?labelSelector=cluster.x-k8s.io/cluster-name&limit=500" in api.requests
    assert (
        "/api/v1/secrets?labelSelector=x-k8s.io/cluster-profile,app.kubernetes.io/managed-by!=cluster-inventory"
        "&limit=500"
    ) in api.requests
    assert (
        "/api/v1/secrets?labelSelector=app.kubernetes.io/managed-by=cluster-inventory,!x-k8s.io/cluster-profile"
        "&limit=500"
    ) in api.requests
    assert not any(r.startswith("/api/v1/secrets?limit") for r in api.requests), "never lists every Secret"


def test_secrets_named_by_a_secretreader_are_fetched_by_name(api: FakeApiServer, tmp_path: Path) -> None:
    api.objects = [o for o in api.objects if o["kind"] != "Cluster"]  # the CAPI Secret is not listed by label then
    inventory = read_cluster(settings_for(api, tmp_path, push_mode=Mode.OFF))
    assert "/api/v1/namespaces/mgmt/secrets/prod-1-kubeconfig" in api.requests
    assert [s.name for s in inventory.secrets] == ["edge-1-credentials", "prod-1-kubeconfig"]


def test_missing_referenced_secret_is_left_to_planning(api: FakeApiServer, tmp_path: Path) -> None:
    api.objects = [o for o in api.objects if o["metadata"]["name"] != "prod-1-kubeconfig"]
    inventory = read_cluster(settings_for(api, tmp_path, push_mode=Mode.OFF))
    assert [s.name for s in inventory.secrets] == ["edge-1-credentials"]


def test_configured_namespaces_are_listed_one_by_one(api: FakeApiServer, tmp_path: Path) -> None:
    inventory = read_cluster(settings_for(api, tmp_path, capi_namespaces=("mgmt",), profile_namespaces=("fleet",)))
    assert (
        "/apis/cluster.x-k8s.io/v1beta1/namespaces/mgmt/clusters?labelSelector=clusterprofile-name&limit=500"
        in api.requests
    )
    assert "/apis/multicluster.x-k8s.io/v1alpha1/namespaces/fleet/clusterprofiles?limit=500" in api.requests
    assert len(inventory.clusters) == 2 and len(inventory.profiles) == 2


def test_capi_v1beta2_is_read_where_served(api: FakeApiServer, tmp_path: Path) -> None:
    api.groups["cluster.x-k8s.io"] = ["v1beta2", "v1beta1"]
    inventory = read_cluster(settings_for(api, tmp_path))
    assert {c.api_version for c in inventory.clusters} == {"cluster.x-k8s.io/v1beta2"}


def test_capi_v1beta1_is_read_where_v1beta2_is_not_served(api: FakeApiServer, tmp_path: Path) -> None:
    inventory = read_cluster(settings_for(api, tmp_path))
    assert {c.api_version for c in inventory.clusters} == {"cluster.x-k8s.io/v1beta1"}


def test_capi_not_installed_is_an_error_not_an_empty_list(api: FakeApiServer, tmp_path: Path) -> None:
    del api.groups["cluster.x-k8s.io"]
    with pytest.raises(
        InventoryReadError, match="API group cluster.x-k8s.io is not served .*set pushMode to events or off"
    ):
        read_cluster(settings_for(api, tmp_path))


def test_capi_not_needed_when_push_mode_is_not_direct(api: FakeApiServer, tmp_path: Path) -> None:
    del api.groups["cluster.x-k8s.io"]
    inventory = read_cluster(settings_for(api, tmp_path, push_mode=Mode.EVENTS))
    assert inventory.clusters == () and len(inventory.profiles) == 2


def test_cluster_profile_crd_absent_is_an_error(api: FakeApiServer, tmp_path: Path) -> None:
    api.failures["/apis/multicluster.x-k8s.io"] = (404, "the server could not find the requested resource")
    with pytest.raises(InventoryReadError) as error:
        read_cluster(settings_for(api, tmp_path))
    message = str(error.value)
    assert message.startswith("list ClusterProfile (clusterprofiles.multicluster.x-k8s.io/v1alpha1) in all namespaces")
    assert "HTTP 404 not found" in message and "the ClusterProfile CRD" in message and "is not installed" in message


def test_forbidden_read_is_an_error_naming_the_read_and_the_permission(api: FakeApiServer, tmp_path: Path) -> None:
    api.failures["/api/v1/secrets"] = (403, 'secrets is forbidden: User "ci" cannot list resource "secrets"')
    with pytest.raises(InventoryReadError) as error:
        read_cluster(settings_for(api, tmp_path))
    message = str(error.value)
    assert message.startswith(
        "list Secrets labelled 'cluster.x-k8s.io/cluster-name' in all namespaces on http://127.0.0.1"
    )
    assert 'HTTP 403 forbidden (secrets is forbidden: User "ci" cannot list resource "secrets")' in message
    assert message.endswith("grant this identity RBAC to list secrets")


def test_forbidden_referenced_secret_skips_only_the_profiles_naming_it(api: FakeApiServer, tmp_path: Path) -> None:
    """A Secret a ClusterProfile names is a tenant's request: a 403 on it costs that profile, not the run."""
    api.objects = [o for o in api.objects if o["kind"] != "Cluster"]
    api.failures["/api/v1/namespaces/mgmt/secrets/prod-1-kubeconfig"] = (
        403, 'secrets "prod-1-kubeconfig" is forbidden: User "ci" cannot get resource "secrets" in the namespace "mgmt"')
    inventory = read_cluster(settings_for(api, tmp_path, push_mode=Mode.OFF))
    assert [p.name for p in inventory.profiles] == ["edge-1"]
    [diagnostic] = inventory.diagnostics
    assert str(diagnostic) == (
        "warning: ClusterProfile fleet/prod-1: skipped: kubeconfig-secretreader: source Secret mgmt/prod-1-kubeconfig "
        'could not be read: HTTP 403 forbidden (secrets "prod-1-kubeconfig" is forbidden: User "ci" cannot get '
        'resource "secrets" in the namespace "mgmt"): grant this identity RBAC to get secrets in namespace mgmt, or '
        "point the profile at a Secret it may read")


def test_a_failed_get_of_a_referenced_secret_other_than_403_or_404_still_stops_the_run(
    api: FakeApiServer, tmp_path: Path
) -> None:
    api.objects = [o for o in api.objects if o["kind"] != "Cluster"]
    api.failures["/api/v1/namespaces/mgmt/secrets/prod-1-kubeconfig"] = (500, "etcd is down")
    with pytest.raises(InventoryReadError, match="get Secret mgmt/prod-1-kubeconfig .* HTTP 500"):
        read_cluster(settings_for(api, tmp_path, push_mode=Mode.OFF))


def test_unauthorized_is_an_error(api: FakeApiServer, tmp_path: Path) -> None:
    api.failures["/api"] = (401, "Unauthorized")
    with pytest.raises(InventoryReadError, match="unauthorized .* the kubeconfig's credentials were rejected"):
        read_cluster(settings_for(api, tmp_path))


def test_unreachable_api_server_is_an_error(api: FakeApiServer, tmp_path: Path) -> None:
    kubeconfig = api.kubeconfig_content()
    kubeconfig["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(InventoryReadError, match="cannot reach the API server at http://127.0.0.1:9"):
        read_cluster(seeded(kubeconfig=yaml.safe_dump(kubeconfig)))


def test_kubeconfig_content_is_accepted_instead_of_a_path(api: FakeApiServer, tmp_path: Path) -> None:
    by_content = read_cluster(seeded(kubeconfig=yaml.safe_dump(api.kubeconfig_content())))
    assert by_content == read_cluster(settings_for(api, tmp_path))


def test_context_is_selected(api: FakeApiServer, tmp_path: Path) -> None:
    kubeconfig = api.kubeconfig_content()
    kubeconfig["contexts"].append({"name": "broken", "context": {"cluster": "nowhere", "user": "fake"}})
    kubeconfig["clusters"].append({"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}})
    kubeconfig["current-context"] = "broken"
    content = yaml.safe_dump(kubeconfig)
    assert len(read_cluster(seeded(kubeconfig=content, context="fake")).profiles) == 2
    with pytest.raises(InventoryReadError):
        read_cluster(seeded(kubeconfig=content))


def test_unknown_context_is_an_error(api: FakeApiServer, tmp_path: Path) -> None:
    with pytest.raises(InventoryReadError, match="context 'nope'"):
        read_cluster(settings_for(api, tmp_path, context="nope"))


def test_kubeconfig_environment_variable_is_the_default(
    api: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path)))
    assert read_cluster(seeded()) == read_cluster(settings_for(api, tmp_path))


def test_missing_kubeconfig_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryReadError, match="kubeconfig file .* does not exist"):
        read_cluster(seeded(kubeconfig=str(tmp_path / "absent")))


def test_api_client_is_shared_with_other_readers(api: FakeApiServer, tmp_path: Path) -> None:
    client = live.api_client(settings_for(api, tmp_path))
    try:
        assert client.configuration.host == api.url
    finally:
        client.close()  # type: ignore[no-untyped-call]
