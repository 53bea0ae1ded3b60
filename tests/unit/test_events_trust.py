"""SPEC §9 in events mode: the Lua Sveltos runs between Pulumi runs enforces stack config's routes.

Every test runs the aggregatedSelection script exactly as ``plan_events`` emits it, on
what its EventSource selects, on Lua 5.1 (lupa) and on gopher-lua (the runtime
sveltos-agent embeds), with inputs a tenant can write in its own namespaces: Clusters and
their labels, Secrets, ClusterProfiles, and (under tenancy tools) namespace labels.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inventory.events import plan_events, sveltos_cluster_name, sveltos_kubeconfig_name
from inventory.model import Inventory
from inventory.pipeline import resolve_exec
from inventory.settings import ANY, Mode, Settings, SettingsError
from tests.unit.events_support import (
    capi_cluster,
    cluster_profile,
    home,
    kubeconfig,
    labelled_secret,
    namespace,
    run_gopher_lua,
    run_lua51,
    select_objects,
)

RUNTIMES = {"lua5.1": run_lua51, "gopher-lua": run_gopher_lua}
PUSH = Settings(push_mode=Mode.EVENTS, sveltos_mode=Mode.OFF, consumer_namespaces=("apps",))
PROFILES = Settings(push_mode=Mode.OFF, sveltos_mode=Mode.EVENTS)
CONSUMER_LABEL = "x-k8s.io/cluster-inventory-consumer"
SET_LABEL = "clusterset.multicluster.x-k8s.io"


@pytest.fixture(params=sorted(RUNTIMES))
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def evaluate(objects: list[dict[str, Any]], runtime: str, settings: Settings,
             source: str | None = None) -> dict[str, Any]:
    [event_source] = [obj for obj in plan_events(settings)
                      if obj.kind == "EventSource" and source in (None, obj.name)]
    spec = event_source.fields["spec"]
    return RUNTIMES[runtime](spec["aggregatedSelection"], select_objects(objects, spec["resourceSelectors"]))


# --- inputs --------------------------------------------------------------------------------

def consumers() -> list[dict[str, Any]]:
    return [namespace("apps", {CONSUMER_LABEL: ""}), namespace("tenant-x", {CONSUMER_LABEL: ""}),
            namespace("team-y", {CONSUMER_LABEL: "", "platform.example/consumer": "yes"})]


def pushed(result: dict[str, Any]) -> set[tuple[str, str]]:
    """(consumer namespace, Secret name) of every push target."""
    return {(r["spec"]["secretNamespace"], r["spec"]["secretName"]) for r in result["resources"]}


def profile_targets(objects: list[dict[str, Any]], runtime: str, settings: Settings = PROFILES,
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The SveltosCluster and the kubeconfig EventSources' results."""
    return (evaluate(objects, runtime, settings, sveltos_cluster_name(settings)),
            evaluate(objects, runtime, settings, sveltos_kubeconfig_name(settings)))


# --- A: which namespaces receive credentials -------------------------------------------------

def test_by_default_no_namespace_receives_credentials(runtime: str) -> None:
    objects = consumers() + capi_cluster("fleet", "prod", home("fleet", "prod"))
    result = evaluate(objects, runtime, replace(PUSH, consumer_namespaces=()))
    assert result["resources"] == []
    assert ("Namespace tenant-x skipped: it carries x-k8s.io/cluster-inventory-consumer but stack config routes "
            "no credentials to it (consumerNamespaces, consumerNamespaceSelector)") in result["message"]


def test_a_labelled_namespace_stack_config_does_not_name_receives_nothing(runtime: str) -> None:
    objects = consumers() + capi_cluster("fleet", "prod", home("fleet", "prod"))
    result = evaluate(objects, runtime, PUSH)
    assert pushed(result) == {("apps", "fleet-prod-kubeconfig")}
    assert "Namespace tenant-x skipped" in result["message"]


def test_star_is_seed_000s_rule_every_labelled_namespace(runtime: str) -> None:
    objects = consumers() + [namespace("unlabelled", {})] + capi_cluster("fleet", "prod", home("fleet", "prod"))
    result = evaluate(objects, runtime, replace(PUSH, consumer_namespaces=(ANY,)))
    assert {ns for ns, _ in pushed(result)} == {"apps", "tenant-x", "team-y"}


def test_consumer_namespace_selector_needs_every_pair(runtime: str) -> None:
    settings = replace(PUSH, consumer_namespaces=(),
                       consumer_namespace_selector={"platform.example/consumer": "yes"})
    objects = consumers() + [namespace("half", {CONSUMER_LABEL: "", "platform.example/consumer": "no"})]
    objects += capi_cluster("fleet", "prod", home("fleet", "prod"))
    assert {ns for ns, _ in pushed(evaluate(objects, runtime, settings))} == {"team-y"}


def test_a_namespace_named_in_config_but_not_labelled_receives_nothing(runtime: str) -> None:
    objects = [namespace("apps", {})] + capi_cluster("fleet", "prod", home("fleet", "prod"))
    assert evaluate(objects, runtime, PUSH)["resources"] == []


# --- A: where a Cluster's labels may place it -------------------------------------------------

def test_a_cluster_placing_itself_in_another_namespace_is_refused(runtime: str) -> None:
    objects = consumers() + capi_cluster("tenant-a", "evil", {"clusterprofile-name": "prod-eu-1",
                                                              "clusterprofile-namespace": "fleet"})
    result = evaluate(objects, runtime, PUSH)
    assert result["resources"] == []
    assert ("Cluster tenant-a/evil skipped: its label clusterprofile-namespace places it in namespace fleet, "
            "which clusterPlacementRoutes does not allow for namespace tenant-a") in result["message"]


def test_a_refused_placement_never_displaces_the_rightful_owner(runtime: str) -> None:
    objects = consumers() + capi_cluster("fleet", "prod-eu-1", home("fleet", "prod-eu-1"))
    objects += capi_cluster("tenant-a", "evil", {"clusterprofile-name": "prod-eu-1", "clusterprofile-namespace": "fleet"})
    result = evaluate(objects, runtime, PUSH)
    [target] = result["resources"]
    assert (target["spec"]["clusterNamespace"], target["spec"]["clusterName"]) == ("fleet", "prod-eu-1")
    assert "also claimed" not in result["message"]


def test_a_placement_route_lets_a_cluster_publish_into_the_routed_namespace(runtime: str) -> None:
    settings = replace(PUSH, cluster_placement_routes={"capi-prod": ("fleet",)})
    objects = consumers() + capi_cluster("capi-prod", "eu-1", {"clusterprofile-name": "prod-eu-1",
                                                               "clusterprofile-namespace": "fleet"})
    assert pushed(evaluate(objects, runtime, settings)) == {("apps", "fleet-prod-eu-1-kubeconfig")}


def test_the_default_profile_namespace_needs_a_route_like_any_other(runtime: str) -> None:
    objects = consumers() + capi_cluster("tenant-a", "c", {"clusterprofile-name": "prod-eu-1"})
    result = evaluate(objects, runtime, PUSH)
    assert result["resources"] == []
    assert "Cluster tenant-a/c skipped: defaultProfileNamespace places it in namespace default" in result["message"]
    routed = replace(PUSH, cluster_placement_routes={ANY: ("default",)})
    assert pushed(evaluate(objects, runtime, routed)) == {("apps", "default-prod-eu-1-kubeconfig")}


def test_a_clash_between_allowed_clusters_goes_to_the_one_naming_its_own_namespace(runtime: str) -> None:
    settings = replace(PUSH, cluster_placement_routes={ANY: (ANY,)})
    objects = consumers() + capi_cluster("fleet", "prod-eu-1", home("fleet", "prod-eu-1"))
    objects += capi_cluster("tenant-a", "evil", {"clusterprofile-name": "prod-eu-1", "clusterprofile-namespace": "fleet"})
    result = evaluate(objects, runtime, settings)
    [target] = result["resources"]
    assert target["spec"]["clusterNamespace"] == "fleet"
    assert ("Cluster tenant-a/evil skipped: push Secret name fleet-prod-eu-1-kubeconfig belongs to Cluster "
            "fleet/prod-eu-1, whose own namespace it names") in result["message"]


def test_a_tenant_namespace_claiming_a_clusterset_cannot_take_it_over(runtime: str) -> None:
    # "aaa-tenant" sorts first, but Clusters of capi-prod may place only in fleet.
    settings = replace(PUSH, cluster_placement_routes={"capi-prod": ("fleet",)})
    objects = consumers() + [namespace("aaa-tenant", {SET_LABEL: "prod"}), namespace("fleet", {SET_LABEL: "prod"})]
    objects += capi_cluster("capi-prod", "eu-1", {"clusterprofile-name": "eu-1", "clusterset.k8s.io": "prod"})
    assert pushed(evaluate(objects, runtime, settings)) == {("apps", "fleet-eu-1-kubeconfig")}


def test_a_clusterset_claimed_only_by_a_tenant_falls_back_to_the_default_route(runtime: str) -> None:
    settings = replace(PUSH, cluster_placement_routes={"capi-prod": ("default",)})
    objects = consumers() + [namespace("tenant-a", {SET_LABEL: "prod"})]
    objects += capi_cluster("capi-prod", "eu-1", {"clusterprofile-name": "eu-1", "clusterset.k8s.io": "prod"})
    assert pushed(evaluate(objects, runtime, settings)) == {("apps", "default-eu-1-kubeconfig")}


def test_a_tenant_clusterset_claim_still_serves_the_tenants_own_clusters(runtime: str) -> None:
    settings = replace(PUSH, cluster_placement_routes={"capi-prod": ("fleet",)})
    objects = consumers() + [namespace("aaa-tenant", {SET_LABEL: "prod"}), namespace("fleet", {SET_LABEL: "prod"})]
    objects += capi_cluster("aaa-tenant", "dev", {"clusterprofile-name": "dev", "clusterset.k8s.io": "prod"})
    assert pushed(evaluate(objects, runtime, settings)) == {("apps", "aaa-tenant-dev-kubeconfig")}


# --- static credentials only, outside trustedKubeconfigNamespaces ------------------------------

RUNNABLE_USERS = {
    "exec": "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n",
    "auth-provider": "    auth-provider:\n      name: oidc\n",
    "tokenFile": "    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n",
    "client-certificate": "    client-certificate: /etc/pki/client.crt\n",
    "client-key": "    client-key: /etc/pki/client.key\n",
    "certificate-authority": "    certificate-authority: /etc/pki/ca.crt\n",
    "upper case": "    Exec: {command: sh}\n",
    "flow style": "    {exec: {command: sh}}\n",
    "json": '    {"exec": {"command": "sh"}}\n',
    "escaped key": '    "\\x65xec": {command: sh}\n',
    "binary tag": "    ? !!binary ZXhlYw==\n    : {command: sh}\n",
}


@pytest.mark.parametrize("field", sorted(RUNNABLE_USERS))
def test_a_tenant_clusters_kubeconfig_with_runnable_credentials_is_refused(field: str, runtime: str) -> None:
    objects = consumers() + capi_cluster("fleet", "prod", home("fleet", "prod"),
                                         kubeconfig("prod.example", RUNNABLE_USERS[field]))
    result = evaluate(objects, runtime, PUSH)
    assert result["resources"] == []
    assert "Cluster fleet/prod skipped: kubeconfig Secret fleet/prod-kubeconfig key value: kubeconfig " \
        in result["message"]
    assert "outside trustedKubeconfigNamespaces only static credentials" in result["message"]


def test_a_kubeconfig_in_another_encoding_is_refused(runtime: str) -> None:
    # YAML readers accept UTF-16, where a byte scan would not see "exec".
    text = kubeconfig("prod.example", RUNNABLE_USERS["exec"]).encode("utf-16")
    objects = consumers() + capi_cluster("fleet", "prod", home("fleet", "prod"), text)
    result = evaluate(objects, runtime, PUSH)
    assert result["resources"] == []
    assert "Cluster fleet/prod skipped" in result["message"]


def test_a_field_name_spelled_with_a_letter_a_decoder_folds_is_refused(runtime: str) -> None:
    # Go's encoding/json matches field names case-insensitively, folding the Kelvin sign into "k".
    text = kubeconfig("prod.example", "    to\u212aenFile: /var/run/secrets/token\n")
    objects = consumers() + capi_cluster("fleet", "prod", home("fleet", "prod"), text)
    result = evaluate(objects, runtime, PUSH)
    assert result["resources"] == []
    assert "kubeconfig has bytes outside printable ASCII" in result["message"]


def test_static_credentials_pass_from_any_namespace(runtime: str) -> None:
    objects = consumers() + capi_cluster("fleet", "prod", home("fleet", "prod"))
    result = evaluate(objects, runtime, PUSH)
    assert pushed(result) == {("apps", "fleet-prod-kubeconfig")}
    assert "Cluster" not in result["message"]


def test_a_trusted_namespace_may_carry_exec(runtime: str) -> None:
    settings = replace(PUSH, trusted_kubeconfig_namespaces=("fleet",))
    objects = consumers() + capi_cluster("fleet", "prod", home("fleet", "prod"),
                                         kubeconfig("prod.example", RUNNABLE_USERS["exec"]))
    assert pushed(evaluate(objects, runtime, settings)) == {("apps", "fleet-prod-kubeconfig")}


def test_refusals_never_quote_the_kubeconfig(runtime: str) -> None:
    user = "    token: SECRET-TOKEN-VALUE\n    exec: {command: sh}\n"
    objects = consumers() + capi_cluster("fleet", "prod", home("fleet", "prod"),
                                         kubeconfig("prod.example", user))
    message = evaluate(objects, runtime, PUSH)["message"]
    assert "kubeconfig names exec" in message
    assert "SECRET-TOKEN-VALUE" not in message and "sh}" not in message


# --- B: ClusterProfiles -> SveltosClusters -----------------------------------------------------

def test_an_exec_kubeconfig_in_a_labelled_secret_registers_nothing(runtime: str) -> None:
    objects = [cluster_profile("tenant-a", "dev"),
               labelled_secret("tenant-a", "dev-creds", "dev", kubeconfig("dev.example", RUNNABLE_USERS["exec"]))]
    for result in profile_targets(objects, runtime):
        assert result["resources"] == []
        assert ("ClusterProfile tenant-a/dev skipped: Secret tenant-a/dev-creds (labelled x-k8s.io/cluster-profile=dev) "
                "key kubeconfig: kubeconfig names exec") in result["message"]


def test_a_labelled_secret_in_another_namespace_is_never_read(runtime: str) -> None:
    # The tenant's profile names the production cluster; only its own namespace is searched.
    objects = [cluster_profile("tenant-a", "prod-eu-1"),
               labelled_secret("capi-prod", "prod-eu-1-kubeconfig", "prod-eu-1", kubeconfig("prod.example"))]
    for result in profile_targets(objects, runtime):
        assert result["resources"] == []
        assert "no Secret labelled x-k8s.io/cluster-profile=prod-eu-1 in namespace tenant-a" in result["message"]


def secretreader_status(namespace: str, name: str) -> dict[str, Any]:
    extension = {"name": "client.authentication.k8s.io/exec",
                 "extension": {"namespace": namespace, "name": name, "key": "value"}}
    return {"accessProviders": [{"name": "kubeconfig-secretreader",
                                 "cluster": {"server": "https://attacker.example:6443", "extensions": [extension]}}]}


def test_a_secretreader_reference_to_another_namespace_is_never_followed(runtime: str) -> None:
    objects = [cluster_profile("tenant-a", "stolen", status=secretreader_status("capi-prod", "prod-eu-1-kubeconfig")),
               *capi_cluster("capi-prod", "prod-eu-1", {})]
    settings = replace(PROFILES, secret_reader_routes={ANY: (ANY,)})
    for result in profile_targets(objects, runtime, settings):
        assert result["resources"] == []
        assert "ClusterProfile tenant-a/stolen skipped" in result["message"]
        assert "access providers need direct mode" in result["message"]


def test_an_exec_access_provider_is_never_used(runtime: str) -> None:
    status = {"accessProviders": [{"name": "operator-exec", "cluster": {"server": "https://attacker.example:6443"}}]}
    objects = [cluster_profile("tenant-a", "minted", status=status)]
    for result in profile_targets(objects, runtime):
        assert result["resources"] == []
        assert "access providers need direct mode" in result["message"]


def test_kubeconfig_targets_name_only_secrets_of_the_profiles_namespace(runtime: str) -> None:
    objects = [cluster_profile("tenant-a", "dev"), labelled_secret("tenant-a", "dev-creds", "dev", kubeconfig("dev")),
               cluster_profile("fleet", "prod"), labelled_secret("fleet", "prod-creds", "prod", kubeconfig("prod"))]
    _, kubeconfigs = profile_targets(objects, runtime)
    assert {(r["spec"]["namespace"], r["spec"]["sourceSecretNamespace"]) for r in kubeconfigs["resources"]} == {
        ("tenant-a", "tenant-a"), ("fleet", "fleet")}


def sveltos_cluster_labels(objects: list[dict[str, Any]], runtime: str, settings: Settings) -> dict[str, str]:
    clusters, _ = profile_targets(objects, runtime, settings)
    [target] = clusters["resources"]
    labels: dict[str, str] = target["spec"]["labels"]
    return labels


def labelled_profile(labels: dict[str, str]) -> list[dict[str, Any]]:
    return [cluster_profile("tenant-a", "dev", labels),
            labelled_secret("tenant-a", "dev-creds", "dev", kubeconfig("dev.example"))]


def test_no_profile_label_is_carried_by_default(runtime: str) -> None:
    assert sveltos_cluster_labels(labelled_profile({"env": "prod", "type": "mgmt"}), runtime, PROFILES) == {}


def test_profile_labels_pass_the_allow_list(runtime: str) -> None:
    settings = replace(PROFILES, sveltos_cluster_labels=("env", "team.example/*"))
    labels = {"env": "prod", "team.example/owner": "a", "team.example.evil/x": "b", "other": "c"}
    assert sveltos_cluster_labels(labelled_profile(labels), runtime, settings) == {
        "env": "prod", "team.example/owner": "a"}


def test_a_profile_labelled_like_the_management_cluster_never_matches_it(runtime: str) -> None:
    settings = replace(PROFILES, sveltos_cluster_labels=(ANY,))
    objects = labelled_profile({"type": "mgmt", "env": "prod"})
    assert sveltos_cluster_labels(objects, runtime, settings) == {"env": "prod"}
    clusters, _ = profile_targets(objects, runtime, settings)
    assert ("ClusterProfile tenant-a/dev: label type=mgmt not carried onto its SveltosCluster: it would match "
            "managementClusterSelector") in clusters["message"]


def test_a_selector_label_that_does_not_match_is_carried_like_any_other(runtime: str) -> None:
    settings = replace(PROFILES, sveltos_cluster_labels=(ANY,))
    assert sveltos_cluster_labels(labelled_profile({"type": "edge"}), runtime, settings) == {"type": "edge"}


def test_a_multi_label_selector_is_dropped_only_when_every_pair_would_match(runtime: str) -> None:
    settings = replace(PROFILES, sveltos_cluster_labels=(ANY,),
                       management_cluster_selector={"type": "mgmt", "site": "hq"})
    assert sveltos_cluster_labels(labelled_profile({"type": "mgmt"}), runtime, settings) == {"type": "mgmt"}
    assert sveltos_cluster_labels(labelled_profile({"type": "mgmt", "site": "hq", "env": "a"}), runtime,
                                  settings) == {"env": "a"}


# --- the routes are data, generated from settings ---------------------------------------------

def lua_of(settings: Settings) -> str:
    return "".join(obj.fields["spec"]["aggregatedSelection"] for obj in plan_events(settings) if obj.kind == "EventSource")


def test_reordering_routes_in_stack_config_changes_no_event_source() -> None:
    one = replace(PUSH, consumer_namespaces=("b", "a"), cluster_placement_routes={"x": ("q", "p"), "w": ("z",)})
    two = replace(PUSH, consumer_namespaces=("a", "b"), cluster_placement_routes={"w": ("z",), "x": ("p", "q")})
    assert lua_of(one) == lua_of(two)


def test_exec_plugins_never_run_when_feature_b_is_in_events_mode(tmp_path: Path) -> None:
    # Sveltos cannot run them, and the pipeline does not run them on its behalf: the provider
    # file is not even read (a missing one would be a SettingsError).
    settings = Settings(push_mode=Mode.EVENTS, sveltos_mode=Mode.EVENTS, consumer_namespaces=("apps",),
                        exec_provider_file=str(tmp_path / "missing.yaml"))
    assert resolve_exec(Inventory(), settings, datetime(2026, 1, 1, tzinfo=UTC)) == {}
    with pytest.raises(SettingsError, match="execProviderFile"):
        resolve_exec(Inventory(), replace(settings, sveltos_mode=Mode.DIRECT), datetime(2026, 1, 1, tzinfo=UTC))
