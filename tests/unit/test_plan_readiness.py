"""The readiness gate, requireHealthyControlPlane (inventory/plan/readiness.py and feature E's access providers)."""

from __future__ import annotations

from dataclasses import replace

from inventory.model import CapiCluster, CapiClusterStatus, ClusterProfile, Condition, Diagnostic, ObjectRef
from inventory.plan import WAITING, build_plan
from inventory.settings import ArgoCDSource, Mode
from inventory.stack.resources import outputs
from tests.unit.inventory_support import (
    NOW,
    capi_kubeconfig_secret,
    cluster,
    consumer,
    inventory,
    plan_of,
    profile,
    reasons,
    refs,
    secret,
    secret_reader,
    seeded,
)

GATED = seeded(require_healthy_control_plane=True)
AVAILABLE = CapiClusterStatus(conditions=(Condition("ControlPlaneAvailable", "True", "Available"),))
UNKNOWN = CapiClusterStatus()
NOT_AVAILABLE = CapiClusterStatus(conditions=(Condition("ControlPlaneAvailable", "False", "NotAvailable", "down"),))
C1 = ObjectRef("Cluster", "mgmt", "c1")


def capi(status: CapiClusterStatus = UNKNOWN) -> CapiCluster:
    return replace(cluster("mgmt", "c1"), status=status)


def healthy_profile(status: str) -> ClusterProfile:
    return replace(profile("fleet", "p1", secret_reader({"name": "src", "key": "kubeconfig"})),
                   conditions=(Condition("ControlPlaneHealthy", status, "Reason", "m"),))


def test_without_the_gate_an_unhealthy_cluster_gets_its_credentials() -> None:
    plan = plan_of(capi(NOT_AVAILABLE), capi_kubeconfig_secret("mgmt", "c1"), consumer("team-a"))
    assert refs(plan) == ["Secret team-a/default-c1-kubeconfig"]


def test_a_cluster_with_an_unhealthy_control_plane_waits_and_is_reported() -> None:
    plan = plan_of(capi(NOT_AVAILABLE), capi_kubeconfig_secret("mgmt", "c1"), consumer("team-a"), settings=GATED)
    assert refs(plan) == []
    (reason,) = reasons(plan, C1)
    assert reason.startswith(WAITING) and "ControlPlaneHealthy=False (NotAvailable: down)" in reason


def test_a_cluster_without_any_health_information_waits() -> None:
    plan = plan_of(capi(), capi_kubeconfig_secret("mgmt", "c1"), consumer("team-a"), settings=GATED)
    assert refs(plan) == []
    assert reasons(plan, C1)[0].startswith(WAITING)


def test_a_healthy_cluster_gets_its_credentials() -> None:
    plan = plan_of(capi(AVAILABLE), capi_kubeconfig_secret("mgmt", "c1"), consumer("team-a"), settings=GATED)
    assert refs(plan) == ["Secret team-a/default-c1-kubeconfig"]
    assert reasons(plan) == []


def test_a_cluster_that_had_credentials_keeps_them_when_it_turns_unhealthy() -> None:
    plan = build_plan(inventory(capi(NOT_AVAILABLE), capi_kubeconfig_secret("mgmt", "c1"), consumer("team-a"),
                                consumer("team-b")),
                      GATED, {}, NOW, previously_declared=frozenset({"Secret/team-a/default-c1-kubeconfig"}))
    assert refs(plan) == ["Secret team-a/default-c1-kubeconfig", "Secret team-b/default-c1-kubeconfig"]
    (reason,) = reasons(plan, C1)
    assert "credentials are kept" in reason and not reason.startswith(WAITING)


def test_a_cluster_profile_of_another_writer_waits_for_control_plane_healthy_true() -> None:
    source = secret("fleet", "src", {"kubeconfig": b"apiVersion: v1\nkind: Config\nclusters: []\n"})
    waiting = plan_of(healthy_profile("False"), source, settings=GATED)
    ready = plan_of(healthy_profile("True"), source, settings=GATED)
    assert refs(waiting) == []
    assert reasons(waiting, ObjectRef("ClusterProfile", "fleet", "p1"))[0].startswith(WAITING)
    assert refs(ready) == ["Secret fleet/p1-sveltos-kubeconfig", "SveltosCluster fleet/p1"]


def test_argo_cd_secrets_from_clusters_wait_too() -> None:
    settings = replace(GATED, push_mode=Mode.OFF, argocd_mode=Mode.DIRECT, argocd_sources=(ArgoCDSource.CLUSTERS,))
    assert refs(plan_of(capi(NOT_AVAILABLE), capi_kubeconfig_secret("mgmt", "c1"), settings=settings)) == []
    assert len(refs(plan_of(capi(AVAILABLE), capi_kubeconfig_secret("mgmt", "c1"), settings=settings))) == 1


def test_feature_e_publishes_a_waiting_profile_without_access_providers_and_b_waits() -> None:
    settings = replace(GATED, push_mode=Mode.OFF, cluster_profile_mode=Mode.DIRECT)
    plan = plan_of(capi(NOT_AVAILABLE), capi_kubeconfig_secret("mgmt", "c1"), settings=settings)
    (published,) = plan.objects
    assert published.kind == "ClusterProfile"
    assert "accessProviders" not in published.fields["status"]
    assert published.fields["status"]["conditions"][0]["status"] == "False"
    assert any(r.startswith(WAITING) for r in reasons(plan, C1))


def test_feature_e_keeps_the_access_providers_a_live_profile_already_lists() -> None:
    settings = replace(GATED, push_mode=Mode.OFF, cluster_profile_mode=Mode.DIRECT)
    live = ClusterProfile("default", "c1", cluster_manager="cluster-inventory",
                          access_providers=(secret_reader({"name": "c1-kubeconfig", "key": "value",
                                                           "namespace": "mgmt"}),))
    plan = plan_of(capi(NOT_AVAILABLE), capi_kubeconfig_secret("mgmt", "c1"), live, settings=settings)
    kinds = {obj.kind: obj for obj in plan.objects}
    assert kinds["ClusterProfile"].fields["status"]["accessProviders"][0]["name"] == "kubeconfig-secretreader"
    # Feature B's objects are new credentials: they wait; once written, they are kept.
    assert "SveltosCluster" not in kinds
    kept = build_plan(inventory(capi(NOT_AVAILABLE), capi_kubeconfig_secret("mgmt", "c1"), live), settings, {}, NOW,
                      previously_declared=frozenset({"Secret/default/c1-sveltos-kubeconfig"}))
    assert {obj.kind for obj in kept.objects} == {"ClusterProfile", "Secret", "SveltosCluster"}
    assert not any(r.startswith(WAITING) for r in reasons(kept))


def test_waiting_clusters_are_listed_in_the_outputs_with_the_reason() -> None:
    plan = plan_of(capi(), capi_kubeconfig_secret("mgmt", "c1"), consumer("team-a"), settings=GATED)
    (line,) = outputs(plan.objects, plan.diagnostics, None, GATED)["waiting"]
    assert line.startswith(f"Cluster mgmt/c1: {WAITING}")


def test_the_waiting_output_lists_the_diagnostics_marked_waiting_not_those_that_read_alike() -> None:
    alike = Diagnostic(C1, f"{WAITING}: said by hand")
    marked = Diagnostic(ObjectRef("Cluster", "mgmt", "c2"), f"{WAITING}: reported by the gate", waiting=True)
    assert outputs([], [alike, marked], None, GATED)["waiting"] == [f"Cluster mgmt/c2: {WAITING}: reported by the gate"]
