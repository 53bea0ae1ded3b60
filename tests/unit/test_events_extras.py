"""Generic Event Framework extras from stack config (seed 003): accepted shapes and clear errors."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest
import yaml

from inventory.events import plan_events
from inventory.events.extras import SVELTOS_SECRET_TYPE
from inventory.model.objects import DesiredObject
from inventory.settings import Mode, Settings, SettingsError
from tests.unit.events_support import crd_schema, schema_problems

# Seed 003's example, as a stack would carry it: replicate a Secret into every namespace
# labelled secret=required, through a ConfigMapGenerator and templateResourceRefs.
SEED_003 = yaml.safe_load("""
extraEventSources:
- apiVersion: lib.projectsveltos.io/v1beta1
  kind: EventSource
  metadata: {name: requiring-credentials}
  spec:
    collectResources: true
    resourceSelectors:
    - group: ""
      version: v1
      kind: Namespace
      labelFilters:
      - {key: secret, operation: Equal, value: required}
extraEventTriggers:
- metadata: {name: distribute-credentials}
  spec:
    sourceClusterSelector: {matchLabels: {env: production}}
    eventSourceName: requiring-credentials
    configMapGenerator:
    - name: namespaces
      namespace: default
      nameFormat: "{{ .Cluster.metadata.namespace }}-{{ .Cluster.metadata.name }}-namespaces"
    templateResourceRefs:
    - resource: {apiVersion: v1, kind: Secret, name: login-credentials, namespace: default}
      identifier: Credentials
    - resource:
        apiVersion: v1
        kind: ConfigMap
        name: "{{ .Cluster.metadata.namespace }}-{{ .Cluster.metadata.name }}-namespaces"
        namespace: projectsveltos
      identifier: Namespaces
    policyRefs:
    - {kind: ConfigMap, name: info, namespace: default}
extraConfigMaps:
- metadata:
    name: namespaces
    namespace: default
    annotations: {projectsveltos.io/instantiate: "true"}
  data:
    namespaces: |
      {{- range $v := .MatchingResources }}
         {{ $v.Name }}: "ok"
      {{- end }}
- metadata:
    name: info
    namespace: default
    annotations: {projectsveltos.io/template: "true"}
  data:
    secret.yaml: "{{ (getResource \\"Credentials\\").metadata.name }}"
extraSecrets:
- metadata: {name: login-credentials, namespace: default}
  stringData: {password: s3cret}
""")


def settings_with(**extras: Any) -> Settings:
    return Settings.from_mapping({"pushMode": "direct", "sveltosMode": "direct", **extras})


def planned(settings: Settings) -> dict[tuple[str, str], DesiredObject]:
    return {(obj.kind, obj.name): obj for obj in plan_events(settings)}


def problems(**extras: Any) -> str:
    with pytest.raises(SettingsError) as raised:
        plan_events(settings_with(**extras))
    return str(raised.value)


def test_seed_003_example_is_planned_whatever_the_feature_modes() -> None:
    objects = planned(settings_with(**SEED_003))
    assert set(objects) == {("EventSource", "requiring-credentials"), ("EventTrigger", "distribute-credentials"),
                            ("ConfigMap", "namespaces"), ("ConfigMap", "info"), ("Secret", "login-credentials")}


def test_extras_fit_the_crd_schemas_and_keep_their_fields() -> None:
    objects = planned(settings_with(**SEED_003))
    trigger = objects[("EventTrigger", "distribute-credentials")]
    assert trigger.fields["spec"]["configMapGenerator"] == SEED_003["extraEventTriggers"][0]["spec"]["configMapGenerator"]
    assert trigger.fields["spec"]["templateResourceRefs"][1]["identifier"] == "Namespaces"
    for kind in ("EventSource", "EventTrigger"):
        [obj] = [o for (k, _), o in objects.items() if k == kind]
        assert schema_problems(obj.manifest(), crd_schema(kind, "v1beta1")) == []


def test_extras_carry_the_managed_by_label_and_their_own_metadata() -> None:
    objects = planned(settings_with(**SEED_003))
    info = objects[("ConfigMap", "info")]
    assert info.labels == {"app.kubernetes.io/managed-by": "cluster-inventory"}
    assert info.annotations == {"projectsveltos.io/template": "true"}
    assert info.namespace == "default"
    assert objects[("EventSource", "requiring-credentials")].namespace is None


def test_trigger_without_source_cluster_selector_watches_the_management_cluster() -> None:
    settings = settings_with(extraEventTriggers=[{"metadata": {"name": "t"}, "spec": {"eventSourceName": "s"}}],
                             managementClusterSelector={"role": "hub"})
    assert planned(settings)[("EventTrigger", "t")].fields["spec"]["sourceClusterSelector"] == {
        "matchLabels": {"role": "hub"}}


def test_trigger_without_selector_needs_a_management_cluster_selector() -> None:
    assert "extraEventTriggers[0] (t): spec.sourceClusterSelector: required when managementClusterSelector is empty" \
        in problems(extraEventTriggers=[{"metadata": {"name": "t"}, "spec": {"eventSourceName": "s"}}],
                    managementClusterSelector={})


def test_config_map_defaults_to_the_events_namespace() -> None:
    settings = settings_with(extraConfigMaps=[{"metadata": {"name": "cm"}, "data": {"k": "v"}}],
                             eventsNamespace="templates")
    assert planned(settings)[("ConfigMap", "cm")].namespace == "templates"


def test_secret_data_is_credentials_and_defaults_to_the_sveltos_type() -> None:
    settings = settings_with(extraSecrets=[{"metadata": {"name": "s"},
                                            "data": {"a": base64.b64encode(b"alpha").decode()},
                                            "stringData": {"b": "beta"}}])
    secret = planned(settings)[("Secret", "s")]
    assert secret.secret_data == {"a": b"alpha", "b": b"beta"}
    assert secret.fields == {"type": SVELTOS_SECRET_TYPE}
    assert secret.manifest()["data"] == {"a": "<redacted>", "b": "<redacted>"}


def test_unknown_spec_field_names_the_entry_and_the_field() -> None:
    message = problems(extraEventTriggers=[{"metadata": {"name": "t"},
                                            "spec": {"eventSourceName": "s", "policyRef": []}}])
    assert message.startswith("extraEventTriggers[0] (t): spec.policyRef: unknown field (known: ")


def test_trigger_needs_an_event_source_name() -> None:
    assert "extraEventTriggers[0] (t): spec.eventSourceName: required" in problems(
        extraEventTriggers=[{"metadata": {"name": "t"}, "spec": {}}])


@pytest.mark.parametrize(("spec", "expected"), [
    ({"policyRefs": [{"kind": "Helm", "name": "x"}]}, "spec.policyRefs[0].kind: 'Helm' is not one of ConfigMap"),
    ({"policyRefs": [{"kind": "ConfigMap"}]}, "spec.policyRefs[0].name: required"),
    ({"policyRefs": {"kind": "ConfigMap"}}, "spec.policyRefs: expected a list, got a dict"),
    ({"policyRefs": [{"kind": "Secret", "name": "x", "deploymentType": "Both"}]},
     "spec.policyRefs[0].deploymentType: 'Both' is not one of Local, Remote"),
    ({"configMapGenerator": [{"name": "x"}]}, "spec.configMapGenerator[0].nameFormat: required"),
    ({"secretGenerator": [{"nameFormat": "x"}]}, "spec.secretGenerator[0].name: required"),
    ({"templateResourceRefs": [{"resource": {"apiVersion": "v1", "kind": "Secret", "name": "x"}}]},
     "spec.templateResourceRefs[0].identifier: required"),
    ({"templateResourceRefs": [{"identifier": "X"}]}, "spec.templateResourceRefs[0].resource: required"),
    ({"templateResourceRefs": [{"identifier": "X", "resource": {"apiVersion": "v1", "kind": "Secret"}}]},
     "spec.templateResourceRefs[0].resource.name: required"),
    ({"oneForEvent": "yes"}, "spec.oneForEvent: expected true or false, got 'yes'"),
])
def test_malformed_trigger_fields_name_the_path(spec: dict[str, Any], expected: str) -> None:
    message = problems(extraEventTriggers=[{"metadata": {"name": "t"}, "spec": {"eventSourceName": "s", **spec}}])
    assert f"extraEventTriggers[0] (t): {expected}" in message


@pytest.mark.parametrize(("selector", "expected"), [
    ({"group": "", "version": "v1"}, "spec.resourceSelectors[0].kind: required"),
    ({"version": "v1", "kind": "Pod"}, "spec.resourceSelectors[0].group: required"),
    ({"group": "", "version": "v1", "kind": "Pod", "labelFilters": [{"key": "a", "operation": "Exists"}]},
     "spec.resourceSelectors[0].labelFilters[0].operation: 'Exists' is not one of Equal, Different, Has"),
    ({"group": "", "version": "v1", "kind": "Pod", "labelFilters": [{"key": "a", "operation": "Equal"}]},
     "spec.resourceSelectors[0].labelFilters[0].value: required with operation Equal"),
    ({"group": "", "version": "v1", "kind": "Pod", "evaluateCEL": [{"name": "r"}]},
     "spec.resourceSelectors[0].evaluateCEL[0].rule: required"),
    ({"group": "", "version": "v1", "kind": "Pod", "namespaces": ["a"]},
     "spec.resourceSelectors[0].namespaces: unknown field"),
])
def test_malformed_source_selectors_name_the_path(selector: dict[str, Any], expected: str) -> None:
    message = problems(extraEventSources=[{"metadata": {"name": "s"}, "spec": {"resourceSelectors": [selector]}}])
    assert f"extraEventSources[0] (s): {expected}" in message


def test_wrong_kind_or_api_version_is_an_error() -> None:
    message = problems(extraEventSources=[{"apiVersion": "lib.projectsveltos.io/v1alpha1", "kind": "EventTrigger",
                                           "metadata": {"name": "s"}, "spec": {}}])
    assert "extraEventSources[0] (s): apiVersion: 'lib.projectsveltos.io/v1alpha1': expected" in message
    assert "extraEventSources[0] (s): kind: 'EventTrigger': expected 'EventSource'" in message


def test_names_over_the_label_value_limit_are_rejected() -> None:
    # Sveltos copies EventSource/EventTrigger names into label values.
    message = problems(extraEventSources=[{"metadata": {"name": "s" * 64}, "spec": {}}])
    assert f"extraEventSources[0] ({'s' * 64}): metadata.name: " in message
    assert "limit is 63" in message


def test_missing_name_is_reported_by_position() -> None:
    assert "extraConfigMaps[0]: metadata.name: required" in problems(extraConfigMaps=[{"metadata": {}, "data": {}}])


def test_config_map_values_must_be_strings() -> None:
    assert "extraConfigMaps[0] (cm): data['n']: keys and values must be strings, got a int" in problems(
        extraConfigMaps=[{"metadata": {"name": "cm"}, "data": {"n": 1}}])


def test_secret_data_must_be_base64_and_is_never_quoted() -> None:
    message = problems(extraSecrets=[{"metadata": {"name": "s"}, "data": {"token": "not base64!"}}])
    assert "extraSecrets[0] (s): data['token']: is not valid base64 (use stringData for plain text)" in message
    assert "not base64!" not in message


def test_malformed_secret_string_data_is_reported_by_type_and_never_quoted() -> None:
    message = problems(extraSecrets=[{"metadata": {"name": "s"}, "stringData": "password: hunter2-s3cret"}])
    assert "extraSecrets[0] (s): stringData: expected a mapping, got a str" in message
    assert "hunter2-s3cret" not in message


def test_malformed_list_is_reported_by_type_and_never_quoted() -> None:
    message = problems(extraEventTriggers=[{"metadata": {"name": "t"}, "spec": {
        "eventSourceName": "s", "templateResourceRefs": ["token=hunter2-s3cret"]}}])
    assert "extraEventTriggers[0] (t): spec.templateResourceRefs[0]: expected a mapping, got a str" in message
    assert "hunter2-s3cret" not in message


def test_managed_by_label_cannot_be_overridden() -> None:
    message = problems(extraConfigMaps=[{"metadata": {"name": "cm", "labels": {
        "app.kubernetes.io/managed-by": "helm"}}}])
    assert "extraConfigMaps[0] (cm): metadata.labels: 'app.kubernetes.io/managed-by' is set by this program" in message


def test_extra_reusing_a_built_in_name_is_rejected() -> None:
    settings = replace(settings_with(extraEventSources=[{"metadata": {"name": "cluster-inventory-push"}, "spec": {}}]),
                       push_mode=Mode.EVENTS)
    with pytest.raises(SettingsError, match="EventSource cluster-inventory-push: declared twice"):
        plan_events(settings)


def test_entry_that_is_not_a_mapping_is_rejected() -> None:
    settings = replace(Settings(), extra_config_maps=("just a string",))  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match=r"extraConfigMaps\[0\]: must be a mapping"):
        plan_events(settings)


def test_every_problem_of_every_entry_is_reported_at_once() -> None:
    message = problems(
        extraEventTriggers=[{"metadata": {"name": "t"}, "spec": {}}],
        extraConfigMaps=[{"metadata": {"name": "Bad_Name"}, "data": {}}],
    )
    assert len(message.splitlines()) == 2
