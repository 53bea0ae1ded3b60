"""Feature E (SPEC §3 E): this stack as the cluster manager of Cluster API Clusters.

Pure planning, one step of ``inventory.plan.compose.build_plan``: every selected CAPI Cluster
(labelled with a ClusterProfile name, or every Cluster with ``clusterProfileAllClusters``) becomes
a ClusterProfile (``CLUSTER_PROFILE_API_VERSION``), named and placed as seed 000 does
(``PushPlanner.profile_identity``), spec and status:

- spec: ``displayName`` and the immutable ``clusterManager.name``; labels: the cluster manager,
  the ClusterSet, the Cluster's labels of ``clusterProfileLabels``, the managed-by label;
- status (written through the status subresource by ``inventory.stack.status``):
  ``ControlPlaneHealthy`` from Cluster API's own conditions (``control_plane_health``),
  ``version.kubernetes``, ``properties`` Cluster API knows, and one ``kubeconfig-secretreader``
  access provider: the server and CA of the CAPI kubeconfig and, in its exec extension, that
  kubeconfig Secret itself *with its namespace*, so that every reader of the name reads the same
  Secret (seed 002's controller defaults to the profile's namespace, cluster-inventory-api's
  plugin to the consumer's own).

With grants (docs/security.md, "Grants"), the access provider is cluster-inventory-api's
``secretreader`` instead: the same server, CA, tls-server-name and proxy-url, and in its exec
extension ``{"clusterName": token_secret_name(profile)}``. The plugin reads key ``token`` of the
Secret of that name in the consumer's own namespace, and ``profile_token_secrets`` plans one there
for every consumer namespace whose grant selects the Cluster, holding that consumer's own token
(the grant its push Secrets use: one token per consumer and cluster). The admin
``kubeconfig-secretreader`` entry stays only with ``keepAdminSecretReader``.

The model ``ClusterProfile`` of each published profile is returned too, so that feature B reads
it in the same run. A profile that exists under another cluster manager's name is reported and
left alone (``spec.clusterManager.name`` is immutable: the API server refuses to change it).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from inventory.credentials import (
    EXEC_EXTENSION,
    SECRET_READER_PROVIDER,
    TOKEN_READER_KEY,
    TOKEN_READER_PROVIDER,
    endpoint_entry,
    kubeconfig_endpoint,
)
from inventory.model import (
    CLUSTER_PROFILE_API_VERSION,
    CLUSTER_PROFILE_KIND,
    GRANTED_TOKEN,
    AccessProvider,
    CapiCluster,
    CapiClusterStatus,
    ClusterAccess,
    ClusterProfile,
    Condition,
    DesiredObject,
    Feature,
    ObjectRef,
    is_label_value,
    name_problem,
)
from inventory.plan.context import PlanContext
from inventory.plan.grants import CONSUMER_LABEL, GrantPlanner
from inventory.plan.push import PushPlanner, rightful_claimant
from inventory.settings import Settings

# cluster-inventory-api v0.1.3, apis/v1alpha1 (its group/version and kind: inventory.model): the
# labels a cluster manager sets (LabelClusterManagerKey, LabelClusterSetKey) and the one condition
# it defines (ClusterConditionControlPlaneHealthy), which multicluster-runtime waits for.
LABEL_CLUSTER_MANAGER_KEY = "x-k8s.io/cluster-manager"
LABEL_CLUSTER_SET_KEY = "multicluster.x-k8s.io/clusterset"
CONDITION_CONTROL_PLANE_HEALTHY = "ControlPlaneHealthy"

# Cluster API's condition types (sigs.k8s.io/cluster-api v1.11.0 and cluster-api/api v1.14.2):
# v1beta2 (metav1.Condition) in core/v1beta2/cluster_types.go, v1beta1 in core/v1beta1/condition_consts.go.
CAPI_CONTROL_PLANE_AVAILABLE = "ControlPlaneAvailable"  # v1beta2: mirrors the control plane's Available
CAPI_CONTROL_PLANE_INITIALIZED = "ControlPlaneInitialized"  # v1beta2: the API server accepts requests
CAPI_REMOTE_CONNECTION_PROBE = "RemoteConnectionProbe"  # v1beta2: False when unreachable for 50 s
CAPI_CONTROL_PLANE_READY = "ControlPlaneReady"  # v1beta1: the control plane object's Ready

# KEP-2149's well-known property: the ClusterSet a cluster belongs to.
PROPERTY_CLUSTER_SET = "clusterset.k8s.io"
# Custom properties (the API allows a cluster manager's own names): what Cluster API knows.
PROPERTY_PHASE = "cluster.x-k8s.io/phase"
PROPERTY_CLASS = "cluster.x-k8s.io/cluster-class"

# metav1.Condition's rules (k8s.io/apimachinery meta/v1 types.go): reason is CamelCase-like,
# 1..1024 characters; message at most 32768.
_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
_MAX_REASON = 1024
_MAX_MESSAGE = 32768
_CONDITION_STATUSES = ("True", "False", "Unknown")


@dataclass(frozen=True)
class Health:
    """``ControlPlaneHealthy`` before its transition time is decided."""

    status: str
    reason: str
    message: str
    since: str = ""  # the source condition's lastTransitionTime, "" when unknown


def control_plane_health(cluster: CapiCluster) -> Health:
    """``ControlPlaneHealthy`` from the Cluster's own conditions, with their reason and message.

    The v1beta2 conditions win when present (Cluster API >= 1.9 writes them, on v1beta1
    objects under ``status.v1beta2``): an unreachable control plane (``RemoteConnectionProbe``
    False) is unhealthy whatever else is reported; otherwise ``ControlPlaneAvailable``
    is carried over; a control plane not yet initialized is unhealthy. Without them,
    v1beta1's ``ControlPlaneReady`` condition, then its ``status.controlPlaneReady`` flag.
    Nothing known: Unknown.
    """
    status = cluster.status
    if status.problem is not None:
        return Health("Unknown", "StatusUnreadable", f"Cluster {cluster.namespace}/{cluster.name}: {status.problem}")
    v1beta2 = {condition.type: condition for condition in status.conditions}
    probe = v1beta2.get(CAPI_REMOTE_CONNECTION_PROBE)
    if probe is not None and probe.status == "False":
        return _carried(probe, "RemoteConnectionProbeFailed")
    available = v1beta2.get(CAPI_CONTROL_PLANE_AVAILABLE)
    if available is not None:
        return _carried(available, _default_reason(available))
    initialized = v1beta2.get(CAPI_CONTROL_PLANE_INITIALIZED)
    if initialized is not None and initialized.status != "True":
        return _carried(initialized, "ControlPlaneNotInitialized",
                        status="False" if initialized.status == "False" else "Unknown")
    return _v1beta1_health(status, cluster)


def _v1beta1_health(status: CapiClusterStatus, cluster: CapiCluster) -> Health:
    ready = next((c for c in status.v1beta1_conditions if c.type == CAPI_CONTROL_PLANE_READY), None)
    if ready is not None:
        return _carried(ready, _default_reason(ready))
    if status.control_plane_ready is True:
        return Health("True", "ControlPlaneReady", "status.controlPlaneReady is true")
    if status.control_plane_ready is False:
        return Health("False", "ControlPlaneNotReady", "status.controlPlaneReady is false")
    return Health("Unknown", "ControlPlaneHealthUnknown",
                  f"Cluster API reports no control plane condition on Cluster {cluster.namespace}/{cluster.name} yet")


# The reason when Cluster API gave none (v1beta1 conditions may have none when True).
_DEFAULT_REASONS = {
    CAPI_CONTROL_PLANE_AVAILABLE: {"True": "ControlPlaneAvailable", "False": "ControlPlaneNotAvailable"},
    CAPI_CONTROL_PLANE_READY: {"True": "ControlPlaneReady", "False": "ControlPlaneNotReady"},
}


def _default_reason(condition: Condition) -> str:
    return _DEFAULT_REASONS[condition.type].get(condition.status, f"{condition.type}Unknown")


def _carried(source: Condition, fallback_reason: str, *, status: str | None = None) -> Health:
    """A Cluster API condition as ControlPlaneHealthy: its status, reason and message carried over
    (a reason metav1.Condition would refuse is replaced, and kept in the message)."""
    value = status or (source.status if source.status in _CONDITION_STATUSES else "Unknown")
    reason = source.reason if source.reason and _REASON.match(source.reason) else fallback_reason
    message = source.message or f"Cluster API reports {source.type}={source.status}"
    if source.reason and reason != source.reason:
        message = f"{source.reason}: {message}"
    return Health(value, reason[:_MAX_REASON], message[:_MAX_MESSAGE], source.last_transition_time)


def kubernetes_version(status: CapiClusterStatus) -> str:
    """The control plane's version where Cluster API knows one: the single version its machines
    run (v1beta2 ``status.controlPlane.versions``), else the topology's desired version."""
    versions = sorted(set(status.control_plane_versions))
    if len(versions) == 1:
        return versions[0]
    return status.topology_version


def transition_time(health: Health, live: ClusterProfile | None, now: datetime) -> str:
    """``lastTransitionTime``: the live profile's while the status is unchanged (so a steady run
    changes nothing), else when Cluster API saw the change, else ``now``."""
    if live is not None:
        previous = next((c for c in live.conditions if c.type == CONDITION_CONTROL_PLANE_HEALTHY), None)
        if previous is not None and previous.status == health.status and previous.last_transition_time:
            return previous.last_transition_time
    return _rfc3339(health.since) or now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc3339(text: str) -> str:
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Access:
    """How a published profile reaches its cluster: the admin ``kubeconfig-secretreader`` entry,
    and the CAPI kubeconfig's cluster entry cut to its endpoint (for ``secretreader``)."""

    admin: ClusterAccess
    endpoint: Mapping[str, Any]


def token_secret_name(profile_namespace: str, profile_name: str) -> str:
    """The ``clusterName`` of a published profile's ``secretreader`` entry, and so the name of every
    consumer's token Secret for it: ``<profile namespace>.<profile name>``.

    The profile's name alone is unique only within its namespace (two CAPI namespaces may both
    publish ``prod``), while every consumer reads all its token Secrets from its one namespace. A
    namespace name holds no dot, so the first dot splits the pair again: no two profiles share it."""
    return f"{profile_namespace}.{profile_name}"


@dataclass(frozen=True)
class _Candidate:
    cluster: CapiCluster
    name: str
    namespace: str
    # Whether its ClusterSet label is honoured (``PushPlanner.is_cluster_set_member``): a label is a
    # request, and joining a set makes consumers that select the set deploy to the cluster.
    in_cluster_set: bool


def cluster_profiles(
    context: PlanContext, push_planner: PushPlanner, now: datetime
) -> tuple[list[DesiredObject], list[ClusterProfile]]:
    """Every published ClusterProfile as a desired object (spec and status), and as the model
    object feature B reads; what a Cluster lacks is reported on ``context`` and it is skipped."""
    settings = context.settings
    candidates = [
        candidate
        for cluster in sorted(context.inventory.clusters, key=lambda c: c.ref.sort_key)
        if (candidate := _candidate(context, push_planner, cluster)) is not None
    ]
    live = {profile.ref: profile for profile in context.inventory.profiles}
    objects: list[DesiredObject] = []
    published: list[ClusterProfile] = []
    for candidate in _without_clashes(context, candidates):
        ref = ObjectRef(CLUSTER_PROFILE_KIND, candidate.namespace, candidate.name)
        existing = live.get(ref)
        if existing is not None and existing.cluster_manager != settings.cluster_manager_name:
            context.warn(candidate.cluster.ref, (
                f"skipped: ClusterProfile {candidate.namespace}/{candidate.name} exists and names cluster manager "
                f"{existing.cluster_manager!r}, not {settings.cluster_manager_name!r}: it is left alone "
                "(spec.clusterManager.name is immutable; to take it over, delete it and the next run publishes it)"))
            continue
        health = control_plane_health(candidate.cluster)
        if candidate.cluster.status.problem is not None:
            context.warn(candidate.cluster.ref, f"status unreadable, ControlPlaneHealthy is Unknown: "
                                                f"{candidate.cluster.status.problem}")
        access = _access(context, push_planner, candidate)
        unhealthy = settings.require_healthy_control_plane and health.status != "True"
        waits = unhealthy and not _had_access(existing)
        if access is not None and waits:
            context.wait(candidate.cluster.ref, (
                f"ControlPlaneHealthy={health.status} ({health.reason}: {health.message}); the "
                "ClusterProfile is published without access providers until it is healthy"))
        elif access is not None and unhealthy:
            context.warn(candidate.cluster.ref, (
                f"control plane not healthy, ControlPlaneHealthy={health.status} ({health.reason}): its "
                "ClusterProfile keeps its access providers (a health flap never removes them)"))
        withheld = waits or access is None
        labels = _labels(candidate, settings.cluster_manager_name, settings.cluster_set_label,
                         settings.cluster_profile_labels, {settings.managed_by_label: settings.managed_by_value})
        display_name = candidate.cluster.name
        providers = None if withheld or access is None else _access_providers(candidate, access, settings)
        status = _status(candidate.cluster, health, transition_time(health, existing, now),
                         providers, settings.cluster_set_label if candidate.in_cluster_set else None)
        objects.append(DesiredObject(
            api_version=CLUSTER_PROFILE_API_VERSION,
            kind=CLUSTER_PROFILE_KIND,
            namespace=candidate.namespace,
            name=candidate.name,
            feature=Feature.CLUSTER_MANAGER,
            source=candidate.cluster.ref,
            labels=labels,
            fields={"spec": {"displayName": display_name,
                             "clusterManager": {"name": settings.cluster_manager_name}},
                    "status": status},
        ))
        if withheld or access is None:
            continue  # nothing for feature B to read yet
        # The model keeps the admin entry whatever the status lists: features B and D of this run
        # read the CAPI kubeconfig through it, and with grants give their own consumer
        # (eventsNamespace, argocdNamespace) only what its grant entry allows.
        published.append(ClusterProfile(
            namespace=candidate.namespace,
            name=candidate.name,
            labels=labels,
            display_name=display_name,
            access_providers=(AccessProvider(SECRET_READER_PROVIDER, access.admin),),
            cluster_manager=settings.cluster_manager_name,
            published_from=candidate.cluster.ref,
        ))
    return objects, published


def _access(context: PlanContext, push_planner: PushPlanner, candidate: _Candidate) -> _Access | None:
    """The ``kubeconfig-secretreader`` provider's cluster: the CAPI kubeconfig's server and CA, and the
    CAPI kubeconfig Secret itself, namespace included; and the endpoint ``secretreader`` gets. None,
    reported, while that kubeconfig is missing or unusable: the cluster manager still lists the
    cluster, without a way in."""
    kubeconfig = push_planner.capi_kubeconfig_secret(candidate.cluster)  # what is missing is reported there
    reason = None
    if kubeconfig is not None:
        try:
            endpoint = kubeconfig_endpoint(kubeconfig.data)
            entry = endpoint_entry(kubeconfig.data)
        except ValueError as err:
            reason = f"kubeconfig {kubeconfig.secret} key {kubeconfig.key}: {err}"
        else:
            return _Access(ClusterAccess(
                server=endpoint.server,
                certificate_authority_data=endpoint.certificate_authority_data,
                insecure_skip_tls_verify=endpoint.insecure_skip_tls_verify,
                extensions={EXEC_EXTENSION: {"name": kubeconfig.secret.name, "key": kubeconfig.key,
                                             "namespace": kubeconfig.secret.namespace or ""}},
            ), entry)
    context.warn(candidate.cluster.ref, (
        f"ClusterProfile {candidate.namespace}/{candidate.name} is published without access providers "
        f"until the Cluster's kubeconfig Secret is usable" + (f" ({reason})" if reason else "")))
    return None


def _had_access(live: ClusterProfile | None) -> bool:
    """Whether the live profile lists one of this program's access providers (its credentials are out)."""
    return live is not None and any(p.name in (SECRET_READER_PROVIDER, TOKEN_READER_PROVIDER)
                                    for p in live.access_providers)


def profile_token_secrets(context: PlanContext, push_planner: PushPlanner, granting: GrantPlanner,
                          published: Sequence[ClusterProfile]) -> list[DesiredObject]:
    """With grants: for each published profile, a token Secret ``<consumer>/<token_secret_name>``
    (key ``token``) in every consumer namespace whose grant entry selects its Cluster, filled by
    the stack from that consumer's grant for the Cluster (the same grant as its push Secrets).

    Consumer namespaces are those that receive credentials (``consumerNamespaces`` /
    ``consumerNamespaceSelector``). A consumer with ``admin: true`` gets no token: it reads the
    admin entry, which ``keepAdminSecretReader`` keeps (reported when it is not kept)."""
    settings = context.settings
    objects: list[DesiredObject] = []
    for consumer in push_planner.credential_namespaces():
        entry = settings.consumer_grants(consumer)
        if entry is None:
            continue  # no grant: nothing to read, as for its push Secrets
        if entry.admin:
            if not settings.keep_admin_secret_reader and published:
                context.warn(ObjectRef("Namespace", None, consumer), (
                    f"grants[{consumer!r}] is admin: true, but published ClusterProfiles carry no "
                    "kubeconfig-secretreader entry: this consumer reads no credential from them "
                    "(set keepAdminSecretReader: true to keep the admin entry)"))
            continue
        for profile in published:
            if profile.published_from is None:
                continue
            found = granting.credential(profile.published_from, consumer)
            if found is None or found[1] is None:
                continue
            objects.append(DesiredObject(
                "v1", "Secret", consumer, token_secret_name(profile.namespace, profile.name),
                Feature.CLUSTER_MANAGER, profile.published_from,
                labels={settings.managed_by_label: settings.managed_by_value, CONSUMER_LABEL: consumer},
                fields={"type": "Opaque"},
                secret_data={TOKEN_READER_KEY: GRANTED_TOKEN.encode()},
                grant=found[1],
            ))
    return objects


def _candidate(context: PlanContext, push_planner: PushPlanner, cluster: CapiCluster) -> _Candidate | None:
    settings = context.settings
    own_name = settings.cluster_profile_all_clusters
    if not own_name and settings.cluster_profile_name_label not in cluster.labels:
        return None
    name, namespace = push_planner.profile_identity(cluster, own_name=own_name)
    problems = [problem for problem in (name_problem(name), name_problem(namespace)) if problem]
    if not is_label_value(name):
        problems.append(f"ClusterProfile name {name!r} is not a valid label value (consumers label with it)")
    if settings.profile_namespaces and namespace not in settings.profile_namespaces:
        problems.append(f"its ClusterProfile's namespace {namespace} is not in profileNamespaces, so this stack "
                        "cannot see whether a ClusterProfile exists there: add it to profileNamespaces")
    if problems:
        context.warn(cluster.ref, "skipped: ClusterProfile " + "; ".join(problems))
        return None
    refusal = push_planner.placement_problem(cluster, namespace)
    if refusal is not None:
        context.warn(cluster.ref, f"skipped, {refusal}")
        return None
    return _Candidate(cluster, name, namespace, push_planner.is_cluster_set_member(cluster))


def _without_clashes(context: PlanContext, candidates: Sequence[_Candidate]) -> list[_Candidate]:
    """Candidates no other Cluster's profile collides with; a clash is reported and neither wins."""
    by_ref: dict[tuple[str, str], list[_Candidate]] = {}
    for candidate in candidates:
        by_ref.setdefault((candidate.namespace, candidate.name), []).append(candidate)
    kept = []
    for (namespace, name), claimants in by_ref.items():
        rightful = rightful_claimant(claimants, lambda c: c.cluster.namespace == c.namespace)
        if rightful is not None:
            kept.append(rightful)
            for candidate in claimants:
                if candidate is not rightful:
                    context.warn(candidate.cluster.ref, (
                        f"skipped, refused: ClusterProfile {namespace}/{name} belongs to {rightful.cluster.ref}, "
                        "whose own namespace it is; a claim from another namespace never displaces it"))
            continue
        for candidate in claimants:
            others = ", ".join(str(c.cluster.ref) for c in claimants if c is not candidate)
            context.warn(candidate.cluster.ref, f"skipped: ClusterProfile {namespace}/{name} is also claimed by "
                                                f"{others}; neither is published")
    return kept


def _labels(candidate: _Candidate, manager: str, cluster_set_label: str, carried: Sequence[str],
            managed_by: Mapping[str, str]) -> dict[str, str]:
    labels = {key: candidate.cluster.labels[key] for key in carried if key in candidate.cluster.labels}
    labels[LABEL_CLUSTER_MANAGER_KEY] = manager
    cluster_set = candidate.cluster.labels.get(cluster_set_label)
    if cluster_set and candidate.in_cluster_set:
        labels[LABEL_CLUSTER_SET_KEY] = cluster_set
    labels.update(managed_by)
    return labels


def _access_providers(candidate: _Candidate, access: _Access, settings: Settings) -> list[dict[str, Any]]:
    """``status.accessProviders``: ``secretreader`` with grants, ``kubeconfig-secretreader`` without
    them (or with ``keepAdminSecretReader``)."""
    providers = []
    if settings.grants_enabled:
        cluster_name = token_secret_name(candidate.namespace, candidate.name)
        providers.append({"name": TOKEN_READER_PROVIDER, "cluster": {
            **access.endpoint,
            "extensions": [{"name": EXEC_EXTENSION, "extension": {"clusterName": cluster_name}}]}})
    if not settings.grants_enabled or settings.keep_admin_secret_reader:
        providers.append({"name": SECRET_READER_PROVIDER, "cluster": _admin_cluster(access.admin)})
    return providers


def _admin_cluster(access: ClusterAccess) -> dict[str, Any]:
    provider_cluster: dict[str, Any] = {"server": access.server}
    if access.certificate_authority_data:
        provider_cluster["certificate-authority-data"] = base64.b64encode(
            access.certificate_authority_data).decode("ascii")
    if access.insecure_skip_tls_verify:
        provider_cluster["insecure-skip-tls-verify"] = True
    provider_cluster["extensions"] = [{"name": name, "extension": extension}
                                      for name, extension in sorted(access.extensions.items())]
    return provider_cluster


def _status(cluster: CapiCluster, health: Health, since: str, providers: list[dict[str, Any]] | None,
            cluster_set_label: str | None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [{
            "type": CONDITION_CONTROL_PLANE_HEALTHY,
            "status": health.status,
            "reason": health.reason,
            "message": health.message,
            "lastTransitionTime": since,
        }],
    }
    version = kubernetes_version(cluster.status)
    if version:
        status["version"] = {"kubernetes": version}
    properties = [
        {"name": name, "value": value[:1024]}
        for name, value in (
            (PROPERTY_CLUSTER_SET, cluster.labels.get(cluster_set_label, "") if cluster_set_label else ""),
            (PROPERTY_CLASS, cluster.status.topology_class),
            (PROPERTY_PHASE, cluster.status.phase),
        )
        if value
    ]
    if properties:
        status["properties"] = properties
    if providers:
        status["accessProviders"] = providers
    return status
