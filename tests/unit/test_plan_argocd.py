"""Argo CD declarative cluster Secrets (SPEC §3 D): one per cluster, from CAPI Clusters and/or ClusterProfiles."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from inventory.model.diagnostics import ObjectRef
from inventory.model.objects import DesiredObject, Feature
from inventory.settings import ArgoCDSource, Mode, Settings, SettingsError
from tests.unit.inventory_support import (
    FIXTURES,
    NOW,
    FakeExecResult,
    capi_kubeconfig_secret,
    cluster,
    exec_provider,
    find,
    kubeconfig,
    labelled_secret,
    plan_of,
    profile,
    reasons,
    refs,
    seeded,
)

ARGOCD = seeded(push_mode=Mode.OFF, sveltos_mode=Mode.OFF, argocd_mode=Mode.DIRECT)
FROM_PROFILES = replace(ARGOCD, argocd_sources=(ArgoCDSource.PROFILES,))
BOTH = replace(ARGOCD, argocd_sources=(ArgoCDSource.CLUSTERS, ArgoCDSource.PROFILES))


def data(obj: DesiredObject) -> dict[str, str]:
    """The Secret's data as Argo CD reads it: readable keys and the credential ``config``."""
    readable = {key: base64.b64decode(value).decode() for key, value in obj.fields.get("data", {}).items()}
    assert set(obj.secret_data) == {"config"}
    return {**readable, "config": obj.secret_data["config"].decode()}


def test_argo_cd_is_off_by_default() -> None:
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"))
    assert not [obj for obj in plan.objects if obj.feature is Feature.ARGOCD]


def test_capi_cluster_becomes_a_cluster_secret_in_argocds_namespace() -> None:
    plan = plan_of(cluster("mgmt", "c1", env="prod"), capi_kubeconfig_secret("mgmt", "c1"), settings=ARGOCD)
    secret = find(plan, "Secret", "argocd", "capi-mgmt-c1")
    assert secret.feature is Feature.ARGOCD
    assert secret.source == ObjectRef("Cluster", "mgmt", "c1")
    assert secret.labels == {
        "argocd.argoproj.io/secret-type": "cluster",
        "app.kubernetes.io/managed-by": "cluster-inventory",
    }
    assert secret.fields["type"] == "Opaque"
    assert data(secret) == {"name": "mgmt-c1", "server": "https://c1.example:6443", "config": json.dumps(
        {"bearerToken": "token-of-c1", "tlsClientConfig": {"caData": "Y2EtYzE=", "insecure": False}},
        sort_keys=True, separators=(",", ":"))}


def test_cluster_profile_credentials_become_a_cluster_secret() -> None:
    plan = plan_of(
        profile("fleet", "p1"),
        labelled_secret("fleet", "p1", {"config": kubeconfig("p1")}),
        settings=FROM_PROFILES,
    )
    secret = find(plan, "Secret", "argocd", "profile-fleet-p1")
    assert secret.source == ObjectRef("ClusterProfile", "fleet", "p1")
    assert json.loads(data(secret)["config"])["bearerToken"] == "token-of-p1"


def test_exec_minted_credentials_are_converted_and_their_refresh_is_tracked() -> None:
    p1 = profile("fleet", "p1", exec_provider())
    minted = FakeExecResult(kubeconfig=kubeconfig("minted"), refresh_at=NOW)
    plan = plan_of(p1, settings=FROM_PROFILES, exec_results={p1.ref: minted})
    assert json.loads(data(find(plan, "Secret", "argocd", "profile-fleet-p1"))["config"])["bearerToken"] == (
        "token-of-minted")
    assert plan.refresh_due == NOW


def test_only_allow_listed_labels_are_carried_and_ours_win() -> None:
    settings = replace(ARGOCD, argocd_labels=("env", "argocd.argoproj.io/secret-type", "absent"))
    plan = plan_of(
        cluster("mgmt", "c1", env="prod", team="a", **{"argocd.argoproj.io/secret-type": "repository"}),
        capi_kubeconfig_secret("mgmt", "c1"),
        settings=settings,
    )
    assert find(plan, "Secret", "argocd", "capi-mgmt-c1").labels == {
        "env": "prod",
        "argocd.argoproj.io/secret-type": "cluster",
        "app.kubernetes.io/managed-by": "cluster-inventory",
    }


def test_project_namespaces_and_cluster_resources_from_config() -> None:
    settings = replace(ARGOCD, argocd_namespace="gitops", argocd_project="fleet",
                       argocd_cluster_namespaces=("apps", "web"), argocd_cluster_resources=True,
                       argocd_secret_name_template="cluster-{name}", argocd_cluster_name_template="{name}")
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"), settings=settings)
    values = data(find(plan, "Secret", "gitops", "cluster-c1"))
    assert (values["name"], values["project"], values["namespaces"], values["clusterResources"]) == (
        "c1", "fleet", "apps,web", "true")


def test_unconvertible_kubeconfig_is_reported_and_the_others_are_written() -> None:
    auth_provider = (FIXTURES / "argocd-kubeconfigs" / "auth-provider.yaml").read_bytes()
    plan = plan_of(
        cluster("mgmt", "bad"), capi_kubeconfig_secret("mgmt", "bad", data={"value": auth_provider}),
        cluster("mgmt", "good"), capi_kubeconfig_secret("mgmt", "good"),
        settings=ARGOCD,
    )
    assert refs(plan) == ["Secret argocd/capi-mgmt-good"]
    assert reasons(plan, ObjectRef("Cluster", "mgmt", "bad")) == [
        ("skipped for Argo CD: kubeconfig cannot become an Argo CD cluster config: the user uses an auth-provider "
        "plugin (Argo CD has none; use an exec plugin)")
    ]


def test_cluster_reachable_as_capi_cluster_and_profile_is_a_server_clash() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"),
        profile("fleet", "p1"), labelled_secret("fleet", "p1", {"config": kubeconfig("c1")}),
        settings=BOTH,
    )
    assert refs(plan) == []
    assert reasons(plan, ObjectRef("Cluster", "mgmt", "c1")) == [
        ("skipped for Argo CD: API server https://c1.example:6443 is also planned for ClusterProfile fleet/p1; "
        "neither is written (Argo CD tells clusters apart by server and by name: list one source in "
        "argocdSources or change the name templates)")
    ]


def test_cluster_name_clash_is_reported_and_neither_is_written() -> None:
    settings = replace(ARGOCD, argocd_cluster_name_template="{name}")
    plan = plan_of(
        cluster("east", "c1"), capi_kubeconfig_secret("east", "c1"),
        cluster("west", "c1"), capi_kubeconfig_secret("west", "c1", data={"value": kubeconfig("other")}),
        settings=settings,
    )
    assert refs(plan) == []
    assert "Argo CD cluster name c1 is also planned for Cluster west/c1" in reasons(
        plan, ObjectRef("Cluster", "east", "c1"))[0]


def test_secret_name_over_the_limit_is_reported_at_planning() -> None:
    settings = replace(ARGOCD, argocd_secret_name_template="{name}-" + "x" * 260)
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"), settings=settings)
    assert refs(plan) == []
    assert "characters long, the limit is 253 (argocdSecretNameTemplate)" in reasons(plan)[0]


def test_missing_kubeconfig_is_reported_once_when_push_and_argo_cd_both_need_it() -> None:
    settings = replace(ARGOCD, push_mode=Mode.DIRECT)
    plan = plan_of(cluster("mgmt", "c1"), settings=settings)
    assert len(reasons(plan, ObjectRef("Cluster", "mgmt", "c1"))) == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"argocdMode": "events"}, "argocdMode: 'events' is not available"),
        ({"argocdSources": ["capi"]}, "argocdSources: 'capi' is not one of clusters, profiles"),
        ({"argocdMode": "direct", "argocdSources": []}, "argocdSources: at least one of"),
        ({"argocdSecretNameTemplate": "{cluster}"}, "uses cluster; the fields are source, namespace, name"),
        ({"argocdClusterNameTemplate": "fixed"}, "uses no field, so every cluster would get the same name"),
        ({"argocdNamespace": "Argo"}, "argocdNamespace: namespace name 'Argo' is not a DNS-1123 label"),
        ({"argocdLabels": ["bad key!"]}, "argocdLabels: 'bad key!' is not a valid label key"),
    ],
)
def test_bad_argo_cd_settings_are_config_errors(raw: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_mapping(raw)


def test_render_shows_the_cluster_secret_with_its_data_redacted() -> None:
    from inventory.render import render_plan

    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"), settings=ARGOCD)
    rendered = render_plan(plan)
    assert "argocd.argoproj.io/secret-type: cluster" in rendered
    assert "config: <redacted>" in rendered
    assert "token-of-c1" not in rendered
    assert "dG9rZW4tb2YtYzE" not in rendered  # nor as base64


@pytest.mark.parametrize(
    ("settings", "kept"),
    [
        (FROM_PROFILES, {"ClusterProfile", "labelled Secret"}),
        (ARGOCD, {"Cluster", "CAPI kubeconfig Secret"}),
        (replace(ARGOCD, argocd_mode=Mode.OFF), set()),
    ],
)
def test_argo_cd_reads_its_sources_with_the_other_features_off(settings: Settings, kept: set[str]) -> None:
    from inventory.sources.select import select_relevant
    from tests.unit.inventory_support import inventory

    selected = select_relevant(inventory(
        cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"),
        profile("fleet", "p1"), labelled_secret("fleet", "p1", {"config": kubeconfig("p1")}),
    ), settings)
    found = {"Cluster"} if selected.clusters else set()
    found |= {"ClusterProfile"} if selected.profiles else set()
    found |= {"CAPI kubeconfig Secret" for s in selected.secrets if s.namespace == "mgmt"}
    found |= {"labelled Secret" for s in selected.secrets if s.namespace == "fleet"}
    assert found == kept
