"""The aggregatedSelection Lua of the Event Framework objects, run on real Lua runtimes.

Each test runs a script exactly as ``plan_events`` emits it, on what its EventSource's
resourceSelectors select from an inventory, on a reference Lua 5.1 (lupa) and on
gopher-lua (the runtime sveltos-agent embeds), and decodes the result as sveltos-agent
does. The cross-checks run every fixture inventory (tests/fixtures/) through direct
mode's ``build_plan`` too and require the same Secrets and the same skipped inputs.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from inventory.events import plan_events, sveltos_cluster_name, sveltos_kubeconfig_name
from inventory.model.diagnostics import Severity
from inventory.model.inventory import Inventory
from inventory.model.objects import DesiredObject
from inventory.settings import ANY, Mode, Settings
from tests.seed_routes import SEED_ROUTES
from tests.unit.events_support import (
    FIXTURES,
    direct_plan,
    fixture_cases,
    inventory_objects,
    open_routes,
    read_inventory,
    run_gopher_lua,
    run_lua51,
    select_objects,
)

Runtime = Callable[[str, list[dict[str, Any]]], dict[str, Any]]
RUNTIMES: dict[str, Runtime] = {"lua5.1": run_lua51, "gopher-lua": run_gopher_lua}
PUSH_FIXTURES = FIXTURES / "events-push"
PROFILE_FIXTURES = FIXTURES / "events-profiles"
# Compared with direct mode under routes that admit everything; test_events_trust.py tests the routes.
PUSH_EVENTS = open_routes(Settings(push_mode=Mode.EVENTS, sveltos_mode=Mode.OFF))
PUSH_DIRECT = open_routes(Settings(push_mode=Mode.DIRECT, sveltos_mode=Mode.OFF))
PROFILES_EVENTS = open_routes(Settings(push_mode=Mode.OFF, sveltos_mode=Mode.EVENTS))
PROFILES_DIRECT = open_routes(Settings(push_mode=Mode.OFF, sveltos_mode=Mode.DIRECT))
SKIP_NOTE = re.compile(r"(Cluster|ClusterProfile) ([^ /]+/[^ ]+) skipped: ")


# Route settings (SPEC §9) under which events mode must decide exactly what direct mode decides.
ROUTES: dict[str, dict[str, Any]] = {
    "seed": dict(SEED_ROUTES),
    "none": {},
    "named": {"consumer_namespaces": ("apps", "consumer-1"),
              "consumer_namespace_selector": {"platform.example/consumer": "yes"},
              "cluster_placement_routes": {"capi-prod": ("fleet",), "mgmt": ("default",)},
              "sveltos_cluster_labels": ("env", "tier")},
    "trusting": {"consumer_namespaces": (ANY,), "cluster_placement_routes": {ANY: (ANY,)},
                 "trusted_kubeconfig_namespaces": ("aaa-tenant", "fleet"), "sveltos_cluster_labels": (ANY,)},
}


@pytest.fixture(params=sorted(ROUTES))
def routes(request: pytest.FixtureRequest) -> dict[str, Any]:
    return ROUTES[str(request.param)]


@pytest.fixture(params=sorted(RUNTIMES))
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def event_source(settings: Settings, name: str | None = None) -> dict[str, Any]:
    sources = [obj for obj in plan_events(settings) if obj.kind == "EventSource" and name in (None, obj.name)]
    assert len(sources) == 1
    spec: dict[str, Any] = dict(sources[0].fields["spec"])
    return spec


def evaluate(objects: list[dict[str, Any]], runtime: str, settings: Settings = PUSH_EVENTS,
             source: str | None = None) -> dict[str, Any]:
    spec = event_source(settings, source)
    return RUNTIMES[runtime](spec["aggregatedSelection"], select_objects(objects, spec["resourceSelectors"]))


def fixture_objects(path: Path) -> list[dict[str, Any]]:
    return inventory_objects(read_inventory(path))


def skipped_in_notes(message: str) -> set[str]:
    return {f"{kind} {ref}" for kind, ref in SKIP_NOTE.findall(message)}


def skipped_by_direct_mode(diagnostics: Any, kind: str) -> set[str]:
    return {str(d.subject) for d in diagnostics
            if d.subject.kind == kind and d.severity is Severity.WARNING and d.reason.startswith("skipped")}


# --- A: push targets ------------------------------------------------------------------------

class PushTarget(NamedTuple):
    """What a push target decides: which Secret, where, for which profile, with which kubeconfig."""

    namespace: str
    name: str
    profile_namespace: str
    profile_name: str
    kubeconfig: str  # base64, as Secret data; "" when not looked up


def push_targets(result: dict[str, Any], objects: list[dict[str, Any]] | None = None) -> set[PushTarget]:
    """The targets, each with the kubeconfig its Secret reference resolves to in ``objects``
    (as addon-controller fetches it when it deploys; the target carries no kubeconfig)."""
    secrets = {(obj["metadata"]["namespace"], obj["metadata"]["name"]): obj
               for obj in objects or [] if obj["kind"] == "Secret"}
    found = set()
    for resource in result["resources"]:
        spec = resource["spec"]
        assert resource["kind"] == "PushSecretTarget"
        assert resource["metadata"]["namespace"] == spec["secretNamespace"]
        assert "kubeconfig" not in spec
        kubeconfig = ""
        if objects is not None:
            secret = secrets[(spec["kubeconfigSecretNamespace"], spec["kubeconfigSecretName"])]
            kubeconfig = secret["data"][spec["kubeconfigKey"]]
        found.add(PushTarget(spec["secretNamespace"], spec["secretName"], spec["profileNamespace"],
                             spec["profileName"], kubeconfig))
    return found


def direct_push_targets(objects: tuple[DesiredObject, ...]) -> set[PushTarget]:
    return {
        PushTarget(obj.namespace or "", obj.name, obj.labels["x-k8s.io/cluster-profile-namespace"],
                   obj.labels["x-k8s.io/cluster-profile"], base64.b64encode(obj.secret_data["config"]).decode())
        for obj in objects
        if obj.kind == "Secret"
    }


def server(target: PushTarget) -> str:
    """The kubeconfig's server: enough to tell whose credentials a Secret carries."""
    match = re.search(r"server: (\S+)", base64.b64decode(target.kubeconfig).decode())
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("case", fixture_cases(), ids=lambda path: path.relative_to(FIXTURES).as_posix())
def test_push_targets_are_direct_modes_push_secrets(case: Path, runtime: str, routes: dict[str, Any]) -> None:
    inventory = read_inventory(case)
    direct = direct_plan(inventory, Settings(push_mode=Mode.DIRECT, sveltos_mode=Mode.OFF, **routes))
    objects = inventory_objects(inventory)
    result = evaluate(objects, runtime, Settings(push_mode=Mode.EVENTS, sveltos_mode=Mode.OFF, **routes))
    assert push_targets(result, objects) == direct_push_targets(direct.objects)
    assert skipped_in_notes(result["message"]) == skipped_by_direct_mode(direct.diagnostics, "Cluster")


def test_same_named_clusters_get_their_own_namespace_kubeconfig(runtime: str) -> None:
    objects = fixture_objects(PUSH_FIXTURES / "same-name-clusters")
    assert {(t.name, server(t)) for t in push_targets(evaluate(objects, runtime), objects)} == {
        ("default-prod-a-kubeconfig", "https://team-a.example:6443"),
        ("default-prod-b-kubeconfig", "https://team-b.example:6443"),
    }


def test_clusterset_claimed_by_several_namespaces_resolves_to_the_first_name(runtime: str) -> None:
    result = evaluate(fixture_objects(PUSH_FIXTURES / "clusterset-tie"), runtime)
    assert {(t.namespace, t.name, t.profile_namespace) for t in push_targets(result)} == {
        ("consumer-1", "set-b-edge-kubeconfig", "set-b"),
    }
    assert ("ClusterSet blue is claimed by Namespaces set-b, set-m, set-z; each Cluster uses the first of them "
            "it may place in") in result["message"]


def test_clusterset_choice_does_not_depend_on_list_order(runtime: str) -> None:
    spec = event_source(PUSH_EVENTS)
    selected = select_objects(fixture_objects(PUSH_FIXTURES / "clusterset-tie"), spec["resourceSelectors"])
    forward = RUNTIMES[runtime](spec["aggregatedSelection"], selected)
    backward = RUNTIMES[runtime](spec["aggregatedSelection"], list(reversed(selected)))
    assert forward == backward


def test_cluster_without_kubeconfig_is_skipped_and_named(runtime: str) -> None:
    result = evaluate(fixture_objects(PUSH_FIXTURES / "missing-kubeconfig"), runtime)
    assert {t.name for t in push_targets(result)} == {"default-ok-kubeconfig"}
    assert skipped_in_notes(result["message"]) == {"Cluster mgmt/lonely", "Cluster mgmt/wrong-type"}


def test_two_clusters_wanting_one_secret_get_neither(runtime: str) -> None:
    result = evaluate(fixture_objects(PUSH_FIXTURES / "duplicate-target"), runtime)
    assert {t.name for t in push_targets(result)} == {"default-solo-kubeconfig"}
    assert ("Cluster mgmt/one skipped: push Secret name default-shared-kubeconfig is also claimed by "
            "Cluster mgmt/two; neither is written") in result["message"]


def test_cluster_served_under_two_capi_versions_counts_once(runtime: str) -> None:
    # select_objects serves every Cluster as v1beta1 and v1beta2, like an API server
    # with both versions: without de-duplication each Cluster would clash with itself.
    result = evaluate(fixture_objects(PUSH_FIXTURES / "same-name-clusters"), runtime)
    assert len(result["resources"]) == 2
    assert result["message"] == ""


def test_nothing_to_emit_leaves_resources_out(runtime: str) -> None:
    # An empty Lua table would reach sveltos-agent as a JSON object, which it cannot
    # decode as its resource list; the harness rejects that the same way.
    assert evaluate([], runtime) == {"resources": [], "message": ""}


def test_capi_namespaces_limit_the_clusters(runtime: str) -> None:
    settings = replace(PUSH_EVENTS, capi_namespaces=("team-b",))
    result = evaluate(fixture_objects(PUSH_FIXTURES / "same-name-clusters"), runtime, settings)
    assert {t.profile_name for t in push_targets(result)} == {"prod-b"}


def test_configured_label_keys_and_default_namespace_reach_the_lua(runtime: str) -> None:
    settings = replace(PUSH_EVENTS, cluster_profile_name_label="example.com/profile",
                       consumer_namespace_label="example.com/consumer", default_profile_namespace="fleet")
    objects = [
        _cluster("mgmt", "c1", {"example.com/profile": "p1"}),
        _kubeconfig_secret("mgmt", "c1"),
        _namespace("apps", {"example.com/consumer": ""}),
    ]
    assert {(t.namespace, t.name, t.profile_namespace) for t in push_targets(evaluate(objects, runtime, settings))} \
        == {("apps", "fleet-p1-kubeconfig", "fleet")}


def test_long_secret_names_get_a_short_stable_target_name(runtime: str) -> None:
    # The target's own name becomes a label value in Sveltos (at most 63 characters);
    # the Secret keeps its full name.
    objects = [
        _cluster("mgmt", "long", {"clusterprofile-name": "p" * 63, "clusterprofile-namespace": "n" * 63}),
        _kubeconfig_secret("mgmt", "long"),
        _namespace("apps", {"x-k8s.io/cluster-inventory-consumer": ""}),
    ]
    [resource] = evaluate(objects, runtime)["resources"]
    assert resource["spec"]["secretName"] == f"{'n' * 63}-{'p' * 63}-kubeconfig"
    assert len(resource["metadata"]["name"]) <= 63
    assert re.fullmatch(r"n{52}-\d{10}", resource["metadata"]["name"])
    assert evaluate(objects, runtime)["resources"][0]["metadata"] == resource["metadata"]


def test_profile_name_that_cannot_name_a_secret_is_skipped_and_named(runtime: str) -> None:
    objects = [
        _cluster("mgmt", "bad", {"clusterprofile-name": "Upper_Case"}),
        _kubeconfig_secret("mgmt", "bad"),
        _namespace("apps", {"x-k8s.io/cluster-inventory-consumer": ""}),
    ]
    result = evaluate(objects, runtime)
    assert result["resources"] == []
    assert result["message"].startswith(
        "Cluster mgmt/bad skipped: push Secret name default-Upper_Case-kubeconfig is not a DNS-1123 subdomain")


def test_runtimes_agree_on_every_fixture() -> None:
    for case in fixture_cases():
        objects = fixture_objects(case)
        for settings, source in ((PUSH_EVENTS, None),
                                 (PROFILES_EVENTS, sveltos_cluster_name(PROFILES_EVENTS)),
                                 (PROFILES_EVENTS, sveltos_kubeconfig_name(PROFILES_EVENTS))):
            assert evaluate(objects, "lua5.1", settings, source) == evaluate(objects, "gopher-lua", settings, source)


# --- B: ClusterProfile targets ---------------------------------------------------------------

def without_providers(inventory: Inventory) -> Inventory:
    """Direct mode as events mode can follow it: access providers need direct mode (Sveltos
    cannot run exec plugins or read arbitrary Secrets), so only labelled Secrets count."""
    profiles = tuple(replace(p, access_providers=(), credential_providers=()) for p in inventory.profiles)
    return replace(inventory, profiles=profiles)


@pytest.mark.parametrize("case", fixture_cases(), ids=lambda path: path.relative_to(FIXTURES).as_posix())
def test_profile_targets_are_direct_modes_sveltos_objects(case: Path, runtime: str, routes: dict[str, Any]) -> None:
    inventory = read_inventory(case)
    settings = Settings(push_mode=Mode.OFF, sveltos_mode=Mode.EVENTS, **routes)
    direct = direct_plan(without_providers(inventory), Settings(push_mode=Mode.OFF, sveltos_mode=Mode.DIRECT, **routes))
    objects = inventory_objects(inventory)
    clusters = evaluate(objects, runtime, settings, sveltos_cluster_name(settings))
    kubeconfigs = evaluate(objects, runtime, settings, sveltos_kubeconfig_name(settings))
    # A kubeconfig target names the labelled Secret; addon-controller copies its data.
    secrets = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "Secret"}

    managed_by = settings.managed_by_label
    expected_clusters = {
        (obj.namespace, obj.name, obj.fields["spec"]["kubeconfigName"], obj.fields["spec"]["kubeconfigKeyName"],
         tuple(sorted((k, v) for k, v in obj.labels.items() if k != managed_by)))
        for obj in direct.objects if obj.kind == "SveltosCluster"
    }
    # The template merges the managed-by label over the carried ones, as direct mode does.
    assert {(r["spec"]["namespace"], r["spec"]["name"], r["spec"]["secretName"], r["spec"]["kubeconfigKey"],
             tuple(sorted((k, v) for k, v in r["spec"]["labels"].items() if k != managed_by)))
            for r in clusters["resources"]} == expected_clusters
    expected_secrets = {
        (obj.namespace, obj.name, tuple(sorted((k, base64.b64encode(v).decode()) for k, v in obj.secret_data.items())))
        for obj in direct.objects if obj.kind == "Secret"
    }
    assert not any("data" in r["spec"] for r in kubeconfigs["resources"])
    assert {(r["spec"]["namespace"], r["spec"]["secretName"],
             tuple(sorted(secrets[(r["spec"]["sourceSecretNamespace"], r["spec"]["sourceSecretName"])]["data"].items())))
            for r in kubeconfigs["resources"]} == expected_secrets
    skipped = skipped_by_direct_mode(direct.diagnostics, "ClusterProfile")
    assert skipped_in_notes(clusters["message"]) == skipped
    assert skipped_in_notes(kubeconfigs["message"]) == skipped


def test_sveltoscluster_targets_carry_no_credentials(runtime: str) -> None:
    result = evaluate(fixture_objects(PROFILE_FIXTURES / "labelled"), runtime, PROFILES_EVENTS,
                      sveltos_cluster_name(PROFILES_EVENTS))
    alpha = next(r for r in result["resources"] if r["metadata"] == {"name": "alpha", "namespace": "fleet"})
    assert alpha["spec"] == {
        "name": "alpha", "namespace": "fleet", "secretName": "alpha-sveltos-kubeconfig", "kubeconfigKey": "config",
        "labels": {"env": "prod", "app.kubernetes.io/managed-by": "someone-else"}, "displayName": "Alpha One",
    }


def test_own_push_secrets_are_never_read_back_as_credentials(runtime: str) -> None:
    result = evaluate(fixture_objects(PROFILE_FIXTURES / "skipped"), runtime, PROFILES_EVENTS,
                      sveltos_kubeconfig_name(PROFILES_EVENTS))
    assert "ClusterProfile fleet/zeta skipped: no Secret labelled x-k8s.io/cluster-profile=zeta" in result["message"]
    assert [r["spec"]["name"] for r in result["resources"]] == ["ok"]


def _cluster(namespace: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": {"namespace": namespace, "name": name, "labels": labels}, "spec": {}}


def _namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _kubeconfig_secret(namespace: str, cluster: str) -> dict[str, Any]:
    kubeconfig = (f"apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n"
                  f"    server: https://{cluster}.example:6443\n")
    return {"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
            "metadata": {"namespace": namespace, "name": f"{cluster}-kubeconfig",
                         "labels": {"cluster.x-k8s.io/cluster-name": cluster}},
            "data": {"value": base64.b64encode(kubeconfig.encode()).decode()}}


def test_events_fixtures_parse_cleanly() -> None:
    # A fixture object the parser rejected would silently drop out of both sides.
    for case in fixture_cases():
        if case.parent.name.startswith("events-"):
            assert read_inventory(case).diagnostics == (), case


def test_profile_lua_matches_the_clusterprofile_group_the_model_spells() -> None:
    # Lua cannot import inventory.model: its copy of the API group must stay the model's.
    from inventory.model import CLUSTER_PROFILE_GROUP

    script = (Path(__file__).resolve().parents[2] / "inventory/events/lua/profile_targets.lua").read_text()
    assert f'local PROFILE_GROUP_PREFIX = "{CLUSTER_PROFILE_GROUP}/"' in script
