"""Trust boundaries (SPEC §9, docs/security.md): what a tenant writes is a request, never a grant.

Each test plans an inventory in which a tenant, with rights only in its own namespace, asks the
program to move a credential somewhere stack config did not route it, and shows the request
refused and named, while what the operator routed is unaffected.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from inventory.model import Namespace, ObjectRef, Secret
from inventory.settings import ExecBinding, Mode, Settings, SettingsError
from inventory.sources.select import referenced_secret_names
from tests.unit.inventory_support import (
    CONSUMER_LABEL,
    FakeExecResult,
    capi_kubeconfig_secret,
    cluster,
    clusterset_namespace,
    consumer,
    find,
    kubeconfig,
    labelled_secret,
    plan_of,
    profile,
    reasons,
    refs,
    secret,
    secret_reader,
)

# An operator's routes: Clusters of capi-prod publish into fleet, profiles of fleet read Secrets of
# capi-prod, team-a and team-b receive credentials. Tenants write only in tenant-a.
OPERATOR = Settings(
    consumer_namespaces=("team-a", "team-b"),
    cluster_placement_routes={"capi-prod": ("fleet",)},
    secret_reader_routes={"fleet": ("capi-prod",)},
    sveltos_mode=Mode.DIRECT,
)

EXEC_KUBECONFIG = b"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://tenant.example:6443"}
users:
- name: u
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "id"]}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
"""


def _prod_fleet() -> list[object]:
    return [
        cluster("capi-prod", "prod-eu-1", clusterprofile_namespace="fleet"),
        capi_kubeconfig_secret("capi-prod", "prod-eu-1"),
        consumer("team-a"),
        consumer("team-b"),
    ]


# --- receiving namespaces -----------------------------------------------------------------------


def test_a_labelled_namespace_receives_nothing_unless_stack_config_routes_credentials_there() -> None:
    plan = plan_of(*_prod_fleet(), consumer("tenant-a"), settings=OPERATOR)
    assert refs(plan) == ["Secret team-a/fleet-prod-eu-1-kubeconfig", "Secret team-b/fleet-prod-eu-1-kubeconfig"]
    (reason,) = reasons(plan, ObjectRef("Namespace", None, "tenant-a"))
    assert reason.startswith(f"refused as a consumer: it carries {CONSUMER_LABEL}, but a label is a request")
    assert "consumerNamespaces" in reason


def test_by_default_no_namespace_receives_credentials() -> None:
    plan = plan_of(*_prod_fleet(), settings=replace(OPERATOR, consumer_namespaces=()))
    assert [r for r in refs(plan) if r.startswith("Secret team-")] == []


def test_consumer_namespaces_star_is_seed_000s_every_labelled_namespace() -> None:
    plan = plan_of(*_prod_fleet(), consumer("tenant-a"), settings=replace(OPERATOR, consumer_namespaces=("*",)))
    assert "Secret tenant-a/fleet-prod-eu-1-kubeconfig" in refs(plan)


def test_consumer_namespace_selector_routes_to_namespaces_with_the_operators_labels() -> None:
    platform = Namespace("platform-ci", {CONSUMER_LABEL: "true", "platform.example/consumer": "approved"})
    settings = replace(OPERATOR, consumer_namespaces=(),
                       consumer_namespace_selector={"platform.example/consumer": "approved"})
    assert refs(plan_of(*_prod_fleet(), platform, settings=settings)) == ["Secret platform-ci/fleet-prod-eu-1-kubeconfig"]


def test_a_selected_namespace_still_needs_the_consumer_label() -> None:
    unlabelled = Namespace("platform-ci", {"platform.example/consumer": "approved"})
    settings = replace(OPERATOR, consumer_namespace_selector={"platform.example/consumer": "approved"})
    assert "platform-ci" not in {o.namespace for o in plan_of(*_prod_fleet(), unlabelled, settings=settings).objects}


# --- source Secrets -------------------------------------------------------------------------------


def test_a_secretreader_reference_to_another_namespace_is_refused_and_named() -> None:
    tenant = profile("tenant-a", "stolen", secret_reader({"namespace": "capi-prod", "name": "prod-eu-1-kubeconfig",
                                                           "key": "value"}))
    plan = plan_of(*_prod_fleet(), tenant, settings=OPERATOR)
    assert not [r for r in refs(plan) if "tenant-a" in r]
    (reason,) = reasons(plan, tenant.ref)
    assert "source Secret capi-prod/prod-eu-1-kubeconfig refused" in reason
    assert "secretReaderRoutes does not route ClusterProfiles of namespace tenant-a" in reason


def test_a_secretreader_reference_outside_the_routes_is_not_even_read() -> None:
    tenant = profile("tenant-a", "stolen", secret_reader({"namespace": "kube-system", "name": "admin", "key": "k"}))
    operator = profile("fleet", "prod-eu-1", secret_reader({"namespace": "capi-prod", "name": "prod-eu-1-kubeconfig",
                                                            "key": "value"}))
    assert referenced_secret_names((tenant, operator), OPERATOR) == [("capi-prod", "prod-eu-1-kubeconfig")]


def test_a_declared_route_lets_a_profile_read_a_secret_of_another_namespace() -> None:
    routed = profile("fleet", "prod-eu-1", secret_reader({"namespace": "capi-prod", "name": "prod-eu-1-kubeconfig",
                                                          "key": "value"}))
    plan = plan_of(capi_kubeconfig_secret("capi-prod", "prod-eu-1"), routed, settings=OPERATOR)
    assert "SveltosCluster fleet/prod-eu-1" in refs(plan)


def test_a_profile_reads_its_own_namespace_without_a_route() -> None:
    own = profile("tenant-a", "mine", secret_reader({"name": "mine-kubeconfig", "key": "value"}))
    plan = plan_of(secret("tenant-a", "mine-kubeconfig", {"value": kubeconfig("mine")}), own, settings=OPERATOR)
    assert "SveltosCluster tenant-a/mine" in refs(plan)


def test_profiles_this_stack_publishes_read_their_capi_secret_by_construction() -> None:
    settings = replace(OPERATOR, secret_reader_routes={}, cluster_profile_mode=Mode.DIRECT, push_mode=Mode.OFF)
    plan = plan_of(cluster("capi-prod", "prod-eu-1", clusterprofile_namespace="fleet"),
                   capi_kubeconfig_secret("capi-prod", "prod-eu-1"), settings=settings)
    assert {"ClusterProfile fleet/prod-eu-1", "SveltosCluster fleet/prod-eu-1"} <= set(refs(plan))


# --- where a CAPI Cluster may publish -------------------------------------------------------------


def test_a_clusters_labels_cannot_place_its_objects_in_a_namespace_without_a_route() -> None:
    tenant = cluster("tenant-a", "evil", clusterprofile_namespace="team-payments")
    plan = plan_of(*_prod_fleet(), tenant, capi_kubeconfig_secret("tenant-a", "evil"), settings=OPERATOR)
    assert not [r for r in refs(plan) if "team-payments" in r]
    (reason,) = reasons(plan, tenant.ref)
    assert reason == ("skipped, refused: its labels place its ClusterProfile in namespace team-payments, and "
                      "clusterPlacementRoutes does not let Clusters of namespace tenant-a publish there")


def test_a_cluster_publishes_into_its_own_namespace_without_a_route() -> None:
    own = cluster("tenant-a", "c1", clusterprofile_namespace="tenant-a")
    plan = plan_of(*_prod_fleet(), own, capi_kubeconfig_secret("tenant-a", "c1"), settings=OPERATOR)
    assert "Secret team-a/tenant-a-c1-kubeconfig" in refs(plan)


def test_a_claim_from_elsewhere_never_displaces_the_home_cluster() -> None:
    home = cluster("fleet", "prod-eu-1", clusterprofile_namespace="fleet")
    intruder = cluster("tenant-a", "copy", "prod-eu-1", clusterprofile_namespace="fleet")
    settings = replace(OPERATOR, cluster_placement_routes={"*": ("fleet",)})
    plan = plan_of(home, capi_kubeconfig_secret("fleet", "prod-eu-1"), intruder,
                   capi_kubeconfig_secret("tenant-a", "copy"), consumer("team-a"), settings=settings)
    pushed = find(plan, "Secret", "team-a", "fleet-prod-eu-1-kubeconfig")
    assert pushed.source == home.ref
    (reason,) = reasons(plan, intruder.ref)
    assert "belongs to Cluster fleet/prod-eu-1" in reason and "never displaces it" in reason
    assert reasons(plan, home.ref) == []


def test_a_tenant_cluster_cannot_make_the_real_profile_a_clash() -> None:
    intruder = cluster("tenant-a", "copy", "prod-eu-1", clusterprofile_namespace="fleet")
    plan = plan_of(*_prod_fleet(), intruder, capi_kubeconfig_secret("tenant-a", "copy"), settings=OPERATOR)
    assert refs(plan) == ["Secret team-a/fleet-prod-eu-1-kubeconfig", "Secret team-b/fleet-prod-eu-1-kubeconfig"]
    assert find(plan, "Secret", "team-a", "fleet-prod-eu-1-kubeconfig").source == ObjectRef(
        "Cluster", "capi-prod", "prod-eu-1")


def test_a_namespace_claiming_a_clusterset_without_a_route_neither_takes_nor_blocks_the_set() -> None:
    settings = replace(OPERATOR, cluster_placement_routes={"capi-prod": ("fleet-prod",)})
    plan = plan_of(
        cluster("capi-prod", "prod-eu-1", clusterset="prod"),
        capi_kubeconfig_secret("capi-prod", "prod-eu-1"),
        clusterset_namespace("fleet-prod", "prod"),
        clusterset_namespace("aaa-tenant", "prod"),  # first in lexicographic order
        consumer("team-a"),
        settings=settings,
    )
    assert refs(plan) == ["Secret team-a/fleet-prod-prod-eu-1-kubeconfig"]


def test_a_tenant_cluster_claiming_a_clusterset_does_not_join_it() -> None:
    settings = replace(OPERATOR, cluster_profile_mode=Mode.DIRECT, push_mode=Mode.OFF, sveltos_mode=Mode.OFF)
    tenant = cluster("tenant-a", "mine", clusterprofile_namespace="tenant-a", clusterset="prod")
    plan = plan_of(tenant, capi_kubeconfig_secret("tenant-a", "mine"), clusterset_namespace("fleet-prod", "prod"),
                   settings=settings)
    published = find(plan, "ClusterProfile", "tenant-a", "mine")
    assert "multicluster.x-k8s.io/clusterset" not in published.labels
    assert "clusterset.k8s.io" not in json.dumps(published.fields["status"])


def test_sveltos_management_cluster_name_cannot_be_claimed_from_a_tenant_namespace() -> None:
    tenant = cluster("tenant-a", "mgmt", clusterprofile_namespace="mgmt")
    settings = replace(OPERATOR, cluster_profile_mode=Mode.DIRECT)
    plan = plan_of(tenant, capi_kubeconfig_secret("tenant-a", "mgmt"), settings=settings)
    assert not [r for r in refs(plan) if " mgmt/" in r]


# --- kubeconfigs from tenant-writable sources -----------------------------------------------------


@pytest.mark.parametrize("user", [
    {"exec": {"command": "/bin/sh"}},
    {"auth-provider": {"name": "oidc"}},
    {"token": "t", "tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
    {"client-certificate": "/etc/kubernetes/pki/admin.crt", "client-key": "/etc/kubernetes/pki/admin.key"},
    {"token": "t", "TokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"},  # client-go folds case
])
def test_a_labelled_secret_with_runnable_credentials_is_refused(user: dict[str, object]) -> None:
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "c", "cluster": {"server": "https://t"}}],
              "users": [{"name": "u", "user": user}], "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
              "current-context": "c"}
    tenant = profile("tenant-a", "mine")
    plan = plan_of(tenant, labelled_secret("tenant-a", "mine", {"config": json.dumps(config).encode()}),
                   settings=OPERATOR)
    assert refs(plan) == []
    (reason,) = reasons(plan, tenant.ref)
    assert "refused: kubeconfig carries" in reason and "trustedKubeconfigNamespaces" in reason


def test_a_ca_file_path_is_refused() -> None:
    config = kubeconfig("c").replace(b"certificate-authority-data:", b"certificate-authority: /etc/ca.crt\n    x:")
    plan = plan_of(profile("tenant-a", "mine"), labelled_secret("tenant-a", "mine", {"config": config}),
                   settings=OPERATOR)
    assert refs(plan) == []


def test_runnable_credentials_in_a_users_entry_the_context_does_not_use_are_refused_too() -> None:
    # A consumer may switch context; every user entry counts.
    config = kubeconfig("c").replace(b"users:\n", b"users:\n- name: spare\n  user:\n    exec: {command: /bin/sh}\n")
    plan = plan_of(profile("tenant-a", "mine"), labelled_secret("tenant-a", "mine", {"config": config}),
                   settings=OPERATOR)
    assert refs(plan) == []


def test_a_capi_kubeconfig_with_exec_never_reaches_consumers() -> None:
    plan = plan_of(cluster("capi-prod", "prod-eu-1", clusterprofile_namespace="fleet"),
                   capi_kubeconfig_secret("capi-prod", "prod-eu-1", data={"value": EXEC_KUBECONFIG}),
                   consumer("team-a"), settings=OPERATOR)
    assert refs(plan) == []
    assert "refused: kubeconfig carries exec" in reasons(plan, ObjectRef("Cluster", "capi-prod", "prod-eu-1"))[0]


def test_argo_cd_gets_no_exec_provider_config_from_a_tenant_kubeconfig() -> None:
    settings = replace(OPERATOR, argocd_mode=Mode.DIRECT, sveltos_mode=Mode.OFF, push_mode=Mode.OFF,
                       argocd_sources=OPERATOR.argocd_sources + ())
    plan = plan_of(cluster("tenant-a", "mine", clusterprofile_namespace="tenant-a"),
                   capi_kubeconfig_secret("tenant-a", "mine", data={"value": EXEC_KUBECONFIG}), settings=settings)
    assert [o for o in plan.objects if "execProviderConfig" in str(o.secret_data)] == []
    assert refs(plan) == []


def test_an_operator_namespace_may_carry_exec_through_when_stack_config_says_so() -> None:
    settings = replace(OPERATOR, trusted_kubeconfig_namespaces=("capi-prod",))
    plan = plan_of(cluster("capi-prod", "prod-eu-1", clusterprofile_namespace="fleet"),
                   capi_kubeconfig_secret("capi-prod", "prod-eu-1", data={"value": EXEC_KUBECONFIG}),
                   consumer("team-a"), settings=settings)
    assert refs(plan) == ["Secret team-a/fleet-prod-eu-1-kubeconfig"]


# --- labels carried over ----------------------------------------------------------------------------


def _labelled_profile(**labels: str) -> list[object]:
    return [profile("tenant-a", "mine", secret_reader({"name": "k", "key": "value"}), labels=labels),
            Secret("tenant-a", "k", data={"value": kubeconfig("mine")})]


def test_a_sveltoscluster_carries_only_the_labels_stack_config_allows() -> None:
    settings = replace(OPERATOR, sveltos_cluster_labels=("env", "team.example/*"))
    plan = plan_of(*_labelled_profile(env="dev", tier="gold", **{"team.example/owner": "a"}), settings=settings)
    labels = find(plan, "SveltosCluster", "tenant-a", "mine").labels
    assert labels == {"env": "dev", "team.example/owner": "a", "app.kubernetes.io/managed-by": "cluster-inventory"}


def test_by_default_no_profile_label_is_carried() -> None:
    plan = plan_of(*_labelled_profile(env="dev"), settings=OPERATOR)
    assert find(plan, "SveltosCluster", "tenant-a", "mine").labels == {
        "app.kubernetes.io/managed-by": "cluster-inventory"}


def test_labels_matching_the_management_cluster_selector_are_never_carried() -> None:
    settings = replace(OPERATOR, sveltos_cluster_labels=("*",))
    tenant, source = _labelled_profile(type="mgmt", env="dev")
    plan = plan_of(tenant, source, settings=settings)
    assert find(plan, "SveltosCluster", "tenant-a", "mine").labels == {
        "env": "dev", "app.kubernetes.io/managed-by": "cluster-inventory"}
    assert any("managementClusterSelector" in r for r in reasons(plan, ObjectRef("ClusterProfile", "tenant-a", "mine")))


# --- the settings themselves ---------------------------------------------------------------------------


def test_routes_name_namespaces_or_star() -> None:
    with pytest.raises(SettingsError, match="clusterPlacementRoutes\\['capi'\\]: .*Bad_NS"):
        Settings.from_mapping({"clusterPlacementRoutes": {"capi": ["Bad_NS"]}})
    assert Settings.from_mapping({"clusterPlacementRoutes": {"*": ["*"]}}).may_place("a", "b")


def test_routes_must_be_a_map_of_lists() -> None:
    with pytest.raises(SettingsError, match="secretReaderRoutes: expected a map"):
        Settings.from_mapping({"secretReaderRoutes": ["fleet"]})


def test_exec_bindings_are_read_from_config() -> None:
    settings = Settings.from_mapping({"execProviderBindings": {"p": {"namespaces": ["fleet"],
                                                                     "matchLabels": {"env": "prod"}}}})
    binding = settings.exec_provider_bindings["p"]
    assert binding == ExecBinding(namespaces=("fleet",), match_labels={"env": "prod"})
    assert binding.binds("fleet", {"env": "prod"}) and not binding.binds("other", {"env": "prod"})


def test_an_exec_binding_field_that_does_not_exist_is_refused() -> None:
    with pytest.raises(SettingsError, match="unknown field namespace"):
        Settings.from_mapping({"execProviderBindings": {"p": {"namespace": ["fleet"]}}})


def test_the_kubeconfig_of_a_refused_reference_never_appears_in_a_message() -> None:
    token = "token-of-prod-eu-1"
    tenant = profile("tenant-a", "stolen", secret_reader({"namespace": "capi-prod", "name": "prod-eu-1-kubeconfig",
                                                           "key": "value"}))
    plan = plan_of(*_prod_fleet(), tenant, settings=OPERATOR)
    text = " ".join(str(d) for d in plan.diagnostics)
    assert token not in text and base64.b64encode(token.encode()).decode() not in text


def test_a_stored_exec_credential_planted_with_runnable_credentials_is_refused() -> None:
    # The reuse of a stored exec credential reads the profile's own namespace, which a tenant writes.
    tenant = profile("tenant-a", "mine")
    plan = plan_of(tenant, settings=OPERATOR,
                   exec_results={tenant.ref: FakeExecResult(kubeconfig=EXEC_KUBECONFIG)})
    assert refs(plan) == []
    assert "refused: kubeconfig carries exec" in reasons(plan, tenant.ref)[0]


def test_an_exec_binding_with_namespaces_and_labels_needs_both() -> None:
    # Labels are the profile writer's: with a namespace list, they narrow it, never widen it.
    binding = ExecBinding(namespaces=("fleet",), match_labels={"tier": "prod"})
    assert binding.binds("fleet", {"tier": "prod"})
    assert not binding.binds("tenant-a", {"tier": "prod"})
    assert not binding.binds("fleet", {})
    assert not ExecBinding().binds("fleet", {})
