"""Grants (docs/security.md, "Grants"): each consumer's own identity on each workload cluster.

Pure planning, one step of ``inventory.plan.compose.build_plan``, taken only when stack config
sets ``grants``. For every (CAPI Cluster, consumer namespace) pair a credential is planned for,
``GrantPlanner.credential`` decides what the consumer gets:

- its entry says ``admin: true``: the CAPI admin kubeconfig, as without grants;
- an ``access`` entry selects the Cluster: a ``Grant`` (a ServiceAccount and bindings on the
  workload cluster, and a TokenRequest token the stack mints at apply time through the
  project's provider, ``inventory.stack.grants``) and a token kubeconfig that reaches the same
  server as the admin kubeconfig (server, CA, tls-server-name, proxy-url) with ``GRANTED_TOKEN``
  standing for that token;
- otherwise nothing: a consumer never falls back to the admin kubeconfig.

A ``Grant`` names the admin kubeconfig's Secret, never its content: the provider reads it when
it applies, so no admin credential is ever an input stored in the state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from inventory.credentials import EndpointError, token_kubeconfig
from inventory.model import GRANTED_TOKEN, CapiCluster, DesiredObject, Feature, ObjectRef
from inventory.plan.context import PlanContext
from inventory.plan.push import CAPI_KUBECONFIG_SECRET_TYPE, CapiKubeconfig, PushPlanner
from inventory.settings import MCR_CONSUMER_LABEL, MCR_KUBECONFIG_KEY, PushLayout, Settings

GRANT_KIND = "ConsumerGrant"
# Every role and binding the program makes on a workload cluster is named with this prefix and the
# consumer namespace (``cluster-inventory:team-a``), so that it cannot be mistaken for another
# writer's, and is labelled with the consumer it serves (``CONSUMER_LABEL``).
ROLE_PREFIX = "cluster-inventory"
CONSUMER_LABEL = "grants.cluster-inventory.x-k8s.io/consumer"


@dataclass(frozen=True)
class Binding:
    """One binding of a consumer's ServiceAccount: cluster-wide (``namespace`` None) or in one
    namespace, to an existing ClusterRole (``cluster_role``) or to the program's own role that
    holds ``rules``."""

    namespace: str | None
    cluster_role: str | None
    rules: tuple[Mapping[str, Any], ...] = ()

    def spec(self) -> dict[str, Any]:
        return {"namespace": self.namespace or "", "clusterRole": self.cluster_role or "",
                "rules": [dict(rule) for rule in self.rules]}


@dataclass(frozen=True)
class Grant:
    """One consumer's identity on one workload cluster, as the provider applies it."""

    cluster: ObjectRef  # the CAPI Cluster
    kubeconfig_secret: ObjectRef  # its admin kubeconfig Secret on the management cluster: read at apply time
    kubeconfig_key: str
    consumer: str  # the consumer namespace
    service_account_namespace: str
    service_account: str
    bindings: tuple[Binding, ...]
    token_lifetime_seconds: int
    labels: Mapping[str, str]

    @property
    def logical_name(self) -> str:
        return f"{GRANT_KIND}/{self.cluster.namespace}/{self.cluster.name}/{self.consumer}"

    @property
    def username(self) -> str:
        """Who the token authenticates as on the workload cluster."""
        return f"system:serviceaccount:{self.service_account_namespace}:{self.service_account}"

    def spec(self) -> dict[str, Any]:
        """What the grant is, as the provider's input (JSON-able; no credential)."""
        return {
            "serviceAccount": {"namespace": self.service_account_namespace, "name": self.service_account},
            "bindings": [binding.spec() for binding in self.bindings],
            "labels": dict(self.labels),
        }


def role_name(consumer: str, cluster_role: str | None = None) -> str:
    """The name of a consumer's role (``cluster-inventory:team-a``) or of its binding to an
    existing ClusterRole (``cluster-inventory:team-a:view``)."""
    return f"{ROLE_PREFIX}:{consumer}" + (f":{cluster_role}" if cluster_role else "")


def bindings_for(entries: Sequence[Any]) -> tuple[Binding, ...]:
    """A consumer's selected ``access`` entries as bindings, one per scope and ClusterRole; the
    rules of one scope join in one role of the program's."""
    rules: dict[str | None, list[Mapping[str, Any]]] = {}
    roles: set[tuple[str | None, str]] = set()
    for entry in entries:
        for scope in entry.namespaces or (None,):
            if entry.cluster_role:
                roles.add((scope, entry.cluster_role))
            else:
                rules.setdefault(scope, []).extend(entry.rules)
    bindings = [Binding(scope, role) for scope, role in roles]
    bindings.extend(Binding(scope, None, tuple(scoped)) for scope, scoped in rules.items())
    return tuple(sorted(bindings, key=lambda b: (b.namespace or "", b.cluster_role or "")))


class GrantPlanner:
    """Which credential each consumer gets for each CAPI Cluster, and the grants that makes."""

    def __init__(self, context: PlanContext, push_planner: PushPlanner) -> None:
        self._context = context
        self._settings = context.settings
        self._push_planner = push_planner
        self._clusters = {cluster.ref: cluster for cluster in context.inventory.clusters}
        self._secrets = {secret.ref: secret for secret in context.inventory.secrets}
        self._grants: dict[str, Grant] = {}
        self._reported: set[tuple[str, str]] = set()

    @property
    def grants(self) -> tuple[Grant, ...]:
        return tuple(sorted(self._grants.values(), key=lambda g: g.logical_name))

    def credential(self, cluster_ref: ObjectRef, consumer: str) -> tuple[bytes, str | None] | None:
        """What ``consumer`` gets for the CAPI Cluster ``cluster_ref``: the kubeconfig and the
        grant whose token it waits for (None: the admin kubeconfig itself), or None (reported)."""
        cluster = self._clusters.get(cluster_ref)
        entry = self._settings.consumer_grants(consumer)
        if cluster is None:
            return None
        found = self._push_planner.capi_kubeconfig_secret(cluster)
        if found is None:
            return None
        if entry is None:
            self._report_once(consumer, "", ObjectRef("Namespace", None, consumer),
                              "gets no credentials: grants is set and has no entry for this consumer (give it "
                              f"grants[{consumer!r}].access, or admin: true for the admin kubeconfig)")
            return None
        if entry.admin:
            return found.data, None
        selected = entry.selected_access(cluster.labels)
        if not selected:
            return None  # its access entries select other clusters: nothing here, by design
        try:
            kubeconfig = token_kubeconfig(found.data, cluster.name, GRANTED_TOKEN)
        except EndpointError as err:
            self._report_once(consumer, str(cluster.ref), cluster.ref,
                              f"no grant for consumer {consumer}: kubeconfig {found.secret}: {err}")
            return None
        grant = self._grant(cluster, found, consumer, selected, entry.token_lifetime_seconds)
        self._grants[grant.logical_name] = grant
        return kubeconfig, grant.logical_name

    def capi_cluster_of(self, secret: ObjectRef | None) -> ObjectRef | None:
        """The CAPI Cluster whose admin kubeconfig Secret ``secret`` is (credentials a ClusterProfile
        copies from it, through feature E's kubeconfig-secretreader entry), or None."""
        if secret is None:
            return None
        found = self._secrets.get(secret)
        if found is None or found.type != CAPI_KUBECONFIG_SECRET_TYPE:
            return None
        name = found.labels.get(self._settings.capi_cluster_name_label)
        cluster = ObjectRef("Cluster", found.namespace, name or "")
        return cluster if cluster in self._clusters else None

    def _grant(self, cluster: CapiCluster, found: CapiKubeconfig, consumer: str, selected: Sequence[Any],
               lifetime: int) -> Grant:
        settings = self._settings
        return Grant(cluster.ref, found.secret, found.key, consumer, settings.grant_service_account_namespace,
                     consumer, bindings_for(selected), lifetime,
                     {settings.managed_by_label: settings.managed_by_value, CONSUMER_LABEL: consumer})

    def _report_once(self, consumer: str, about: str, subject: ObjectRef, reason: str) -> None:
        if (consumer, about) not in self._reported:
            self._reported.add((consumer, about))
            self._context.warn(subject, reason)

    def restrict_push(self, objects: Sequence[DesiredObject], consumers_by_name: Mapping[str, Sequence[str]]
                      ) -> list[DesiredObject]:
        """Feature A's Secrets as grants allow them: each consumer's admin kubeconfig becomes its
        token kubeconfig, or the Secret goes. ``consumers_by_name``: multicluster-runtime's
        consumer name -> the consumer namespaces carrying it."""
        settings = self._settings
        kept = []
        for obj in objects:
            if obj.feature is not Feature.PUSH or obj.source is None:
                kept.append(obj)
                continue
            consumer = self._consumer_of(obj, consumers_by_name)
            if consumer is None:
                continue
            found = self.credential(obj.source, consumer)
            if found is None:
                continue
            kubeconfig, grant = found
            key = (MCR_KUBECONFIG_KEY if settings.push_layout is PushLayout.MULTICLUSTER_RUNTIME
                   else settings.push_secret_key)
            kept.append(replace(obj, secret_data={key: kubeconfig}, grant=grant))
        return kept

    def _consumer_of(self, obj: DesiredObject, consumers_by_name: Mapping[str, Sequence[str]]) -> str | None:
        if self._settings.push_layout is not PushLayout.MULTICLUSTER_RUNTIME:
            return obj.namespace
        name = obj.labels.get(MCR_CONSUMER_LABEL, "")
        namespaces = consumers_by_name.get(name, ())
        if len(namespaces) == 1:
            return namespaces[0]
        self._report_once(name, "mcr", ObjectRef("Namespace", None, ", ".join(namespaces) or name),
                          f"no grant for multicluster-runtime consumer {name}: grants are per consumer namespace, "
                          f"and namespaces {', '.join(namespaces)} all carry that consumer name (give each its own)")
        return None


def consumers_by_name(settings: Settings, namespaces: Sequence[Any]) -> dict[str, list[str]]:
    """multicluster-runtime's consumer name (the consumer label's value) -> its namespaces."""
    names: dict[str, list[str]] = {}
    for namespace in namespaces:
        value = namespace.labels.get(settings.consumer_namespace_label, "")
        if value:
            names.setdefault(value, []).append(namespace.name)
    return names


# A token is re-minted once this share of its life has passed (OCM's managed-serviceaccount does
# the same): the consumer's previous token then still has a fifth of its life to run while the
# new one reaches it, which matters for readers that keep a token until it gets a 401.
REFRESH_AT_SHARE_OF_LIFE = 0.8


def token_refresh_reason(issued_at: datetime, expires_at: datetime, now: datetime,
                         run_interval: timedelta) -> str | None:
    """Why a token issued at ``issued_at`` and expiring at ``expires_at`` must be re-minted by the
    run at ``now``, or None. ``run_interval`` is the time to the next scheduled run (zero: none
    scheduled): a token that would expire before that run is re-minted now, not then."""
    refresh_at = issued_at + (expires_at - issued_at) * REFRESH_AT_SHARE_OF_LIFE
    if now >= expires_at:
        return f"its token expired at {expires_at.isoformat()}"
    if now >= refresh_at:
        return (f"its token is past {REFRESH_AT_SHARE_OF_LIFE:.0%} of its life (since {refresh_at.isoformat()}; "
                f"it expires at {expires_at.isoformat()})")
    if run_interval and now + run_interval >= expires_at:
        return (f"its token expires at {expires_at.isoformat()}, before the next scheduled run "
                f"(about {(now + run_interval).isoformat()})")
    return None
