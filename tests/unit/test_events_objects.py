"""plan_events: which Event Framework objects are planned, their names, labels and shapes.

The emitted EventSources and EventTriggers are checked against the openAPIV3Schema of the
pinned libsveltos / event-manager CRDs (read from the Go module cache), so every field
this program writes exists in the API they are applied to.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from lupa import lua51  # type: ignore[import-untyped]

from inventory.events import (
    plan_events,
    push_name,
    push_template_name,
    sveltos_cluster_name,
    sveltos_kubeconfig_name,
)
from inventory.events.assets import go_string, lua_config, lua_string
from inventory.events.builders import CAPI_KUBECONFIG_CEL, KUBECONFIG_RESOURCE
from inventory.events.extras import (
    DEPLOYMENT_TYPES,
    EVENT_SOURCE_SPEC_FIELDS,
    EVENT_TRIGGER_SPEC_FIELDS,
    GENERATOR_FIELDS,
    POLICY_REF_FIELDS,
    RESOURCE_SELECTOR_FIELDS,
    TEMPLATE_RESOURCE_FIELDS,
    TEMPLATE_RESOURCE_REF_FIELDS,
)
from inventory.events.sveltos import (
    INSTANTIATE_ANNOTATION,
    LABEL_FILTER_OPERATIONS,
    MAX_EVENT_NAME_LENGTH,
    POLICY_REF_KINDS,
    POLICY_TEMPLATE_ANNOTATION,
)
from inventory.model.inventory import Inventory
from inventory.model.names import is_label_value, name_problem
from inventory.model.objects import DesiredObject, Feature
from inventory.plan.compose import build_plan
from inventory.settings import Mode, Settings, SettingsError
from tests.unit.events_support import (
    REPO,
    crd_schema,
    pinned_versions,
    render_template,
    schema_problems,
)

PUSH = Settings(push_mode=Mode.EVENTS, sveltos_mode=Mode.OFF)
PROFILES = Settings(push_mode=Mode.OFF, sveltos_mode=Mode.EVENTS)
BOTH = Settings(push_mode=Mode.EVENTS, sveltos_mode=Mode.EVENTS)


def kinds_and_names(objects: tuple[DesiredObject, ...]) -> set[tuple[str, str | None, str]]:
    return {(obj.kind, obj.namespace, obj.name) for obj in objects}


def find(objects: tuple[DesiredObject, ...], kind: str, name: str) -> DesiredObject:
    return next(obj for obj in objects if obj.kind == kind and obj.name == name)


@pytest.mark.parametrize("mode", [Mode.DIRECT, Mode.OFF])
def test_no_feature_in_events_mode_plans_nothing(mode: Mode) -> None:
    assert plan_events(Settings(push_mode=mode, sveltos_mode=mode)) == ()


def test_push_in_events_mode_plans_a_source_a_trigger_and_a_template() -> None:
    assert kinds_and_names(plan_events(PUSH)) == {
        ("EventSource", None, "cluster-inventory-push"),
        ("EventTrigger", None, "cluster-inventory-push"),
        ("ConfigMap", "projectsveltos", "cluster-inventory-push-secret"),
    }


def test_sveltos_in_events_mode_plans_two_sources_two_triggers_two_templates() -> None:
    assert kinds_and_names(plan_events(PROFILES)) == {
        (kind, namespace, name)
        for name in ("cluster-inventory-sveltoscluster", "cluster-inventory-sveltos-kubeconfig")
        for kind, namespace in (("EventSource", None), ("EventTrigger", None), ("ConfigMap", "projectsveltos"))
    }


def test_names_and_namespace_come_from_config() -> None:
    settings = replace(BOTH, events_name_prefix="inv", events_namespace="sveltos-templates")
    names = kinds_and_names(plan_events(settings))
    assert ("EventSource", None, "inv-push") in names
    assert ("ConfigMap", "sveltos-templates", "inv-sveltoscluster") in names
    assert all(name.startswith("inv-") for _, _, name in names)


def test_every_object_is_an_events_feature_object_with_the_managed_by_label() -> None:
    settings = replace(BOTH, managed_by_label="example.com/owner", managed_by_value="platform")
    for obj in plan_events(settings):
        assert obj.feature is Feature.EVENTS
        assert obj.labels["example.com/owner"] == "platform"
        assert not obj.secret_data  # built-in objects carry no credentials


def test_triggers_react_to_their_source_on_the_management_cluster_once_per_target() -> None:
    settings = replace(BOTH, management_cluster_selector={"cluster-api": "enabled", "env": "management"})
    objects = plan_events(settings)
    for trigger in (obj for obj in objects if obj.kind == "EventTrigger"):
        spec = trigger.fields["spec"]
        assert spec["sourceClusterSelector"] == {"matchLabels": {"cluster-api": "enabled", "env": "management"}}
        assert spec["oneForEvent"] is True
        find(objects, "EventSource", spec["eventSourceName"])
        [ref] = spec["policyRefs"]
        template = find(objects, ref["kind"], ref["name"])
        assert template.namespace == ref["namespace"] == settings.events_namespace
        assert INSTANTIATE_ANNOTATION in template.annotations


@pytest.mark.parametrize(("name", "fields"), [
    (push_name(BOTH), ("kubeconfigSecretName", "kubeconfigSecretNamespace")),
    (sveltos_kubeconfig_name(BOTH), ("sourceSecretName", "sourceSecretNamespace")),
])
def test_credential_triggers_have_addon_controller_fetch_each_targets_secret(name: str, fields: tuple[str, str]) -> None:
    objects = plan_events(BOTH)
    trigger = find(objects, "EventTrigger", name)
    [ref] = trigger.fields["spec"]["templateResourceRefs"]
    assert ref == {"identifier": KUBECONFIG_RESOURCE,
                   "resource": {"apiVersion": "v1", "kind": "Secret",
                                "name": f"{{{{ .Resource.spec.{fields[0]} }}}}",
                                "namespace": f"{{{{ .Resource.spec.{fields[1]} }}}}"}}
    [policy] = trigger.fields["spec"]["policyRefs"]
    assert POLICY_TEMPLATE_ANNOTATION in find(objects, "ConfigMap", policy["name"]).annotations


def test_sveltoscluster_trigger_fetches_nothing_and_renders_once() -> None:
    objects = plan_events(BOTH)
    trigger = find(objects, "EventTrigger", sveltos_cluster_name(BOTH))
    assert "templateResourceRefs" not in trigger.fields["spec"]
    assert POLICY_TEMPLATE_ANNOTATION not in find(objects, "ConfigMap", sveltos_cluster_name(BOTH)).annotations


def test_event_sources_collect_resources_and_select_through_lua() -> None:
    for source in (obj for obj in plan_events(BOTH) if obj.kind == "EventSource"):
        spec = source.fields["spec"]
        assert spec["collectResources"] is True
        assert "function evaluate()" in spec["aggregatedSelection"]


def test_push_source_selects_clusters_kubeconfigs_and_both_kinds_of_namespace() -> None:
    spec = find(plan_events(PUSH), "EventSource", push_name(PUSH)).fields["spec"]
    selected = {(s["kind"], s["version"], tuple(f["key"] for f in s.get("labelFilters", [])))
                for s in spec["resourceSelectors"]}
    assert selected == {
        ("Cluster", "v1beta1", ("clusterprofile-name",)),
        ("Cluster", "v1beta2", ("clusterprofile-name",)),
        ("Secret", "v1", ("cluster.x-k8s.io/cluster-name",)),
        ("Namespace", "v1", ("x-k8s.io/cluster-inventory-consumer",)),
        ("Namespace", "v1", ("clusterset.multicluster.x-k8s.io",)),
        ("Namespace", "v1", ("multicluster.x-k8s.io/clusterset",)),
    }


def test_kubeconfig_secrets_are_selected_by_one_cel_rule_requiring_name_and_type() -> None:
    # sveltos-agent selects an object when ANY evaluateCEL rule holds: both conditions
    # must live in one rule (seed 000 split them into two, selecting every CAPI Secret).
    spec = find(plan_events(PUSH), "EventSource", push_name(PUSH)).fields["spec"]
    [secrets] = [s for s in spec["resourceSelectors"] if s["kind"] == "Secret"]
    assert secrets["evaluateCEL"] == [{"name": "capi-kubeconfig-secret", "rule": CAPI_KUBECONFIG_CEL}]
    assert " && " in CAPI_KUBECONFIG_CEL


def test_configured_capi_namespaces_give_one_selector_per_namespace() -> None:
    settings = replace(PUSH, capi_namespaces=("mgmt", "team-a"))
    spec = find(plan_events(settings), "EventSource", push_name(settings)).fields["spec"]
    namespaced = {(s["kind"], s["version"], s.get("namespace")) for s in spec["resourceSelectors"]
                  if s["kind"] in ("Cluster", "Secret")}
    assert namespaced == {(kind, version, ns) for ns in ("mgmt", "team-a")
                          for kind, version in (("Cluster", "v1beta1"), ("Cluster", "v1beta2"), ("Secret", "v1"))}


def test_profile_sources_leave_out_secrets_this_program_wrote() -> None:
    spec = find(plan_events(PROFILES), "EventSource", sveltos_cluster_name(PROFILES)).fields["spec"]
    [secrets] = [s for s in spec["resourceSelectors"] if s["kind"] == "Secret"]
    assert secrets["labelFilters"] == [
        {"key": "x-k8s.io/cluster-profile", "operation": "Has"},
        {"key": "app.kubernetes.io/managed-by", "operation": "Different", "value": "cluster-inventory"},
    ]


def test_emitted_sources_and_triggers_fit_the_crd_schemas() -> None:
    settings = replace(BOTH, capi_namespaces=("mgmt",), profile_namespaces=("fleet", "edge"))
    checked = 0
    for obj in plan_events(settings):
        if obj.kind in ("EventSource", "EventTrigger"):
            assert schema_problems(obj.manifest(), crd_schema(obj.kind, "v1beta1")) == [], obj.ref
            checked += 1
    assert checked == 6


def test_known_spec_fields_are_the_crds() -> None:
    source = crd_schema("EventSource", "v1beta1")["properties"]["spec"]["properties"]
    trigger = crd_schema("EventTrigger", "v1beta1")["properties"]["spec"]["properties"]
    assert EVENT_SOURCE_SPEC_FIELDS == set(source)
    assert EVENT_TRIGGER_SPEC_FIELDS == set(trigger)
    assert RESOURCE_SELECTOR_FIELDS == set(source["resourceSelectors"]["items"]["properties"])
    assert POLICY_REF_FIELDS == set(trigger["policyRefs"]["items"]["properties"])
    assert GENERATOR_FIELDS == set(trigger["configMapGenerator"]["items"]["properties"])
    assert GENERATOR_FIELDS == set(trigger["secretGenerator"]["items"]["properties"])
    assert TEMPLATE_RESOURCE_REF_FIELDS == set(trigger["templateResourceRefs"]["items"]["properties"])
    assert TEMPLATE_RESOURCE_FIELDS == set(
        trigger["templateResourceRefs"]["items"]["properties"]["resource"]["properties"])
    assert set(POLICY_REF_KINDS) == set(trigger["policyRefs"]["items"]["properties"]["kind"]["enum"])
    assert set(DEPLOYMENT_TYPES) == set(trigger["policyRefs"]["items"]["properties"]["deploymentType"]["enum"])
    label_filters = source["resourceSelectors"]["items"]["properties"]["labelFilters"]["items"]
    assert set(LABEL_FILTER_OPERATIONS) == set(label_filters["properties"]["operation"]["enum"])


def test_names_fit_the_label_values_sveltos_copies_them_into() -> None:
    for obj in plan_events(BOTH):
        assert name_problem(obj.name) is None
        assert len(obj.name) <= MAX_EVENT_NAME_LENGTH and is_label_value(obj.name), obj.ref


def test_prefix_giving_names_over_the_limit_is_rejected_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"eventsNamePrefix: 'x{50}' gives an unusable name: .*limit is 63"):
        plan_events(replace(BOTH, events_name_prefix="x" * 50))


def test_prefix_that_is_no_dns_name_is_rejected() -> None:
    with pytest.raises(SettingsError, match="eventsNamePrefix: 'Cluster_Inventory'"):
        plan_events(replace(PUSH, events_name_prefix="Cluster_Inventory"))


def test_bad_events_namespace_is_rejected() -> None:
    with pytest.raises(SettingsError, match="eventsNamespace: namespace name 'Sveltos' is not a DNS-1123 label"):
        plan_events(replace(PUSH, events_namespace="Sveltos"))


def test_empty_management_cluster_selector_is_rejected() -> None:
    # It would match every managed cluster and write the kubeconfigs into all of them.
    with pytest.raises(SettingsError, match="managementClusterSelector: must name at least one label"):
        plan_events(replace(PUSH, management_cluster_selector={}))


def test_management_selector_value_must_be_a_label_value() -> None:
    with pytest.raises(SettingsError, match="managementClusterSelector: value 'not valid!' of 'type'"):
        plan_events(replace(PUSH, management_cluster_selector={"type": "not valid!"}))


def test_settings_problems_are_all_reported_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        plan_events(replace(PUSH, events_namespace="Bad", management_cluster_selector={}))
    assert len(str(raised.value).splitlines()) == 2


def test_plan_is_sorted_and_deterministic() -> None:
    first = plan_events(BOTH)
    assert first == plan_events(BOTH)
    assert [obj.sort_key for obj in first] == sorted(obj.sort_key for obj in first)


def test_direct_mode_plan_accepts_the_event_objects() -> None:
    settings = Settings(push_mode=Mode.EVENTS, sveltos_mode=Mode.DIRECT)
    events = plan_events(settings)
    plan = build_plan(Inventory(), settings, {}, datetime(2026, 1, 1, tzinfo=UTC), extra_objects=events)
    assert plan.objects == events
    assert plan.diagnostics == ()


def test_public_names_are_the_planned_ones() -> None:
    names = {name for _, _, name in kinds_and_names(plan_events(BOTH))}
    assert names == {push_name(BOTH), push_template_name(BOTH), sveltos_cluster_name(BOTH),
                     sveltos_kubeconfig_name(BOTH)}


# --- how config reaches the Lua and the templates -----------------------------------------------

ODD_VALUES = ['plain', 'quote " and backslash \\', "new\nline\ttab", "ünïcödé ✓ 🚀", "]] --[[ end", ""]


@pytest.mark.parametrize("value", ODD_VALUES)
def test_lua_string_literals_read_back_exactly(value: str) -> None:
    runtime = lua51.LuaRuntime()
    assert runtime.eval(lua_string(value)) == value


def test_lua_config_defines_strings_and_lists() -> None:
    runtime = lua51.LuaRuntime()
    runtime.execute(lua_config({"one": "a\"b", "many": ["x", "y\\z"]}) + "result = CONFIG")
    config = runtime.globals().result
    assert config.one == 'a"b'
    assert list(config.many.values()) == ["x", "y\\z"]


def test_lua_config_defines_route_tables_as_data() -> None:
    # Namespaces and label values are keys here: any characters stay data, in sorted order.
    hostile = 'x"] = {}, evil = (function() os.exit(1) end)(), ["'
    runtime = lua51.LuaRuntime()
    runtime.execute(lua_config({"routes": {hostile: [hostile, "b"], "a": []}, "selector": {"k": hostile}})
                    + "result = CONFIG")
    config = runtime.globals().result
    assert list(config.routes[hostile].values()) == [hostile, "b"]
    assert list(config.routes["a"].values()) == []
    assert config.selector["k"] == hostile
    assert lua_config({"routes": {"b": ["x"], "a": ["y"]}}) == 'local CONFIG = {\n  routes = {["a"] = {"y"}, ["b"] = {"x"}},\n}\n'


@pytest.mark.parametrize("value", ODD_VALUES)
def test_go_string_literals_read_back_exactly(value: str) -> None:
    rendered = render_template(f"{{{{ {go_string(value)} | toJson }}}}", {})
    assert rendered == go_json(value)


def go_json(value: str) -> str:
    """``value`` as Go's encoding/json writes it (HTML characters escaped, UTF-8 kept)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@pytest.mark.parametrize("helper", ["gotemplate", "luaeval"])
def test_go_helpers_pin_the_libsveltos_of_versions_env(helper: str) -> None:
    # The helpers stand in for Sveltos in the tests: they must use the pinned release.
    go_mod = (REPO / "tools" / "go" / helper / "go.mod").read_text()
    assert f"require github.com/projectsveltos/libsveltos {pinned_versions()['LIBSVELTOS_VERSION']}\n" in go_mod
