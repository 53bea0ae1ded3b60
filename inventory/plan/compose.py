"""Planning: the inventory -> every object that should exist, and every input skipped with why.

Pure: no Pulumi, no network, no clock. ``now`` is handed in and exec-plugin credentials
were resolved at the edge beforehand, so the same inputs always give the same plan,
which both the Pulumi stack and the render CLI consume.

``build_plan`` composes one step per module, in the order the data flows, all sharing
one ``PlanContext`` (``inventory.plan.context``: inputs, diagnostics, credentials read):

- feature E (SPEC §3 E): ``inventory.plan.cluster_manager``, a ClusterProfile (spec and status)
  per selected CAPI Cluster; the later steps read these profiles as if they existed already;
  with grants, also each consumer's token Secret its ``secretreader`` entry names;
- feature A (SPEC §3 A, seed 000): ``inventory.plan.push`` (seed layout) or
  ``inventory.plan.mcr`` (multicluster-runtime's), from CAPI Clusters' kubeconfigs;
- ClusterProfile credentials: ``inventory.plan.credentials``
  (kubeconfig-secretreader -> exec plugin -> labelled Secret);
- feature B (SPEC §3 B, seeds 001/002): ``inventory.plan.sveltos``, a SveltosCluster and
  its kubeconfig Secret per ClusterProfile;
- feature D: ``inventory.plan.argocd``, Argo CD cluster Secrets from the credentials
  features A and B resolved (glued here);
- then ``inventory.plan.clashes`` drops what would overwrite something, the objects are put in
  their deterministic order, and, with ``requireHealthyControlPlane``, ``inventory.plan.readiness``
  holds back the credentials of clusters whose control plane is not healthy yet.

Each feature is planned only in direct mode. Credential bytes only ever travel in
``DesiredObject.secret_data``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from inventory.model import ClusterProfile, DesiredObject, Diagnostic, Inventory, ObjectRef, Severity
from inventory.plan.argocd import ArgoCDSourceCluster, argocd_secrets
from inventory.plan.clashes import without_clashes
from inventory.plan.cluster_manager import cluster_profiles, profile_token_secrets
from inventory.plan.context import PlanContext
from inventory.plan.credentials import CredentialLookup, ExecCredentials
from inventory.plan.grants import Grant, GrantPlanner, consumers_by_name
from inventory.plan.push import PushPlanner, PushSecrets
from inventory.plan.readiness import gate
from inventory.plan.sveltos import sveltos_objects
from inventory.settings import ArgoCDSource, Mode, PushLayout, Settings

# ExecCredentials is re-exported: it is the type of build_plan's exec_results, and its callers
# (``inventory.pipeline``) name it from here.
__all__ = ["ExecCredentials", "Plan", "build_plan"]


@dataclass(frozen=True)
class Plan:
    """Everything one run declares, in deterministic order, and everything it skipped.

    ``refresh_due`` is the earliest time an exec-plugin credential in use must be
    re-minted (None when no exec credential is used); ``planned_at`` is the ``now``
    the plan was made for. ``grants`` (stack config ``grants`` set) are the consumers'
    identities on workload clusters whose tokens the objects marked with a ``grant`` wait for.
    """

    objects: tuple[DesiredObject, ...]
    diagnostics: tuple[Diagnostic, ...]
    refresh_due: datetime | None
    planned_at: datetime
    grants: tuple[Grant, ...] = ()

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.WARNING)


def build_plan(
    inventory: Inventory,
    settings: Settings,
    exec_results: Mapping[ObjectRef, ExecCredentials],
    now: datetime,
    extra_objects: Sequence[DesiredObject] = (),
    previously_declared: frozenset[str] = frozenset(),
) -> Plan:
    """The plan for ``inventory``; ``extra_objects`` (Event Framework mode) join the clash checks;
    ``previously_declared`` are the logical names the last run declared (the readiness gate keeps
    the credentials a cluster already has).

    An inventory with ERROR diagnostics plans nothing: objects missing from a broken
    input would otherwise be deleted.
    """
    if any(d.severity is Severity.ERROR for d in inventory.diagnostics):
        return Plan((), _sorted_diagnostics(inventory.diagnostics), None, now)
    with _cyclic_gc_paused():
        return _build_plan(inventory, settings, exec_results, now, extra_objects, previously_declared)


def _build_plan(
    inventory: Inventory,
    settings: Settings,
    exec_results: Mapping[ObjectRef, ExecCredentials],
    now: datetime,
    extra_objects: Sequence[DesiredObject],
    previously_declared: frozenset[str],
) -> Plan:
    context = PlanContext(inventory, settings)
    push_planner = PushPlanner(context)
    push = PushSecrets((), ())
    others: list[DesiredObject] = []
    published: list[ClusterProfile] = []
    if settings.cluster_profile_mode is Mode.DIRECT:
        profiles, published = cluster_profiles(context, push_planner, now)
        others.extend(profiles)
        # Feature B and Argo CD read the profiles as they will be after this run.
        context.inventory = _with_published(inventory, published, settings.cluster_manager_name)
    lookup = CredentialLookup(context)
    granting = GrantPlanner(context, push_planner) if settings.grants_enabled else None
    if granting is not None and published:
        # Feature E's secretreader entries: each consumer's token Secret per published profile.
        others.extend(profile_token_secrets(context, push_planner, granting, published))
    if settings.push_mode is Mode.DIRECT:
        push_clusters = push_planner.push_clusters()
        if settings.push_layout is PushLayout.MULTICLUSTER_RUNTIME:
            mcr = push_planner.mcr_push_secrets(push_clusters)
            if granting is not None:
                mcr = granting.restrict_push(mcr, consumers_by_name(settings, inventory.namespaces))
            others.extend(mcr)
        else:
            push = push_planner.push_secrets(push_clusters)
    refresh_due = None
    if settings.sveltos_mode is Mode.DIRECT:
        sveltos, refresh_due = sveltos_objects(context, lookup, exec_results, granting)
        others.extend(sveltos)
    if settings.argocd_mode is Mode.DIRECT:
        argocd, argocd_refresh_due = _argocd_objects(context, push_planner, lookup, exec_results, granting)
        others.extend(argocd)
        refresh_due = _earliest(refresh_due, argocd_refresh_due)
    others.extend(extra_objects)
    others, dropped_push = without_clashes(context, push, others)
    pushed = push.objects_by_namespace(dropped_push)
    if granting is not None:
        pushed = {namespace: granting.restrict_push(secrets, {}) for namespace, secrets in pushed.items()}
    objects = _in_plan_order(pushed, others)
    if settings.require_healthy_control_plane:
        objects = tuple(gate(context, objects, previously_declared))
    grants = _grants_in_use(granting, objects)
    return Plan(objects, _sorted_diagnostics([*inventory.diagnostics, *context.diagnostics]), refresh_due, now,
                grants)


def _grants_in_use(granting: GrantPlanner | None, objects: Sequence[DesiredObject]) -> tuple[Grant, ...]:
    """The grants some planned object still waits for (a clash or the readiness gate may have
    dropped the objects that asked for one)."""
    if granting is None:
        return ()
    used = {obj.grant for obj in objects if obj.grant}
    return tuple(grant for grant in granting.grants if grant.logical_name in used)


def _argocd_objects(
    context: PlanContext,
    push_planner: PushPlanner,
    lookup: CredentialLookup,
    exec_results: Mapping[ObjectRef, ExecCredentials],
    granting: GrantPlanner | None,
) -> tuple[list[DesiredObject], datetime | None]:
    """Argo CD cluster Secrets from the credentials features A and B resolve (``inventory.plan.argocd``).
    With grants, the clusters source gives Argo CD (consumer ``argocdNamespace``) what its grant
    entry allows: a token (``bearerToken``), the admin kubeconfig, or nothing."""
    settings = context.settings
    sources: list[ArgoCDSourceCluster] = []
    refresh_due: datetime | None = None
    if ArgoCDSource.CLUSTERS in settings.argocd_sources:
        for cluster in sorted(context.inventory.clusters, key=lambda c: c.ref.sort_key):
            if settings.cluster_profile_name_label not in cluster.labels:
                continue
            kubeconfig = push_planner.capi_kubeconfig(cluster)
            if kubeconfig is None:
                continue
            grant = None
            if granting is not None:
                found = granting.credential(cluster.ref, settings.argocd_namespace)
                if found is None:
                    continue
                kubeconfig, grant = found
            sources.append(ArgoCDSourceCluster(cluster.ref, "capi", cluster.labels, kubeconfig, grant))
    if ArgoCDSource.PROFILES in settings.argocd_sources:
        for profile in sorted(context.inventory.profiles, key=lambda p: p.ref.sort_key):
            credentials = lookup.profile_credentials(profile, exec_results)
            if credentials is None:
                continue
            kubeconfig, grant = credentials.data[credentials.key], None
            source = granting.capi_cluster_of(credentials.source) if granting is not None else None
            if granting is not None and source is not None:
                found = granting.credential(source, settings.argocd_namespace)
                if found is None:
                    continue
                kubeconfig, grant = found
            sources.append(ArgoCDSourceCluster(profile.ref, "profile", profile.labels, kubeconfig, grant))
            refresh_due = _earliest(refresh_due, credentials.refresh_at)
    objects, diagnostics = argocd_secrets(sources, settings)
    context.diagnostics.extend(diagnostics)
    return objects, refresh_due


def _with_published(inventory: Inventory, published: Sequence[ClusterProfile], manager: str) -> Inventory:
    """``inventory``'s profiles as they will be after this run: those feature E publishes replace
    their live copies, and those of this cluster manager it no longer publishes are gone."""
    mine = {profile.ref: profile for profile in published}
    profiles = [profile for profile in inventory.profiles
                if profile.ref not in mine and profile.cluster_manager != manager] + list(published)
    return replace(inventory, profiles=tuple(sorted(profiles, key=lambda p: p.ref.sort_key)))


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while planning.

    Planning allocates a few acyclic objects per planned object (10^5 at 10,000
    clusters); each allocation burst would make the collector traverse the whole
    inventory again, about a fifth of planning time, to find no garbage.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _in_plan_order(push: dict[str, list[DesiredObject]], others: list[DesiredObject]) -> tuple[DesiredObject, ...]:
    """All objects sorted by ``DesiredObject.sort_key``, without re-sorting the push Secrets.

    Push Secrets (kind Secret, v1) arrive grouped by namespace and sorted by name; only
    namespaces that also hold other v1 Secrets need a merge.
    """
    others = sorted(others, key=lambda obj: obj.sort_key)
    secret_key = ("Secret", "v1")
    before = [obj for obj in others if (obj.kind, obj.api_version) < secret_key]
    after = [obj for obj in others if (obj.kind, obj.api_version) > secret_key]
    other_secrets: dict[str, list[DesiredObject]] = {}
    for obj in others:
        if (obj.kind, obj.api_version) == secret_key:
            other_secrets.setdefault(obj.namespace or "", []).append(obj)
    ordered = before
    for namespace in sorted(push.keys() | other_secrets.keys()):
        pushed, other = push.get(namespace, []), other_secrets.get(namespace, [])
        ordered.extend(sorted(pushed + other, key=lambda obj: obj.name) if pushed and other else pushed or other)
    ordered.extend(after)
    return tuple(ordered)


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    return min((t for t in (first, second) if t is not None), default=None)


def _sorted_diagnostics(diagnostics: Sequence[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(sorted(set(diagnostics), key=lambda d: d.sort_key))

