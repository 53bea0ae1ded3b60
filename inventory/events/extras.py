"""Generic Event Framework extras from stack config (SPEC §3 C, seed 003).

Four config lists, each entry a Kubernetes manifest as one would write it for
``kubectl apply`` (so the seed's examples can be pasted):

``extraEventSources``
    ``metadata.name`` and ``spec`` (EventSource: resourceSelectors, aggregatedSelection,
    collectResources, messagingMatchCriteria).
``extraEventTriggers``
    ``metadata.name`` and ``spec`` (EventTrigger: eventSourceName, policyRefs,
    configMapGenerator, secretGenerator, templateResourceRefs, and any other field of
    the CRD). ``spec.sourceClusterSelector`` defaults to the management cluster selector.
``extraConfigMaps``
    ``metadata.name``, optional ``metadata.namespace`` (default: eventsNamespace) and
    ``data`` (string values): templates and inputs the extra EventTriggers reference.
``extraSecrets``
    the same, with ``data`` (base64) and/or ``stringData``; ``type`` defaults to
    ``addons.projectsveltos.io/cluster-profile``, the only type Sveltos accepts in
    policyRefs. The values are credentials: Pulumi secrets, redacted by render.

``apiVersion`` and ``kind`` may be given and must then be the expected ones;
``metadata.labels`` / ``metadata.annotations`` are kept, plus the managed-by label.

Validation is structural, enough that a typo fails at planning with a message naming the
entry (``extraEventTriggers[1] (my-trigger): spec.policyRefs[0].kind: ...``) instead of
at the API server or, worse, silently in Sveltos. Field contents Sveltos interprets
(Lua, CEL, templates, Helm values) are passed through unchecked.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from inventory.events.sveltos import (
    API_VERSION,
    EVENT_SOURCE,
    EVENT_TRIGGER,
    LABEL_FILTER_OPERATIONS,
    POLICY_REF_KINDS,
    event_name_problem,
    management_selector,
)
from inventory.model import (
    DesiredObject,
    Feature,
    is_label_key,
    is_secret_data_key,
    label_problems,
    name_problem,
    namespace_problem,
)
from inventory.settings import Settings

# Every field of EventSource.spec / EventTrigger.spec in the v1.5.0 CRDs (a test keeps
# these equal to the CRD schemas): a misspelt field is an error, not silently dropped
# by the API server's pruning.
EVENT_SOURCE_SPEC_FIELDS = frozenset(
    {"aggregatedSelection", "collectResources", "messagingMatchCriteria", "resourceSelectors"}
)
EVENT_TRIGGER_SPEC_FIELDS = frozenset({
    "cloudEventAction", "clusterSetRefs", "configMapGenerator", "continueOnConflict", "dependsOn",
    "destinationCluster", "destinationClusterSelector", "driftExclusions", "eventSourceName",
    "extraAnnotations", "extraLabels", "helmCharts", "kustomizationRefs", "maxUpdate", "oneForEvent",
    "patches", "patchesFrom", "policyRefs", "postDeleteChecks", "preDeleteChecks", "profileNameFormat",
    "reloader", "secretGenerator", "sourceClusterSelector", "stopMatchingBehavior", "syncMode",
    "templateResourceRefs", "tier", "validateHealths",
})
RESOURCE_SELECTOR_FIELDS = frozenset(
    {"group", "version", "kind", "namespace", "name", "labelFilters", "selector", "evaluate", "evaluateCEL"}
)
POLICY_REF_FIELDS = frozenset({"kind", "name", "namespace", "path", "optional", "deploymentType", "tier"})
GENERATOR_FIELDS = frozenset({"name", "nameFormat", "namespace", "optional"})
TEMPLATE_RESOURCE_REF_FIELDS = frozenset({"identifier", "resource", "optional", "ignoreStatusChanges"})
TEMPLATE_RESOURCE_FIELDS = frozenset(
    {"apiVersion", "kind", "name", "namespace", "fieldPath", "resourceVersion", "uid"}
)
DEPLOYMENT_TYPES = ("Local", "Remote")

# The only Secret type Sveltos deploys from policyRefs (libsveltos ClusterProfileSecretType).
SVELTOS_SECRET_TYPE = "addons.projectsveltos.io/cluster-profile"


class _Problems:
    """Collects every problem of one config entry, each prefixed with the entry's name."""

    def __init__(self, entry: str) -> None:
        self.entry = entry
        self.items: list[str] = []

    def add(self, path: str, reason: str) -> None:
        where = f"{self.entry}: {path}: " if path else f"{self.entry}: "
        self.items.append(where + reason)


# Builds one kind's object from a config entry, recording what is wrong with it.
_Builder = Callable[[Mapping[str, Any], Settings, _Problems], DesiredObject | None]


def plan_extras(settings: Settings) -> tuple[list[DesiredObject], list[str]]:
    """The extra objects of stack config, and every problem found in them."""
    objects: list[DesiredObject] = []
    problems: list[str] = []
    groups: Sequence[tuple[str, Sequence[Mapping[str, Any]], _Builder]] = (
        ("extraEventSources", settings.extra_event_sources, _event_source),
        ("extraEventTriggers", settings.extra_event_triggers, _event_trigger),
        ("extraConfigMaps", settings.extra_config_maps, _config_map),
        ("extraSecrets", settings.extra_secrets, _secret),
    )
    for config_key, entries, build in groups:
        for index, entry in enumerate(entries):
            found = _Problems(_entry_label(config_key, index, entry))
            if isinstance(entry, Mapping):
                obj = build(entry, settings, found)
            else:
                obj = None
                found.add("", "must be a mapping (a Kubernetes manifest)")
            problems.extend(found.items)
            if obj is not None and not found.items:
                objects.append(obj)
    return objects, problems


def _entry_label(config_key: str, index: int, entry: object) -> str:
    name = None
    if isinstance(entry, Mapping) and isinstance(entry.get("metadata"), Mapping):
        name = entry["metadata"].get("name")
    return f"{config_key}[{index}] ({name})" if isinstance(name, str) and name else f"{config_key}[{index}]"


# --- the four kinds ---------------------------------------------------------------------

def _event_source(entry: Mapping[str, Any], settings: Settings, problems: _Problems) -> DesiredObject | None:
    _check_top_level(entry, API_VERSION, EVENT_SOURCE, {"spec"}, problems)
    name, labels, annotations = _metadata(entry, settings, problems, namespaced=False)
    spec = _mapping(entry.get("spec"), "spec", problems, required=True)
    _check_fields(spec, EVENT_SOURCE_SPEC_FIELDS, "spec", problems)
    for index, selector in enumerate(_list_of_mappings(spec.get("resourceSelectors"), "spec.resourceSelectors",
                                                       problems)):
        _check_resource_selector(selector, f"spec.resourceSelectors[{index}]", problems)
    _check_type(spec, "aggregatedSelection", str, "spec", problems)
    _check_type(spec, "collectResources", bool, "spec", problems)
    _list_of_mappings(spec.get("messagingMatchCriteria"), "spec.messagingMatchCriteria", problems)
    if name is None:
        return None
    return DesiredObject(API_VERSION, EVENT_SOURCE, None, name, Feature.EVENTS,
                         labels=labels, annotations=annotations, fields={"spec": dict(spec)})


def _event_trigger(entry: Mapping[str, Any], settings: Settings, problems: _Problems) -> DesiredObject | None:
    _check_top_level(entry, API_VERSION, EVENT_TRIGGER, {"spec"}, problems)
    name, labels, annotations = _metadata(entry, settings, problems, namespaced=False)
    spec = dict(_mapping(entry.get("spec"), "spec", problems, required=True))
    _check_fields(spec, EVENT_TRIGGER_SPEC_FIELDS, "spec", problems)
    source = spec.get("eventSourceName")
    if not isinstance(source, str) or not source:
        problems.add("spec.eventSourceName", "required: the name of the EventSource to react to")
    _check_type(spec, "oneForEvent", bool, "spec", problems)
    if "sourceClusterSelector" in spec:
        _mapping(spec["sourceClusterSelector"], "spec.sourceClusterSelector", problems)
    elif settings.management_cluster_selector:
        spec["sourceClusterSelector"] = management_selector(settings.management_cluster_selector)
    else:
        # An empty selector would match every managed cluster.
        problems.add("spec.sourceClusterSelector", "required when managementClusterSelector is empty")
    for index, ref in enumerate(_list_of_mappings(spec.get("policyRefs"), "spec.policyRefs", problems)):
        _check_policy_ref(ref, f"spec.policyRefs[{index}]", problems)
    for field in ("configMapGenerator", "secretGenerator"):
        for index, generator in enumerate(_list_of_mappings(spec.get(field), f"spec.{field}", problems)):
            _check_generator(generator, f"spec.{field}[{index}]", problems)
    refs = _list_of_mappings(spec.get("templateResourceRefs"), "spec.templateResourceRefs", problems)
    for index, ref in enumerate(refs):
        _check_template_resource_ref(ref, f"spec.templateResourceRefs[{index}]", problems)
    if name is None:
        return None
    return DesiredObject(API_VERSION, EVENT_TRIGGER, None, name, Feature.EVENTS,
                         labels=labels, annotations=annotations, fields={"spec": spec})


def _config_map(entry: Mapping[str, Any], settings: Settings, problems: _Problems) -> DesiredObject | None:
    _check_top_level(entry, "v1", "ConfigMap", {"data"}, problems)
    name, labels, annotations, namespace = _namespaced_metadata(entry, settings, problems)
    data = _string_map(entry.get("data"), "data", problems)
    if name is None or namespace is None:
        return None
    return DesiredObject("v1", "ConfigMap", namespace, name, Feature.EVENTS,
                         labels=labels, annotations=annotations, fields={"data": data})


def _secret(entry: Mapping[str, Any], settings: Settings, problems: _Problems) -> DesiredObject | None:
    _check_top_level(entry, "v1", "Secret", {"data", "stringData", "type"}, problems)
    name, labels, annotations, namespace = _namespaced_metadata(entry, settings, problems)
    secret_type = entry.get("type", SVELTOS_SECRET_TYPE)
    if not isinstance(secret_type, str) or not secret_type:
        problems.add("type", f"expected a non-empty string, got {secret_type!r}")
    secret_data: dict[str, bytes] = {}
    for key, value in _string_map(entry.get("data"), "data", problems).items():
        try:
            secret_data[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            problems.add(f"data[{key!r}]", "is not valid base64 (use stringData for plain text)")
    for key, value in _string_map(entry.get("stringData"), "stringData", problems).items():
        secret_data[key] = value.encode("utf-8")
    if name is None or namespace is None:
        return None
    return DesiredObject("v1", "Secret", namespace, name, Feature.EVENTS,
                         labels=labels, annotations=annotations, fields={"type": secret_type},
                         secret_data=secret_data)


# --- nested checks ----------------------------------------------------------------------

def _check_resource_selector(selector: Mapping[str, Any], path: str, problems: _Problems) -> None:
    _check_fields(selector, RESOURCE_SELECTOR_FIELDS, path, problems)
    if not isinstance(selector.get("group"), str):
        problems.add(f"{path}.group", 'required: the API group ("" for the core group)')
    for field in ("version", "kind"):
        if not isinstance(selector.get(field), str) or not selector.get(field):
            problems.add(f"{path}.{field}", "required: a non-empty string")
    for field in ("namespace", "name", "evaluate"):
        _check_type(selector, field, str, path, problems)
    filters = _list_of_mappings(selector.get("labelFilters"), f"{path}.labelFilters", problems)
    for index, label_filter in enumerate(filters):
        where = f"{path}.labelFilters[{index}]"
        key = label_filter.get("key")
        if not isinstance(key, str) or not is_label_key(key):
            problems.add(f"{where}.key", f"{key!r} is not a valid label key")
        operation = label_filter.get("operation")
        if operation not in LABEL_FILTER_OPERATIONS:
            problems.add(f"{where}.operation", f"{operation!r} is not one of {', '.join(LABEL_FILTER_OPERATIONS)}")
        if operation in ("Equal", "Different") and not isinstance(label_filter.get("value"), str):
            problems.add(f"{where}.value", f"required with operation {operation}")
    for index, rule in enumerate(_list_of_mappings(selector.get("evaluateCEL"), f"{path}.evaluateCEL", problems)):
        for field in ("name", "rule"):
            if not isinstance(rule.get(field), str) or not rule.get(field):
                problems.add(f"{path}.evaluateCEL[{index}].{field}", "required: a non-empty string")
    _mapping(selector.get("selector"), f"{path}.selector", problems)


def _check_policy_ref(ref: Mapping[str, Any], path: str, problems: _Problems) -> None:
    _check_fields(ref, POLICY_REF_FIELDS, path, problems)
    if ref.get("kind") not in POLICY_REF_KINDS:
        problems.add(f"{path}.kind", f"{ref.get('kind')!r} is not one of {', '.join(POLICY_REF_KINDS)}")
    if not isinstance(ref.get("name"), str) or not ref.get("name"):
        problems.add(f"{path}.name", "required: a non-empty string (a Go template is allowed)")
    for field in ("namespace", "path"):
        _check_type(ref, field, str, path, problems)
    _check_type(ref, "optional", bool, path, problems)
    if "deploymentType" in ref and ref["deploymentType"] not in DEPLOYMENT_TYPES:
        problems.add(f"{path}.deploymentType", f"{ref['deploymentType']!r} is not one of {', '.join(DEPLOYMENT_TYPES)}")


def _check_generator(generator: Mapping[str, Any], path: str, problems: _Problems) -> None:
    _check_fields(generator, GENERATOR_FIELDS, path, problems)
    for field in ("name", "nameFormat"):
        if not isinstance(generator.get(field), str) or not generator.get(field):
            problems.add(f"{path}.{field}", "required: a non-empty string (a Go template is allowed)")
    _check_type(generator, "namespace", str, path, problems)
    _check_type(generator, "optional", bool, path, problems)


def _check_template_resource_ref(ref: Mapping[str, Any], path: str, problems: _Problems) -> None:
    _check_fields(ref, TEMPLATE_RESOURCE_REF_FIELDS, path, problems)
    if not isinstance(ref.get("identifier"), str) or not ref.get("identifier"):
        problems.add(f"{path}.identifier", "required: the name templates use in getResource")
    resource = _mapping(ref.get("resource"), f"{path}.resource", problems, required=True)
    _check_fields(resource, TEMPLATE_RESOURCE_FIELDS, f"{path}.resource", problems)
    for field in ("apiVersion", "kind", "name"):
        if not isinstance(resource.get(field), str) or not resource.get(field):
            problems.add(f"{path}.resource.{field}", "required: a non-empty string")
    _check_type(ref, "optional", bool, path, problems)


# --- metadata and primitives ------------------------------------------------------------

def _check_top_level(entry: Mapping[str, Any], api_version: str, kind: str, body_fields: set[str],
                     problems: _Problems) -> None:
    _check_fields(entry, frozenset({"apiVersion", "kind", "metadata"} | body_fields), "", problems)
    if "apiVersion" in entry and entry["apiVersion"] != api_version:
        problems.add("apiVersion", f"{entry['apiVersion']!r}: expected {api_version!r}")
    if "kind" in entry and entry["kind"] != kind:
        problems.add("kind", f"{entry['kind']!r}: expected {kind!r}")


def _metadata(entry: Mapping[str, Any], settings: Settings, problems: _Problems, *,
              namespaced: bool) -> tuple[str | None, dict[str, str], dict[str, str]]:
    metadata = _mapping(entry.get("metadata"), "metadata", problems, required=True)
    allowed = {"name", "labels", "annotations"} | ({"namespace"} if namespaced else set())
    _check_fields(metadata, frozenset(allowed), "metadata", problems)
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        problems.add("metadata.name", "required: a non-empty string")
        name = None
    else:
        problem = name_problem(name) if namespaced else event_name_problem(name)
        if problem is not None:
            problems.add("metadata.name", problem)
    labels = _string_map(metadata.get("labels"), "metadata.labels", problems)
    for problem in label_problems(labels):
        problems.add("metadata.labels", problem)
    if labels.get(settings.managed_by_label, settings.managed_by_value) != settings.managed_by_value:
        problems.add("metadata.labels", f"{settings.managed_by_label!r} is set by this program; leave it out")
    labels[settings.managed_by_label] = settings.managed_by_value
    annotations = _string_map(metadata.get("annotations"), "metadata.annotations", problems)
    return name, labels, annotations


def _namespaced_metadata(entry: Mapping[str, Any], settings: Settings, problems: _Problems,
                         ) -> tuple[str | None, dict[str, str], dict[str, str], str | None]:
    name, labels, annotations = _metadata(entry, settings, problems, namespaced=True)
    metadata = entry.get("metadata")
    namespace = metadata.get("namespace", settings.events_namespace) if isinstance(metadata, Mapping) else None
    if not isinstance(namespace, str):
        if isinstance(metadata, Mapping):
            problems.add("metadata.namespace", f"expected a string, got {namespace!r}")
        return name, labels, annotations, None
    problem = namespace_problem(namespace)
    if problem is not None:
        problems.add("metadata.namespace", problem)
        return name, labels, annotations, None
    return name, labels, annotations, namespace


def _check_fields(mapping: Mapping[str, Any], allowed: frozenset[str], path: str, problems: _Problems) -> None:
    for key in sorted(set(mapping) - allowed, key=str):
        where = f"{path}.{key}" if path else str(key)
        problems.add(where, f"unknown field (known: {', '.join(sorted(allowed))})")


def _check_type(mapping: Mapping[str, Any], field: str, expected: type, path: str, problems: _Problems) -> None:
    if field in mapping and not isinstance(mapping[field], expected):
        problems.add(f"{path}.{field}", f"expected {_type_word(expected)}, got {mapping[field]!r}")


def _mapping(value: Any, path: str, problems: _Problems, *, required: bool = False) -> Mapping[str, Any]:
    # Only the type is reported, never the value: under a Secret it may be the credential itself.
    if value is None:
        if required:
            problems.add(path, "required: a mapping")
        return {}
    if not isinstance(value, Mapping):
        problems.add(path, f"expected a mapping, got a {type(value).__name__}")
        return {}
    return value


def _list_of_mappings(value: Any, path: str, problems: _Problems) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(path, f"expected a list, got a {type(value).__name__}")
        return []
    items: list[Mapping[str, Any]] = []
    for index, item in enumerate(value):
        if isinstance(item, Mapping):
            items.append(item)
        else:
            problems.add(f"{path}[{index}]", f"expected a mapping, got a {type(item).__name__}")
    return items


def _string_map(value: Any, path: str, problems: _Problems) -> dict[str, str]:
    mapping = _mapping(value, path, problems)
    result: dict[str, str] = {}
    for key, item in mapping.items():
        if not isinstance(key, str) or not isinstance(item, str):
            # The value is not quoted: under a Secret's data it may be a credential.
            problems.add(f"{path}[{key!r}]", f"keys and values must be strings, got a {type(item).__name__}")
            continue
        if path in ("data", "stringData") and not is_secret_data_key(key):
            problems.add(f"{path}[{key!r}]", "is not a valid data key (letters, digits, '-', '_', '.')")
        result[key] = item
    return result


def _type_word(expected: type) -> str:
    return {bool: "true or false", str: "a string"}.get(expected, expected.__name__)
