"""The ConfigMap templates, executed by Go's text/template with Sveltos' function map.

For every fixture inventory, each target the Lua emits (on gopher-lua) is rendered
through its ConfigMap template by tools/go/gotemplate (missingkey=error, Sprig and
libsveltos' extra functions, as event-manager instantiates it), on a context shaped like
event-manager's (MatchingResource, Resource, CloudEvent, Cluster). A template whose
ConfigMap also carries projectsveltos.io/template is rendered a second time, as
addon-controller does, with getResource returning the objects the EventTrigger's
templateResourceRefs name once event-manager has instantiated them for the target. The
rendered objects, parsed as YAML, must equal what direct mode declares, field for field,
credentials included.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from inventory.events import (
    plan_events,
    push_name,
    push_template_name,
    sveltos_cluster_name,
    sveltos_kubeconfig_name,
)
from inventory.events.builders import KUBECONFIG_RESOURCE
from inventory.events.sveltos import POLICY_TEMPLATE_ANNOTATION
from inventory.model.inventory import Inventory
from inventory.settings import Mode, Settings
from tests.unit.events_support import (
    FIXTURES,
    HelperFailed,
    capi_cluster,
    cluster_profile,
    crd_schema,
    direct_plan,
    fixture_cases,
    home,
    inventory_objects,
    kubeconfig,
    labelled_secret,
    namespace,
    open_routes,
    read_inventory,
    render_template,
    run_gopher_lua,
    schema_problems,
    select_objects,
)
from tests.unit.test_events_trust import RUNNABLE_USERS

# Compared with direct mode under routes that admit everything; test_events_trust.py tests the routes.
EVENTS = open_routes(Settings(push_mode=Mode.EVENTS, sveltos_mode=Mode.EVENTS))
DIRECT = open_routes(Settings(push_mode=Mode.DIRECT, sveltos_mode=Mode.DIRECT))

# The management cluster as event-manager hands it to templates (.Cluster): the
# SveltosCluster (or CAPI Cluster) the EventTrigger's sourceClusterSelector matched.
MANAGEMENT_CLUSTER = {
    "apiVersion": "lib.projectsveltos.io/v1beta1",
    "kind": "SveltosCluster",
    "metadata": {"name": "mgmt", "namespace": "mgmt", "labels": {"type": "mgmt"}},
    "spec": {},
}


def context(target: dict[str, Any]) -> dict[str, Any]:
    """event-manager's per-resource template data (controllers' currentObject, oneForEvent)."""
    return {
        "MatchingResource": {"APIVersion": target["apiVersion"], "Kind": target["kind"],
                             "Namespace": target["metadata"]["namespace"], "Name": target["metadata"]["name"]},
        "Resource": target,
        "CloudEvent": None,
        "Cluster": MANAGEMENT_CLUSTER,
    }


def render_all(settings: Settings, inventory: Inventory, source: str, template: str) -> list[dict[str, Any]]:
    """Every object Sveltos would create for ``inventory`` through ``source`` (the name of
    the EventSource and its EventTrigger) and ``template``."""
    return render_objects(settings, inventory_objects(inventory), source, template)


def render_objects(settings: Settings, live: list[dict[str, Any]], source: str, template: str,
                   deployed: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``render_all`` for the objects ``live`` as the API server serves them; ``deployed``: the
    objects as they are when addon-controller deploys, if they changed after the Lua ran."""
    objects = {(obj.kind, obj.name): obj for obj in plan_events(settings)}
    spec = objects[("EventSource", source)].fields["spec"]
    refs = objects[("EventTrigger", source)].fields["spec"].get("templateResourceRefs", [])
    config_map = objects[("ConfigMap", template)]
    [text] = config_map.fields["data"].values()
    targets = run_gopher_lua(spec["aggregatedSelection"], select_objects(live, spec["resourceSelectors"]))["resources"]
    rendered = []
    for target in targets:
        instantiated = render_template(text, context(target))
        if POLICY_TEMPLATE_ANNOTATION in config_map.annotations:
            instantiated = render_template(instantiated, {"Cluster": MANAGEMENT_CLUSTER},
                                           template_resources(refs, target, live if deployed is None else deployed))
        rendered.append(yaml.safe_load(instantiated))
    return rendered


def template_resources(refs: list[dict[str, Any]], target: dict[str, Any],
                       live: list[dict[str, Any]]) -> dict[str, Any]:
    """identifier -> object, for each templateResourceRef as event-manager instantiates its
    namespace and name for ``target`` and addon-controller fetches it (absent: left out)."""
    found = {}
    for ref in refs:
        resource = ref["resource"]
        namespace, name = render_template(f"{resource['namespace']}/{resource['name']}", context(target)).split("/")
        for obj in live:
            if (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) == (resource["kind"], namespace, name):
                found[ref["identifier"]] = obj
    return found


def direct_manifests(inventory: Inventory, kind: str) -> list[dict[str, Any]]:
    plan = direct_plan(without_providers(inventory), DIRECT)
    return [obj.manifest(show_secrets=True) for obj in plan.objects if obj.kind == kind]


def without_providers(inventory: Inventory) -> Inventory:
    """Events mode reads only labelled Secrets for B (see test_events_lua.without_providers)."""
    profiles = tuple(replace(p, access_providers=(), credential_providers=()) for p in inventory.profiles)
    return replace(inventory, profiles=profiles)


def by_identity(manifests: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in manifests}


CASES = pytest.mark.parametrize("case", fixture_cases(), ids=lambda path: path.relative_to(FIXTURES).as_posix())


@CASES
def test_rendered_push_secrets_equal_direct_modes(case: Path) -> None:
    inventory = read_inventory(case)
    rendered = render_all(EVENTS, inventory, push_name(EVENTS), push_template_name(EVENTS))
    direct = [m for m in direct_manifests(inventory, "Secret") if "x-k8s.io/cluster-profile" in m["metadata"]["labels"]]
    assert by_identity(rendered) == by_identity(direct)


@CASES
def test_rendered_sveltosclusters_equal_direct_modes(case: Path) -> None:
    inventory = read_inventory(case)
    rendered = render_all(EVENTS, inventory, sveltos_cluster_name(EVENTS), sveltos_cluster_name(EVENTS))
    assert by_identity(rendered) == by_identity(direct_manifests(inventory, "SveltosCluster"))
    for manifest in rendered:
        assert schema_problems(manifest, crd_schema("SveltosCluster", "v1beta1")) == []


@CASES
def test_rendered_sveltos_kubeconfig_secrets_equal_direct_modes(case: Path) -> None:
    inventory = read_inventory(case)
    rendered = render_all(EVENTS, inventory, sveltos_kubeconfig_name(EVENTS), sveltos_kubeconfig_name(EVENTS))
    direct = [m for m in direct_manifests(inventory, "Secret")
              if m["metadata"]["name"].endswith("-sveltos-kubeconfig")]
    assert by_identity(rendered) == by_identity(direct)


def test_fixtures_render_every_kind_at_least_once() -> None:
    # Guards the parametrized comparisons above against comparing empty lists only.
    kinds: set[str] = set()
    for case in fixture_cases():
        inventory = read_inventory(case)
        for source, template in ((push_name(EVENTS), push_template_name(EVENTS)),
                                 (sveltos_cluster_name(EVENTS), sveltos_cluster_name(EVENTS)),
                                 (sveltos_kubeconfig_name(EVENTS), sveltos_kubeconfig_name(EVENTS))):
            kinds |= {f"{m['kind']}/{source}" for m in render_all(EVENTS, inventory, source, template)}
    assert kinds == {f"Secret/{push_name(EVENTS)}", f"SveltosCluster/{sveltos_cluster_name(EVENTS)}",
                     f"Secret/{sveltos_kubeconfig_name(EVENTS)}"}


def test_configured_output_conventions_reach_the_templates() -> None:
    settings = replace(EVENTS, push_secret_key="kubeconfig.yaml", profile_label="example.com/profile",
                       profile_namespace_label="example.com/profile-namespace",
                       managed_by_label="example.com/owner", managed_by_value="platform",
                       display_name_annotation="example.com/title")
    inventory = read_inventory(FIXTURES / "events-push" / "same-name-clusters")
    [secret, _] = render_all(settings, inventory, push_name(settings), push_template_name(settings))
    assert secret["metadata"]["labels"] == {"example.com/profile": "prod-a", "example.com/profile-namespace": "default",
                                            "example.com/owner": "platform"}
    assert list(secret["data"]) == ["kubeconfig.yaml"]

    settings = replace(settings, profile_label="x-k8s.io/cluster-profile")  # the fixture's Secrets carry it
    profiles = read_inventory(FIXTURES / "events-profiles" / "labelled")
    rendered = render_all(settings, profiles, sveltos_cluster_name(settings), sveltos_cluster_name(settings))
    alpha = by_identity(rendered)[("fleet", "alpha")]
    assert alpha["metadata"]["annotations"] == {"example.com/title": "Alpha One"}
    assert alpha["metadata"]["labels"]["example.com/owner"] == "platform"


def sveltoscluster_target(labels: dict[str, str], display_name: str) -> dict[str, Any]:
    return {"apiVersion": "x/v1", "kind": "SveltosClusterTarget", "metadata": {"name": "a", "namespace": "n"},
            "spec": {"name": "a", "namespace": "n", "secretName": "a-sveltos-kubeconfig", "kubeconfigKey": "config",
                     "labels": labels, "displayName": display_name}}


def render_sveltoscluster(target: dict[str, Any]) -> dict[str, Any]:
    [text] = next(obj for obj in plan_events(EVENTS)
                  if obj.kind == "ConfigMap" and obj.name == sveltos_cluster_name(EVENTS)).fields["data"].values()
    rendered: dict[str, Any] = yaml.safe_load(render_template(text, context(target)))
    return rendered


def test_label_values_are_quoted_so_yaml_keeps_them_strings() -> None:
    # A ClusterProfile label "true" or "123" must stay a string in the rendered object.
    rendered = render_sveltoscluster(sveltoscluster_target({"enabled": "true", "count": "123", "empty": ""}, ""))
    assert rendered["metadata"]["labels"] == {"enabled": "true", "count": "123", "empty": "",
                                              "app.kubernetes.io/managed-by": "cluster-inventory"}
    assert "annotations" not in rendered["metadata"]


@pytest.mark.parametrize("display_name", ['Say "hi"', "two\nlines", "tab\there: colon # hash", "ünïcödé ✓", "- [x]"])
def test_any_display_name_survives_the_template(display_name: str) -> None:
    rendered = render_sveltoscluster(sveltoscluster_target({}, display_name))
    assert rendered["metadata"]["annotations"] == {"clusterinventory.projectsveltos.io/display-name": display_name}


CREDENTIAL_TEMPLATES = pytest.mark.parametrize(("fixture", "name"), [
    (FIXTURES / "events-push" / "same-name-clusters", push_name(EVENTS)),
    (FIXTURES / "events-profiles" / "labelled", sveltos_kubeconfig_name(EVENTS)),
], ids=["push", "sveltos-kubeconfig"])


def first_pass(fixture: Path, name: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """(what event-manager instantiates for the first target, that target, the inventory)
    of the EventSource, EventTrigger and template ``name``."""
    objects = {(obj.kind, obj.name): obj for obj in plan_events(EVENTS)}
    spec = objects[("EventSource", name)].fields["spec"]
    live = inventory_objects(read_inventory(fixture))
    [target, *_] = run_gopher_lua(spec["aggregatedSelection"], select_objects(live, spec["resourceSelectors"]))["resources"]
    policy = objects[("EventTrigger", name)].fields["spec"]["policyRefs"][0]["name"]
    [text] = objects[("ConfigMap", policy)].fields["data"].values()
    return render_template(text, context(target)), target, live


@CREDENTIAL_TEMPLATES
def test_credentials_are_left_to_addon_controllers_pass(fixture: Path, name: str) -> None:
    # What event-manager writes into the ConfigMap it instantiates (and what the
    # EventReport's target carries) names the source Secret, never its bytes.
    instantiated, target, live = first_pass(fixture, name)
    credentials = [value for obj in live if obj["kind"] == "Secret" for value in (obj.get("data") or {}).values()]
    assert credentials and not any(value in instantiated or value in str(target) for value in credentials)
    assert f'getResource "{KUBECONFIG_RESOURCE}"' in instantiated


@CREDENTIAL_TEMPLATES
def test_credential_templates_fail_when_the_source_secret_is_not_fetched(fixture: Path, name: str) -> None:
    # addon-controller fails the deployment (and retries) rather than writing an empty Secret.
    instantiated, _, _ = first_pass(fixture, name)
    with pytest.raises(HelperFailed, match='map has no entry for key "data"'):
        render_template(instantiated, {"Cluster": MANAGEMENT_CLUSTER}, {})


def test_a_template_reading_a_missing_field_fails_like_event_manager() -> None:
    # The harness uses missingkey=error as event-manager does: the comparisons above
    # would catch a template reading a field the Lua does not emit.
    with pytest.raises(HelperFailed, match='map has no entry for key "nope"'):
        render_template("{{ .Resource.spec.nope }}", context({"apiVersion": "x/v1", "kind": "K",
                                                             "metadata": {"name": "a", "namespace": "n"},
                                                             "spec": {}}))


# --- what Sveltos writes for a tenant's attack (SPEC §9) ------------------------------------------

ROUTED = replace(EVENTS, consumer_namespaces=("apps",), cluster_placement_routes={}, trusted_kubeconfig_namespaces=())


def test_rendered_push_secrets_land_only_in_routed_namespaces_and_only_for_allowed_clusters() -> None:
    live = [namespace("apps", {"x-k8s.io/cluster-inventory-consumer": ""}),
            namespace("tenant-x", {"x-k8s.io/cluster-inventory-consumer": ""}),
            *capi_cluster("fleet", "prod-eu-1", home("fleet", "prod-eu-1")),
            *capi_cluster("tenant-a", "evil", {"clusterprofile-name": "prod-eu-1", "clusterprofile-namespace": "fleet"}),
            *capi_cluster("tenant-a", "runner", home("tenant-a", "runner"),
                          kubeconfig("runner.example", "    exec: {command: sh}\n"))]
    rendered = render_objects(ROUTED, live, push_name(ROUTED), push_template_name(ROUTED))
    assert [(m["metadata"]["namespace"], m["metadata"]["name"]) for m in rendered] == [
        ("apps", "fleet-prod-eu-1-kubeconfig")]
    [secret] = rendered
    assert secret["data"]["config"] == live[3]["data"]["value"]  # fleet/prod-eu-1-kubeconfig's own bytes


def test_rendered_sveltoscluster_of_a_profile_labelled_like_the_management_cluster_does_not_match_it() -> None:
    live = [cluster_profile("tenant-a", "dev", {"type": "mgmt", "env": "dev"}),
            labelled_secret("tenant-a", "dev-creds", "dev", kubeconfig("dev.example"))]
    [cluster] = render_objects(ROUTED, live, sveltos_cluster_name(ROUTED), sveltos_cluster_name(ROUTED))
    selector = MANAGEMENT_CLUSTER["metadata"]["labels"]
    assert not selector.items() <= cluster["metadata"]["labels"].items()
    assert cluster["metadata"]["labels"] == {"env": "dev", "app.kubernetes.io/managed-by": "cluster-inventory"}


def test_nothing_is_rendered_for_a_labelled_secret_carrying_exec() -> None:
    live = [cluster_profile("tenant-a", "dev"),
            labelled_secret("tenant-a", "dev-creds", "dev", kubeconfig("dev.example", "    exec: {command: sh}\n"))]
    for name in (sveltos_cluster_name(ROUTED), sveltos_kubeconfig_name(ROUTED)):
        assert render_objects(ROUTED, live, name, name) == []


# --- the second pass checks what it copies (the Secret may change after the Lua ran) ---------------

EXEC_USER = "    exec: {command: sh}\n"


def with_kubeconfig(live: list[dict[str, Any]], secret: str, text: str | bytes) -> list[dict[str, Any]]:
    """``live`` with every data value of Secret ``secret`` (ns/name) replaced by ``text``."""
    data = base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()
    changed = []
    for obj in live:
        if obj["kind"] == "Secret" and f"{obj['metadata']['namespace']}/{obj['metadata']['name']}" == secret:
            obj = {**obj, "data": {key: data for key in obj["data"]}}
        changed.append(obj)
    return changed


def test_a_push_secret_is_not_written_when_its_source_turned_runnable_after_the_lua_ran() -> None:
    live = [namespace("apps", {"x-k8s.io/cluster-inventory-consumer": ""}),
            *capi_cluster("tenant-a", "dev", home("tenant-a", "dev"))]
    deployed = with_kubeconfig(live, "tenant-a/dev-kubeconfig", kubeconfig("dev.example", EXEC_USER))
    with pytest.raises(HelperFailed, match="Secret tenant-a/dev-kubeconfig key value: kubeconfig carries more than "
                                           "static credentials"):
        render_objects(ROUTED, live, push_name(ROUTED), push_template_name(ROUTED), deployed)


def test_a_sveltos_kubeconfig_is_not_written_when_its_labelled_secret_turned_runnable_after_the_lua_ran() -> None:
    live = [cluster_profile("tenant-a", "dev"),
            labelled_secret("tenant-a", "dev-creds", "dev", kubeconfig("dev.example"))]
    deployed = with_kubeconfig(live, "tenant-a/dev-creds", kubeconfig("dev.example", EXEC_USER))
    name = sveltos_kubeconfig_name(ROUTED)
    with pytest.raises(HelperFailed, match="Secret tenant-a/dev-creds key kubeconfig: kubeconfig carries more"):
        render_objects(ROUTED, live, name, name, deployed)


RUNNABLE_KUBECONFIGS: dict[str, str | bytes] = {
    **{variant: kubeconfig("dev.example", user) for variant, user in RUNNABLE_USERS.items()},
    "utf-16": kubeconfig("dev.example", EXEC_USER).encode("utf-16"),
    "kelvin sign": kubeconfig("dev.example", "    to\u212aenFile: /var/run/secrets/token\n"),
}


@pytest.mark.parametrize("variant", sorted(RUNNABLE_KUBECONFIGS))
def test_the_second_pass_refuses_what_the_lua_refuses(variant: str) -> None:
    live = [namespace("apps", {"x-k8s.io/cluster-inventory-consumer": ""}),
            *capi_cluster("tenant-a", "dev", home("tenant-a", "dev"))]
    deployed = with_kubeconfig(live, "tenant-a/dev-kubeconfig", RUNNABLE_KUBECONFIGS[variant])
    with pytest.raises(HelperFailed, match="kubeconfig carries more than static credentials"):
        render_objects(ROUTED, live, push_name(ROUTED), push_template_name(ROUTED), deployed)


def test_the_second_pass_copies_a_static_kubeconfig_as_is() -> None:
    live = [namespace("apps", {"x-k8s.io/cluster-inventory-consumer": ""}),
            *capi_cluster("tenant-a", "dev", home("tenant-a", "dev"))]
    rotated = kubeconfig("dev.example", "    token: rotated\n")
    deployed = with_kubeconfig(live, "tenant-a/dev-kubeconfig", rotated)
    [secret] = render_objects(ROUTED, live, push_name(ROUTED), push_template_name(ROUTED), deployed)
    assert base64.b64decode(secret["data"]["config"]).decode() == rotated


def test_a_trusted_namespaces_kubeconfig_is_copied_without_the_check() -> None:
    settings = replace(ROUTED, trusted_kubeconfig_namespaces=("tenant-a",))
    live = [namespace("apps", {"x-k8s.io/cluster-inventory-consumer": ""}),
            *capi_cluster("tenant-a", "dev", home("tenant-a", "dev"), kubeconfig("dev.example", EXEC_USER))]
    objects = {(obj.kind, obj.name): obj for obj in plan_events(settings)}
    [text] = objects[("ConfigMap", push_template_name(settings))].fields["data"].values()
    [target] = run_gopher_lua(objects[("EventSource", push_name(settings))].fields["spec"]["aggregatedSelection"],
                              select_objects(live, objects[("EventSource", push_name(settings))]
                                             .fields["spec"]["resourceSelectors"]))["resources"]
    assert target["spec"]["staticOnly"] is False
    assert "regexMatch" not in render_template(text, context(target))
    [secret] = render_objects(settings, live, push_name(settings), push_template_name(settings))
    assert "exec" in base64.b64decode(secret["data"]["config"]).decode()
