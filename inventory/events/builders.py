"""Event Framework mode (SPEC §3 C): the Sveltos objects that make Sveltos do A and/or B in-cluster.

Pure, like ``inventory.plan.compose``: settings in, desired objects out. Nothing here reads the
inventory: the point of this mode is that Sveltos reads it, continuously, and reacts.

Per feature in mode ``events``:

* A (push model): an EventSource whose aggregatedSelection Lua (lua/push_targets.lua)
  turns Clusters, kubeconfig Secrets and Namespaces into one target per cluster x
  consumer namespace; an EventTrigger that instantiates, once per target, the ConfigMap
  template templates/push-secret.yaml, which renders direct mode's push Secret.
* B (ClusterProfiles -> SveltosClusters): two EventSources over ClusterProfiles and
  their labelled kubeconfig Secrets (lua/profile_targets.lua joins the two), and two
  EventTriggers rendering the SveltosCluster and its kubeconfig Secret.

Plus the generic extras of stack config (``inventory.events.extras``), whatever the modes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from inventory.credentials import RUNNABLE_FIELDS_LOWER
from inventory.events import extras
from inventory.events.assets import LuaValue, go_template, lua_script
from inventory.events.sveltos import (
    API_VERSION,
    EVENT_SOURCE,
    EVENT_TRIGGER,
    INSTANTIATE_ANNOTATION,
    INSTANTIATE_VALUE,
    POLICY_TEMPLATE_ANNOTATION,
    TARGET_API_VERSION,
    event_name_problem,
    management_selector,
)
from inventory.model import (
    CLUSTER_PROFILE_GROUP,
    CLUSTER_PROFILE_KIND,
    CLUSTER_PROFILE_VERSION,
    DesiredObject,
    Feature,
    is_label_value,
    namespace_problem,
)
from inventory.settings import ANY, Mode, Settings, SettingsError

# Input APIs the EventSources select (SPEC §2).
CAPI_GROUP = "cluster.x-k8s.io"
# Both CAPI versions are selected: sveltos-agent skips a version the cluster does not
# serve, so the EventSource keeps working across CAPI upgrades; the Lua drops the
# second copy of a Cluster served under both.
CAPI_VERSIONS = ("v1beta1", "v1beta2")
CAPI_KUBECONFIG_SECRET_TYPE = "cluster.x-k8s.io/secret"

# The aggregatedSelection scripts: shared helpers first, one chunk per EventSource.
PUSH_LUA = ("common.lua", "push_targets.lua")
PROFILE_LUA = ("common.lua", "profile_targets.lua")

# Kinds of the synthetic targets the Lua scripts emit (see sveltos.TARGET_API_VERSION).
PUSH_TARGET_KIND = "PushSecretTarget"
SVELTOS_CLUSTER_TARGET_KIND = "SveltosClusterTarget"
SVELTOS_KUBECONFIG_TARGET_KIND = "SveltosKubeconfigTarget"

# Identifier of the Secret a target's credentials are read from (push: the CAPI
# kubeconfig Secret; B: the labelled Secret) among its EventTrigger's
# templateResourceRefs, as the template's second pass asks for it (getResource).
KUBECONFIG_RESOURCE = "KubeconfigSecret"

# Kubeconfig fields that make a reader run a program or read its own files (SPEC §9), as the
# Lua and the templates compare them: lower case, since some decoders ignore case.
RUNNABLE_KUBECONFIG_FIELDS = RUNNABLE_FIELDS_LOWER
# A character that may continue a YAML plain scalar next to a field name, so that "exec" inside
# "x-exec" or "certificate-authority" inside "certificate-authority-data" is another field
# (common.lua's NAME_CHAR, on lower-cased text).
_NOT_NAME_CHAR = "[^a-z0-9_.-]"
# Why a credential template refuses to copy a kubeconfig (addon-controller reports it).
STATIC_ONLY_REFUSAL = (
    "kubeconfig carries more than static credentials (exec, auth-provider, tokenFile or a file path, or an "
    "escape, tag or non-ASCII byte that could spell one): outside trustedKubeconfigNamespaces only server, "
    "CA data, token, client certificate and key data are copied"
)

# Data keys of the ConfigMap templates; the key names the rendered object for readers.
PUSH_TEMPLATE_KEY = "secret.yaml"
SVELTOS_CLUSTER_TEMPLATE_KEY = "sveltoscluster.yaml"
SVELTOS_KUBECONFIG_TEMPLATE_KEY = "secret.yaml"

# One CEL rule, not two: sveltos-agent ORs the rules of evaluateCEL (the first rule that
# holds selects the object). Seed 000 listed the two conditions as separate rules and so
# selected every "*-kubeconfig" Secret and every CAPI Secret (CA, etcd, ...).
CAPI_KUBECONFIG_CEL = (
    'resource.metadata.name.endsWith("-kubeconfig") && '
    f'resource.type == "{CAPI_KUBECONFIG_SECRET_TYPE}"'
)


def push_name(settings: Settings) -> str:
    """Name of A's EventSource and EventTrigger (two kinds, so one name)."""
    return f"{settings.events_name_prefix}-push"


def push_template_name(settings: Settings) -> str:
    return f"{settings.events_name_prefix}-push-secret"


def sveltos_cluster_name(settings: Settings) -> str:
    """Name of B's SveltosCluster EventSource, EventTrigger and ConfigMap template."""
    return f"{settings.events_name_prefix}-sveltoscluster"


def sveltos_kubeconfig_name(settings: Settings) -> str:
    """Name of B's kubeconfig-Secret EventSource, EventTrigger and ConfigMap template."""
    return f"{settings.events_name_prefix}-sveltos-kubeconfig"


def plan_events(settings: Settings) -> tuple[DesiredObject, ...]:
    """Every Event Framework object the settings call for, sorted like the rest of the plan.

    Raises SettingsError, listing every problem, when the settings cannot produce
    objects the API server and Sveltos accept (names over limits, an empty management
    cluster selector, malformed extras ...); nothing is planned then.
    """
    problems = events_settings_problems(settings)
    objects: list[DesiredObject] = []
    if settings.push_mode is Mode.EVENTS:
        objects.extend(push_objects(settings))
    if settings.sveltos_mode is Mode.EVENTS:
        objects.extend(sveltos_objects(settings))
    extra_objects, extra_problems = extras.plan_extras(settings)
    problems.extend(extra_problems)
    objects.extend(extra_objects)
    problems.extend(_clashes(objects))
    if problems:
        raise SettingsError("\n".join(problems))
    return tuple(sorted(objects, key=lambda obj: obj.sort_key))


def events_settings_problems(settings: Settings) -> list[str]:
    """What in the settings the built-in Event Framework objects cannot be made from."""
    if Mode.EVENTS not in (settings.push_mode, settings.sveltos_mode):
        return []
    problems: list[str] = []
    names: list[str] = []
    if settings.push_mode is Mode.EVENTS:
        names += [push_name(settings), push_template_name(settings)]
    if settings.sveltos_mode is Mode.EVENTS:
        names += [sveltos_cluster_name(settings), sveltos_kubeconfig_name(settings)]
    for name in names:
        problem = event_name_problem(name)
        if problem is not None:
            problems.append(f"eventsNamePrefix: {settings.events_name_prefix!r} gives an unusable name: {problem}")
    problem = namespace_problem(settings.events_namespace)
    if problem is not None:
        problems.append(f"eventsNamespace: {problem}")
    problems.extend(_management_selector_problems(settings))
    return problems


def _management_selector_problems(settings: Settings) -> list[str]:
    # An empty selector matches every cluster Sveltos manages: the kubeconfig Secrets
    # would be written into all of them, not only into the management cluster.
    if not settings.management_cluster_selector:
        return [
            (
                "managementClusterSelector: must name at least one label in events mode "
                "(an empty selector matches every managed cluster)"
            )
        ]
    return [
        f"managementClusterSelector: value {value!r} of {key!r} is not a valid label value"
        for key, value in settings.management_cluster_selector.items()
        if not is_label_value(value)
    ]


# --- A: push model ---------------------------------------------------------------------

def push_objects(settings: Settings) -> list[DesiredObject]:
    name = push_name(settings)
    template = push_template_name(settings)
    return [
        event_source(settings, name, push_resource_selectors(settings),
                     lua_script(PUSH_LUA, push_lua_config(settings))),
        event_trigger(settings, name, name, template,
                      template_resource_refs=[kubeconfig_secret_ref("kubeconfigSecretName", "kubeconfigSecretNamespace")]),
        template_config_map(settings, template, PUSH_TEMPLATE_KEY,
                            go_template("push-secret.yaml", push_template_variables(settings)),
                            second_pass=True),
    ]


def kubeconfig_secret_ref(name_field: str, namespace_field: str) -> dict[str, Any]:
    """The Secret the target's fields ``name_field``/``namespace_field`` name, for
    addon-controller to fetch when it deploys.

    event-manager instantiates the name and namespace per target (oneForEvent), so each
    ClusterProfile it creates references exactly one Secret.
    """
    return {
        "identifier": KUBECONFIG_RESOURCE,
        "resource": {"apiVersion": "v1", "kind": "Secret",
                     "name": f"{{{{ .Resource.spec.{name_field} }}}}",
                     "namespace": f"{{{{ .Resource.spec.{namespace_field} }}}}"},
    }


def push_resource_selectors(settings: Settings) -> list[dict[str, Any]]:
    """Clusters with a profile name, their kubeconfig Secrets, consumer and ClusterSet Namespaces."""
    namespaces = settings.capi_namespaces or ("",)
    selectors: list[dict[str, Any]] = []
    for version in CAPI_VERSIONS:
        for namespace in namespaces:
            selectors.append(_selector(CAPI_GROUP, version, "Cluster", namespace,
                                       has_labels=[settings.cluster_profile_name_label]))
    for namespace in namespaces:
        selector = _selector("", "v1", "Secret", namespace, has_labels=[settings.capi_cluster_name_label])
        selector["evaluateCEL"] = [{"name": "capi-kubeconfig-secret", "rule": CAPI_KUBECONFIG_CEL}]
        selectors.append(selector)
    selectors.append(_selector("", "v1", "Namespace", "", has_labels=[settings.consumer_namespace_label]))
    for key in settings.cluster_set_namespace_labels:
        selectors.append(_selector("", "v1", "Namespace", "", has_labels=[key]))
    return selectors


def push_lua_config(settings: Settings) -> dict[str, LuaValue]:
    return {
        **trust_lua_config(settings),
        "clusterPlacementRoutes": {origin: canonical(targets)
                                   for origin, targets in settings.cluster_placement_routes.items()},
        "consumerNamespaceSelector": dict(settings.consumer_namespace_selector),
        "consumerNamespaces": canonical(settings.consumer_namespaces),
        "capiClusterNameLabel": settings.capi_cluster_name_label,
        "capiNamespaces": list(settings.capi_namespaces),
        "clusterProfileNameLabel": settings.cluster_profile_name_label,
        "clusterProfileNamespaceLabel": settings.cluster_profile_namespace_label,
        "clusterSetLabel": settings.cluster_set_label,
        "clusterSetNamespaceLabels": list(settings.cluster_set_namespace_labels),
        "consumerNamespaceLabel": settings.consumer_namespace_label,
        "defaultProfileNamespace": settings.default_profile_namespace,
        "profileLabel": settings.profile_label,
        "profileNamespaceLabel": settings.profile_namespace_label,
        "targetApiVersion": TARGET_API_VERSION,
        "targetKind": PUSH_TARGET_KIND,
    }


def trust_lua_config(settings: Settings) -> dict[str, LuaValue]:
    """The routes both scripts apply (SPEC §9), as data: common.lua reads these keys."""
    return {
        "any": ANY,
        "runnableKubeconfigFields": list(RUNNABLE_KUBECONFIG_FIELDS),
        "trustedKubeconfigNamespaces": canonical(settings.trusted_kubeconfig_namespaces),
    }


def canonical(items: Iterable[str]) -> list[str]:
    """A set-valued setting in one order: reordering it in stack config changes no EventSource."""
    return sorted(set(items))


def static_only_variables() -> dict[str, str]:
    """The Lua's static-credentials rule (common.lua, runnable_credentials_problem) as RE2
    patterns, for the credential templates to apply again to the bytes addon-controller copies:
    ``staticOnlyBytes`` on the kubeconfig, ``staticOnlyFields`` on it in lower case."""
    fields = "|".join(re.escape(name) for name in RUNNABLE_KUBECONFIG_FIELDS)
    return {
        "staticOnlyBytes": r"[^\t\n\r -~]|[\\!]",
        "staticOnlyFields": f"(^|{_NOT_NAME_CHAR})({fields})({_NOT_NAME_CHAR}|$)",
        "staticOnlyRefusal": STATIC_ONLY_REFUSAL,
    }


def push_template_variables(settings: Settings) -> dict[str, str]:
    return {
        **static_only_variables(),
        "dataKey": settings.push_secret_key,
        "kubeconfigResource": KUBECONFIG_RESOURCE,
        "managedByLabel": settings.managed_by_label,
        "managedByValue": settings.managed_by_value,
        "profileLabel": settings.profile_label,
        "profileNamespaceLabel": settings.profile_namespace_label,
    }


# --- B: ClusterProfiles -> SveltosClusters ---------------------------------------------

def sveltos_objects(settings: Settings) -> list[DesiredObject]:
    selectors = profile_resource_selectors(settings)
    cluster_name = sveltos_cluster_name(settings)
    kubeconfig_name = sveltos_kubeconfig_name(settings)
    variables = sveltos_template_variables(settings)
    return [
        event_source(settings, cluster_name, selectors,
                     lua_script(PROFILE_LUA, profile_lua_config(settings, emit="sveltoscluster"))),
        event_trigger(settings, cluster_name, cluster_name, cluster_name),
        template_config_map(settings, cluster_name, SVELTOS_CLUSTER_TEMPLATE_KEY,
                            go_template("sveltoscluster.yaml", variables)),
        event_source(settings, kubeconfig_name, selectors,
                     lua_script(PROFILE_LUA, profile_lua_config(settings, emit="kubeconfig"))),
        event_trigger(settings, kubeconfig_name, kubeconfig_name, kubeconfig_name,
                      template_resource_refs=[kubeconfig_secret_ref("sourceSecretName", "sourceSecretNamespace")]),
        template_config_map(settings, kubeconfig_name, SVELTOS_KUBECONFIG_TEMPLATE_KEY,
                            go_template("sveltos-kubeconfig-secret.yaml",
                                        {**variables, **static_only_variables(),
                                         "kubeconfigResource": KUBECONFIG_RESOURCE}),
                            second_pass=True),
    ]


def profile_resource_selectors(settings: Settings) -> list[dict[str, Any]]:
    """ClusterProfiles, and the Secrets labelled with a ClusterProfile's name (seed 001).

    Secrets this program writes carry that label too (push Secrets) and are left out
    here already (``!=`` also matches Secrets without the label); the Lua checks again.
    """
    namespaces = settings.profile_namespaces or ("",)
    selectors = [_selector(CLUSTER_PROFILE_GROUP, CLUSTER_PROFILE_VERSION, CLUSTER_PROFILE_KIND, namespace, has_labels=[])
                 for namespace in namespaces]
    for namespace in namespaces:
        selector = _selector("", "v1", "Secret", namespace, has_labels=[settings.profile_label])
        selector["labelFilters"].append(
            {"key": settings.managed_by_label, "operation": "Different", "value": settings.managed_by_value})
        selectors.append(selector)
    return selectors


def profile_lua_config(settings: Settings, *, emit: str) -> dict[str, LuaValue]:
    kinds = {"sveltoscluster": SVELTOS_CLUSTER_TARGET_KIND, "kubeconfig": SVELTOS_KUBECONFIG_TARGET_KIND}
    return {
        **trust_lua_config(settings),
        "emit": emit,
        "kubeconfigKey": settings.sveltos_kubeconfig_key,
        "managedByLabel": settings.managed_by_label,
        "managedByValue": settings.managed_by_value,
        "managementClusterSelector": dict(settings.management_cluster_selector),
        "profileLabel": settings.profile_label,
        "profileNamespaces": list(settings.profile_namespaces),
        "sveltosClusterLabels": canonical(settings.sveltos_cluster_labels),
        "targetApiVersion": TARGET_API_VERSION,
        "targetKind": kinds[emit],
    }


def sveltos_template_variables(settings: Settings) -> dict[str, str]:
    return {
        "displayNameAnnotation": settings.display_name_annotation,
        "managedByLabel": settings.managed_by_label,
        "managedByValue": settings.managed_by_value,
    }


# --- shared shapes ----------------------------------------------------------------------

def _selector(group: str, version: str, kind: str, namespace: str, *, has_labels: Iterable[str]) -> dict[str, Any]:
    selector: dict[str, Any] = {"group": group, "version": version, "kind": kind}
    if namespace:
        selector["namespace"] = namespace
    filters = [{"key": key, "operation": "Has"} for key in has_labels]
    if filters:
        selector["labelFilters"] = filters
    return selector


def managed_by(settings: Settings) -> dict[str, str]:
    return {settings.managed_by_label: settings.managed_by_value}


def event_source(settings: Settings, name: str, selectors: list[dict[str, Any]], lua: str) -> DesiredObject:
    # collectResources: the EventTrigger's templates read the targets' content, not only
    # their names.
    spec = {"collectResources": True, "resourceSelectors": selectors, "aggregatedSelection": lua}
    return DesiredObject(API_VERSION, EVENT_SOURCE, None, name, Feature.EVENTS,
                         labels=managed_by(settings), fields={"spec": spec})


def event_trigger(settings: Settings, name: str, source: str, template: str, *,
                  template_resource_refs: list[dict[str, Any]] | None = None) -> DesiredObject:
    # oneForEvent: one ClusterProfile (and so one rendered object) per target, so a
    # target that goes away withdraws exactly its own object.
    spec: dict[str, Any] = {
        "sourceClusterSelector": management_selector(settings.management_cluster_selector),
        "eventSourceName": source,
        "oneForEvent": True,
        "policyRefs": [{"kind": "ConfigMap", "name": template, "namespace": settings.events_namespace}],
    }
    if template_resource_refs:
        spec["templateResourceRefs"] = template_resource_refs
    return DesiredObject(API_VERSION, EVENT_TRIGGER, None, name, Feature.EVENTS,
                         labels=managed_by(settings), fields={"spec": spec})


def template_config_map(settings: Settings, name: str, key: str, template: str, *,
                        second_pass: bool = False) -> DesiredObject:
    """A template event-manager instantiates per target; ``second_pass``: and whose
    output addon-controller instantiates again when it deploys (see sveltos.py)."""
    annotations = {INSTANTIATE_ANNOTATION: INSTANTIATE_VALUE}
    if second_pass:
        annotations[POLICY_TEMPLATE_ANNOTATION] = INSTANTIATE_VALUE
    return DesiredObject(
        "v1", "ConfigMap", settings.events_namespace, name, Feature.EVENTS,
        labels=managed_by(settings),
        annotations=annotations,
        fields={"data": {key: template}},
    )


def _clashes(objects: list[DesiredObject]) -> list[str]:
    """Two planned objects with one identity (an extra reusing a built-in name, say)."""
    seen: set[str] = set()
    problems: list[str] = []
    for obj in objects:
        if obj.logical_name in seen:
            problems.append(f"{obj.ref}: declared twice (an extra object reuses a name already planned)")
        seen.add(obj.logical_name)
    return problems
