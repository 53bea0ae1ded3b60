"""Feature E: ClusterProfiles published for CAPI Clusters, spec and status (inventory/plan/cluster_manager.py)."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest

from inventory.model import AccessProvider, CapiCluster, ClusterAccess, ClusterProfile, Condition, ObjectRef
from inventory.plan.cluster_manager import control_plane_health, kubernetes_version
from inventory.plan.shards import shard_of
from inventory.settings import Mode, Settings, SettingsError
from inventory.sources.parse import parse_capi_cluster, parse_cluster_profile
from tests.unit.inventory_support import (
    NOW,
    capi_kubeconfig_secret,
    cluster,
    clusterset_namespace,
    find,
    plan_of,
    reasons,
    refs,
    seeded,
)

E = seeded(cluster_profile_mode=Mode.DIRECT, push_mode=Mode.OFF, sveltos_mode=Mode.OFF)


def capi(version: str, status: dict[str, Any], spec: dict[str, Any] | None = None) -> CapiCluster:
    """A CAPI Cluster of ``cluster.x-k8s.io/{version}`` parsed from its status, as a source reads it."""
    return parse_capi_cluster({
        "apiVersion": f"cluster.x-k8s.io/{version}", "kind": "Cluster",
        "metadata": {"namespace": "mgmt", "name": "c1", "labels": {"clusterprofile-name": "c1"}},
        "spec": spec or {}, "status": status,
    })


def v1beta2_condition(kind: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2025-05-01T10:00:00Z"}


def health(cluster_: CapiCluster) -> tuple[str, str, str]:
    found = control_plane_health(cluster_)
    return found.status, found.reason, found.message


# --- ControlPlaneHealthy from Cluster API v1beta2 conditions ----------------------------------

@pytest.mark.parametrize("status, reason", [("True", "Available"), ("False", "NotAvailable"),
                                            ("Unknown", "InternalError")])
def test_v1beta2_control_plane_available_is_carried_over_with_reason_and_message(status: str, reason: str) -> None:
    found = capi("v1beta2", {"conditions": [
        v1beta2_condition("ControlPlaneAvailable", status, reason, "* 2 of 3 etcd members healthy")]})
    assert health(found) == (status, reason, "* 2 of 3 etcd members healthy")


def test_v1beta2_unreachable_control_plane_is_unhealthy_even_when_available() -> None:
    found = capi("v1beta2", {"conditions": [
        v1beta2_condition("ControlPlaneAvailable", "True", "Available"),
        v1beta2_condition("RemoteConnectionProbe", "False", "ProbeFailed", "dial tcp: i/o timeout")]})
    assert health(found) == ("False", "ProbeFailed", "dial tcp: i/o timeout")


def test_v1beta2_control_plane_not_initialized_is_unhealthy() -> None:
    found = capi("v1beta2", {"conditions": [
        v1beta2_condition("ControlPlaneInitialized", "False", "NotInitialized", "waiting for the first machine")]})
    assert health(found) == ("False", "NotInitialized", "waiting for the first machine")


def test_v1beta2_conditions_of_a_v1beta1_object_win_over_its_v1beta1_conditions() -> None:
    found = capi("v1beta1", {
        "conditions": [{"type": "ControlPlaneReady", "status": "True"}],
        "v1beta2": {"conditions": [v1beta2_condition("ControlPlaneAvailable", "False", "NotAvailable", "down")]}})
    assert health(found) == ("False", "NotAvailable", "down")


def test_v1beta2_object_without_new_conditions_falls_back_to_its_deprecated_v1beta1_ones() -> None:
    found = capi("v1beta2", {"deprecated": {"v1beta1": {"conditions": [
        {"type": "ControlPlaneReady", "status": "False", "severity": "Warning", "reason": "ScalingUp",
         "message": "1 of 3 replicas"}]}}})
    assert health(found) == ("False", "ScalingUp", "1 of 3 replicas")


def test_an_invalid_reason_is_replaced_and_kept_in_the_message() -> None:
    found = capi("v1beta2", {"conditions": [v1beta2_condition("ControlPlaneAvailable", "False", "not ok!", "m")]})
    assert health(found) == ("False", "ControlPlaneNotAvailable", "not ok!: m")


# --- ControlPlaneHealthy from Cluster API v1beta1 conditions ----------------------------------

@pytest.mark.parametrize("status, reason, expected_reason", [
    ("True", "", "ControlPlaneReady"),
    ("False", "", "ControlPlaneNotReady"),
    ("False", "WaitingForControlPlane", "WaitingForControlPlane"),
    ("Unknown", "", "ControlPlaneReadyUnknown"),
])
def test_v1beta1_control_plane_ready_is_carried_over(status: str, reason: str, expected_reason: str) -> None:
    condition = {"type": "ControlPlaneReady", "status": status, "severity": "Info" if status != "True" else "",
                 "reason": reason, "lastTransitionTime": "2025-05-01T10:00:00Z"}
    if status != "True":
        condition["message"] = "0 of 1 ready"
    found = health(capi("v1beta1", {"conditions": [condition]}))
    assert found[:2] == (status, expected_reason)
    assert found[2] == ("0 of 1 ready" if status != "True" else "Cluster API reports ControlPlaneReady=True")


@pytest.mark.parametrize("ready, expected", [(True, "True"), (False, "False")])
def test_v1beta1_control_plane_ready_flag_is_used_without_a_condition(ready: bool, expected: str) -> None:
    assert health(capi("v1beta1", {"controlPlaneReady": ready}))[0] == expected


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_no_control_plane_information_is_unknown(version: str) -> None:
    assert health(capi(version, {}))[:2] == ("Unknown", "ControlPlaneHealthUnknown")


def test_an_unreadable_status_is_unknown_and_keeps_the_cluster_for_push_secrets() -> None:
    found = capi("v1beta2", {"conditions": "not a list"})
    assert found.labels == {"clusterprofile-name": "c1"}
    assert health(found)[:2] == ("Unknown", "StatusUnreadable")


# --- version ---------------------------------------------------------------------------------

def test_version_is_the_single_control_plane_version_else_the_topology_version() -> None:
    single = capi("v1beta2", {"controlPlane": {"versions": [{"version": "v1.33.1", "replicas": 3}]}},
                  {"topology": {"version": "v1.34.0", "classRef": {"name": "quick-start"}}})
    upgrading = capi("v1beta2", {"controlPlane": {"versions": [{"version": "v1.33.1"}, {"version": "v1.34.0"}]}},
                     {"topology": {"version": "v1.34.0"}})
    v1beta1 = capi("v1beta1", {}, {"topology": {"version": "v1.32.2", "class": "quick-start"}})
    assert kubernetes_version(single.status) == "v1.33.1"
    assert kubernetes_version(upgrading.status) == "v1.34.0"
    assert kubernetes_version(v1beta1.status) == "v1.32.2"
    assert single.status.topology_class == v1beta1.status.topology_class == "quick-start"


# --- the published ClusterProfile ----------------------------------------------------------------

def published(*objects: Any, settings: Settings = E) -> Any:
    plan = plan_of(*objects, settings=settings)
    return plan, [o for o in plan.objects if o.kind == "ClusterProfile"]


def test_a_labelled_cluster_becomes_a_profile_named_and_placed_like_seed_000() -> None:
    _, profiles = published(
        cluster("mgmt", "c1", "prod-1", clusterset="blue"), clusterset_namespace("fleet-blue", "blue"),
        capi_kubeconfig_secret("mgmt", "c1"))
    (profile,) = profiles
    assert (profile.namespace, profile.name, profile.source) == ("fleet-blue", "prod-1", ObjectRef("Cluster", "mgmt", "c1"))
    assert profile.fields["spec"] == {"displayName": "c1", "clusterManager": {"name": "cluster-inventory"}}
    assert profile.labels == {"x-k8s.io/cluster-manager": "cluster-inventory",
                              "multicluster.x-k8s.io/clusterset": "blue",
                              "app.kubernetes.io/managed-by": "cluster-inventory"}
    assert {"name": "clusterset.k8s.io", "value": "blue"} in profile.fields["status"]["properties"]


def test_access_provider_carries_server_ca_and_the_capi_secret_with_its_namespace() -> None:
    _, (profile,) = published(cluster("mgmt", "c1", clusterprofile_namespace="team"),
                              capi_kubeconfig_secret("mgmt", "c1"))
    (provider,) = profile.fields["status"]["accessProviders"]
    assert provider == {"name": "kubeconfig-secretreader", "cluster": {
        "server": "https://c1.example:6443",
        "certificate-authority-data": base64.b64encode(b"ca-c1").decode(),
        "extensions": [{"name": "client.authentication.k8s.io/exec",
                        "extension": {"name": "c1-kubeconfig", "key": "value", "namespace": "mgmt"}}]}}


def test_status_holds_no_credentials() -> None:
    _, (profile,) = published(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"))
    assert "token-of-c1" not in repr(profile.fields)


def test_allow_listed_cluster_labels_are_carried_over() -> None:
    settings = replace(E, cluster_profile_labels=("env", "absent"))
    _, (profile,) = published(cluster("mgmt", "c1", env="prod", team="a"), capi_kubeconfig_secret("mgmt", "c1"),
                              settings=settings)
    assert profile.labels["env"] == "prod"
    assert "team" not in profile.labels and "absent" not in profile.labels


def test_cluster_manager_name_is_the_spec_and_the_label() -> None:
    settings = replace(E, cluster_manager_name="capi-mgmt-eu")
    _, (profile,) = published(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"), settings=settings)
    assert profile.fields["spec"]["clusterManager"] == {"name": "capi-mgmt-eu"}
    assert profile.labels["x-k8s.io/cluster-manager"] == "capi-mgmt-eu"


def test_unlabelled_clusters_are_published_under_their_own_name_only_when_asked() -> None:
    unlabelled = CapiCluster("mgmt", "bare", {})
    _, none = published(unlabelled, capi_kubeconfig_secret("mgmt", "bare"))
    _, (profile,) = published(unlabelled, capi_kubeconfig_secret("mgmt", "bare"),
                              settings=replace(E, cluster_profile_all_clusters=True))
    assert none == []
    assert (profile.namespace, profile.name) == ("default", "bare")


def test_profile_under_another_cluster_manager_is_reported_and_left_alone() -> None:
    foreign = ClusterProfile("default", "c1", cluster_manager="open-cluster-management")
    plan, profiles = published(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"), foreign)
    assert profiles == []
    (reason,) = reasons(plan, ObjectRef("Cluster", "mgmt", "c1"))
    assert "names cluster manager 'open-cluster-management'" in reason and "left alone" in reason


def test_two_clusters_claiming_one_profile_are_both_reported_and_neither_wins() -> None:
    plan, profiles = published(cluster("a", "c1", "shared"), cluster("b", "c2", "shared"),
                               capi_kubeconfig_secret("a", "c1"), capi_kubeconfig_secret("b", "c2"))
    assert profiles == []
    assert len([r for r in reasons(plan) if "also claimed by" in r]) == 2


def test_a_cluster_without_kubeconfig_is_listed_without_access_providers_and_reported() -> None:
    settings = replace(E, sveltos_mode=Mode.DIRECT)
    plan, (profile,) = published(cluster("mgmt", "c1"), settings=settings)
    assert "accessProviders" not in profile.fields["status"]
    assert refs(plan) == ["ClusterProfile default/c1"]  # nothing for feature B to read
    found = reasons(plan, ObjectRef("Cluster", "mgmt", "c1"))
    assert any("no kubeconfig Secret" in r for r in found)
    assert any("published without access providers until the Cluster's kubeconfig Secret is usable" in r
               for r in found)


def test_profile_namespace_outside_profile_namespaces_is_reported() -> None:
    plan, profiles = published(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"),
                               settings=replace(E, profile_namespaces=("fleet",)))
    assert profiles == []
    assert any("not in profileNamespaces" in r for r in reasons(plan))


# --- lastTransitionTime -------------------------------------------------------------------------

def test_transition_time_is_kept_from_the_live_profile_while_the_status_is_unchanged() -> None:
    live = ClusterProfile("default", "c1", cluster_manager="cluster-inventory", conditions=(
        Condition("ControlPlaneHealthy", "Unknown", "ControlPlaneHealthUnknown", "", "2025-01-01T00:00:00Z"),))
    _, (profile,) = published(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"), live)
    (condition,) = profile.fields["status"]["conditions"]
    assert condition["lastTransitionTime"] == "2025-01-01T00:00:00Z"


def test_transition_time_is_cluster_apis_when_the_status_changes() -> None:
    live = ClusterProfile("default", "c1", cluster_manager="cluster-inventory", conditions=(
        Condition("ControlPlaneHealthy", "Unknown", "x", "", "2025-01-01T00:00:00Z"),))
    healthy = replace(capi("v1beta2", {"conditions": [v1beta2_condition("ControlPlaneAvailable", "True", "Available")]}),
                      namespace="mgmt")
    _, (profile,) = published(healthy, capi_kubeconfig_secret("mgmt", "c1"), live)
    (condition,) = profile.fields["status"]["conditions"]
    assert (condition["status"], condition["lastTransitionTime"]) == ("True", "2025-05-01T10:00:00Z")


def test_transition_time_is_now_when_nobody_knows_it() -> None:
    _, (profile,) = published(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"))
    assert profile.fields["status"]["conditions"][0]["lastTransitionTime"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_live_profile_conditions_are_parsed() -> None:
    parsed = parse_cluster_profile({
        "apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ClusterProfile",
        "metadata": {"namespace": "default", "name": "c1"},
        "spec": {"clusterManager": {"name": "ocm"}},
        "status": {"conditions": [v1beta2_condition("ControlPlaneHealthy", "True", "Healthy")]}})
    assert parsed.cluster_manager == "ocm"
    assert parsed.conditions[0].last_transition_time == "2025-05-01T10:00:00Z"


# --- with the other features --------------------------------------------------------------------

def test_feature_b_makes_sveltos_clusters_from_the_published_profiles_in_the_same_plan() -> None:
    settings = replace(E, sveltos_mode=Mode.DIRECT)
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"), settings=settings)
    assert refs(plan) == ["ClusterProfile default/c1", "Secret default/c1-sveltos-kubeconfig",
                          "SveltosCluster default/c1"]
    secret = find(plan, "Secret", "default", "c1-sveltos-kubeconfig")
    assert b"token-of-c1" in secret.secret_data["kubeconfig"]
    # All of a cluster's objects go to its Cluster's shard.
    assert {obj.source for obj in plan.objects} == {ObjectRef("Cluster", "mgmt", "c1")}
    assert len({shard_of(obj.source, 7) for obj in plan.objects}) == 1


def test_a_profile_of_this_manager_no_longer_published_loses_its_sveltos_cluster() -> None:
    settings = replace(E, sveltos_mode=Mode.DIRECT)
    gone = ClusterProfile("default", "c1", cluster_manager="cluster-inventory",
                          access_providers=(AccessProvider("kubeconfig-secretreader", ClusterAccess(
                              server="https://c1.example:6443",
                              extensions={"client.authentication.k8s.io/exec": {
                                  "name": "c1-kubeconfig", "key": "value", "namespace": "mgmt"}})),))
    plan = plan_of(gone, capi_kubeconfig_secret("mgmt", "c1"), settings=settings)
    assert refs(plan) == []


def test_events_mode_is_refused_with_the_reason() -> None:
    with pytest.raises(SettingsError, match="clusterProfileMode: 'events' is not available"):
        Settings.from_mapping({"clusterProfileMode": "events"})


@pytest.mark.parametrize("name", ["", "a" * 64, "not a label"])
def test_cluster_manager_name_must_be_a_label_value(name: str) -> None:
    with pytest.raises(SettingsError, match="clusterManagerName"):
        Settings.from_mapping({"clusterManagerName": name})


def test_feature_e_alone_reads_profiles_but_no_profile_credentials() -> None:
    from inventory.sources.select import reads_profiles, uses_profile_credentials

    assert reads_profiles(E)
    assert not uses_profile_credentials(E)  # no credential Secrets read, no exec plugin run
