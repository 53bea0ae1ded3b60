"""The synthetic fleets of `make bench-deploy` (bench/fleet.py): object counts, the "remove 10%"
step's clusters, the cluster-manager variant (feature E publishes the profiles) and the grants variant."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from bench.fleet import (
    CLUSTER_MANAGER,
    GRANT_SCHEDULE_MINUTES,
    GRANT_TOKEN_LIFETIME_S,
    Fleet,
    grant_floor_objects,
    granted_cluster,
    inventory_manifests,
    removed_clusters,
)
from inventory.plan.cluster_manager import control_plane_health
from inventory.settings import Settings
from inventory.sources.parse import parse_capi_cluster
from tests.integration.workloads import WorkloadServer


def kinds(objects: list[dict[str, object]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in objects:
        counts[str(obj["kind"])] = counts.get(str(obj["kind"]), 0) + 1
    return counts


@pytest.mark.parametrize(("fleet", "objects", "after_removal"), [
    (Fleet(200, 3), 200 * 5, 180 * 5),
    (Fleet(1_000, 3, cluster_manager=True), 1_000 * 6, 900 * 6),
    (Fleet(15, 2, cluster_manager=True), 15 * 5, 14 * 5),  # only cluster 5 goes
])
def test_object_counts(fleet: Fleet, objects: int, after_removal: int) -> None:
    assert fleet.objects == objects
    assert fleet.objects_after_removal == after_removal


def test_the_default_fleet_writes_its_profiles_and_removes_them_with_their_clusters() -> None:
    fleet = Fleet(20, 3)
    _, inventory = inventory_manifests(fleet)
    assert kinds(inventory) == {"Cluster": 20, "Secret": 20, "ClusterProfile": 20}
    removed = removed_clusters(fleet)
    assert kinds(removed) == {"Cluster": 2, "Secret": 2, "ClusterProfile": 2}
    assert {obj["metadata"]["name"] for obj in removed if obj["kind"] == "Cluster"} == {"cluster-00005",
                                                                                          "cluster-00015"}


def test_the_cluster_manager_variant_has_no_hand_written_profiles() -> None:
    fleet = Fleet(20, 3, cluster_manager=True)
    _, inventory = inventory_manifests(fleet)
    assert kinds(inventory) == {"Cluster": 20, "Secret": 20}
    assert kinds(removed_clusters(fleet)) == {"Cluster": 2, "Secret": 2}
    # Its namespaces never clash with the default fleet's of the same size.
    assert not set(fleet.namespaces) & set(Fleet(20, 3).namespaces)


def test_the_variants_clusters_are_healthy_v1beta2_clusters_named_for_their_profile() -> None:
    fleet = Fleet(10, 1, cluster_manager=True)
    _, inventory = inventory_manifests(fleet)
    body = next(obj for obj in inventory if obj["kind"] == "Cluster")
    assert body["apiVersion"] == "cluster.x-k8s.io/v1beta2"
    cluster = parse_capi_cluster(body)
    assert cluster.labels["clusterprofile-name"] == cluster.name
    assert cluster.labels["clusterprofile-namespace"] == fleet.profile_namespace
    health = control_plane_health(cluster)
    assert (health.status, health.reason) == ("True", "Available")


def test_the_variants_stack_config_turns_feature_e_on() -> None:
    config = Fleet(10, 3, cluster_manager=True).stack_config()
    settings = Settings.from_mapping({key.split(":", 1)[1]: value for key, value in config.items()})
    assert config["cluster-inventory:clusterProfileMode"] == "direct"
    assert config["cluster-inventory:clusterManagerName"] == CLUSTER_MANAGER
    assert config["cluster-inventory:maxDeletions"] == 10 * 6
    assert settings is not None
    assert "cluster-inventory:clusterProfileMode" not in Fleet(10, 3).stack_config()


def test_the_grants_variant_counts_a_grant_and_a_push_secret_per_cluster_and_consumer() -> None:
    fleet = Fleet(200, 3, workloads=2)
    assert (fleet.grants, fleet.objects) == (600, 600)
    assert Fleet(200, 3).grants == 0
    assert not set(fleet.namespaces) & set(Fleet(200, 3).namespaces)


def test_the_grants_variant_grants_every_consumer_24_hour_tokens_on_a_30_minute_schedule() -> None:
    config = Fleet(10, 3, workloads=2).stack_config()
    settings = Settings.from_mapping({key.split(":", 1)[1]: value for key, value in config.items()})
    assert settings.grants is not None
    assert set(settings.grants) == {f"bench10g-consumer-{c}" for c in range(3)}
    assert {grant.token_lifetime_seconds for grant in settings.grants.values()} == {GRANT_TOKEN_LIFETIME_S} == {86_400}
    assert config["cluster-inventory:scheduleIntervalMinutes"] == GRANT_SCHEDULE_MINUTES == 30
    assert config["cluster-inventory:sveltosMode"] == "off"


def test_a_granted_cluster_points_at_its_workload_server_as_cluster_api_writes_it() -> None:
    server = WorkloadServer(name="workload-1", server="https://127.0.0.1:6443", ca_pem="CA", admin_cert_pem="CERT",
                            admin_key_pem="KEY", etcd_prefix="/workload-1", kubeconfig_path=Path("unused"))
    cluster, secret = granted_cluster(Fleet(10, 3, workloads=1), 4, server)
    parsed = parse_capi_cluster(cluster)
    assert cluster["spec"]["controlPlaneEndpoint"] == {"host": "127.0.0.1", "port": 6443}
    assert control_plane_health(parsed).status == "True"
    kubeconfig = yaml.safe_load(base64.b64decode(secret["data"]["value"]))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert secret["metadata"]["name"] == "cluster-00004-kubeconfig"


def test_the_grants_floor_writes_what_each_grant_writes_on_its_workload_server() -> None:
    fleet = Fleet(5, 2, workloads=2)
    first, second = grant_floor_objects(fleet, 0), grant_floor_objects(fleet, 1)
    assert kinds(first) == {"ServiceAccount": 6, "ClusterRole": 6, "ClusterRoleBinding": 6}  # clusters 0, 2, 4
    assert kinds(second) == {"ServiceAccount": 4, "ClusterRole": 4, "ClusterRoleBinding": 4}
