"""What a stack's settings make the program read and write, kind by kind and namespace by namespace.

The single account of the program's API use that its roles are built from (SPEC §9: "the
program's own roles cover exactly the namespaces its stack reads and writes"). Each ``Access``
names a resource, where (a set of namespaces, every namespace with the reason and the key
that would narrow it, or nowhere for a cluster-scoped kind), the verbs each identity needs
there, and why. Pure: derived from settings alone, never from what the cluster holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from inventory.events import plan_events
from inventory.model import CLUSTER_PROFILE_GROUP, CLUSTER_PROFILE_KIND, CLUSTER_PROFILE_PLURAL
from inventory.settings import ANY, Mode, PushLayout, Settings
from inventory.sources import reads_capi, reads_profiles, uses_profile_credentials

# What the preview identity may do with anything it reads: get one, list many. No watch:
# neither the program's reads nor `pulumi preview --refresh` watch.
READ = ("get", "list")
# What the deploy identity does with the objects it writes: server-side apply creates and
# updates with patch (create/update for the provider's fallbacks), deletes, and watches an
# object until a delete has finished.
WRITE = ("get", "list", "watch", "create", "update", "patch", "delete")


@dataclass(frozen=True, order=True)
class Resource:
    """An API resource as RBAC names it: group ("" for core) and plural, with a subresource."""

    group: str
    plural: str
    kind: str

    @property
    def title(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


NAMESPACES = Resource("", "namespaces", "Namespace")
SECRETS = Resource("", "secrets", "Secret")
CONFIG_MAPS = Resource("", "configmaps", "ConfigMap")
CAPI_CLUSTERS = Resource("cluster.x-k8s.io", "clusters", "Cluster")
CLUSTER_PROFILES = Resource(CLUSTER_PROFILE_GROUP, CLUSTER_PROFILE_PLURAL, CLUSTER_PROFILE_KIND)
CLUSTER_PROFILE_STATUS = Resource(CLUSTER_PROFILE_GROUP, f"{CLUSTER_PROFILE_PLURAL}/status", CLUSTER_PROFILE_KIND)
SVELTOS_CLUSTERS = Resource("lib.projectsveltos.io", "sveltosclusters", "SveltosCluster")
EVENT_SOURCES = Resource("lib.projectsveltos.io", "eventsources", "EventSource")
EVENT_TRIGGERS = Resource("lib.projectsveltos.io", "eventtriggers", "EventTrigger")
# The kinds events mode plans (inventory/events), by kind.
_EVENTS_KINDS = {r.kind: r for r in (SECRETS, CONFIG_MAPS, EVENT_SOURCES, EVENT_TRIGGERS)}


@dataclass(frozen=True)
class Everywhere:
    """Why a namespaced resource is reached in every namespace, and the config key that would narrow it."""

    reason: str
    narrow_with: str


@dataclass(frozen=True)
class Namespaces:
    """A set of namespaces, or every namespace (``everywhere`` says why; several reasons may add up)."""

    names: frozenset[str] = frozenset()
    everywhere: tuple[Everywhere, ...] = ()

    @classmethod
    def of(cls, names: Iterable[str]) -> Namespaces:
        return cls(frozenset(names))

    @classmethod
    def every(cls, reason: str, narrow_with: str) -> Namespaces:
        return cls(everywhere=(Everywhere(reason, narrow_with),))

    @property
    def is_every(self) -> bool:
        return bool(self.everywhere)

    def __bool__(self) -> bool:
        return self.is_every or bool(self.names)

    def __or__(self, other: Namespaces) -> Namespaces:
        if self.is_every or other.is_every:
            return Namespaces(everywhere=tuple(dict.fromkeys(self.everywhere + other.everywhere)))
        return Namespaces(self.names | other.names)

    def __contains__(self, namespace: object) -> bool:
        return self.is_every or namespace in self.names


@dataclass(frozen=True)
class Access:
    """One use of one resource: where, the verbs of each identity (empty: none), and why."""

    resource: Resource
    namespaces: Namespaces | None  # None: a cluster-scoped resource
    preview: tuple[str, ...]
    deploy: tuple[str, ...]
    why: str


def listed_or_every(names: tuple[str, ...], key: str, what: str) -> Namespaces:
    """A namespace list of the settings, where empty (or "*") means every namespace."""
    if not names or ANY in names:
        said = "is empty" if not names else f'is "{ANY}"'
        return Namespaces.every(f"{key} {said}, so {what} are read in every namespace", key)
    return Namespaces.of(names)


def placement_namespaces(settings: Settings) -> Namespaces:
    """Where a CAPI Cluster's labels may place its ClusterProfile, multicluster-runtime Secrets and
    SveltosCluster (``Settings.may_place``): its own namespace, and those clusterPlacementRoutes opens
    to it. defaultProfileNamespace is no exception: a Cluster lands there only along a route."""
    capi = listed_or_every(settings.capi_namespaces, "capiNamespaces", "CAPI Clusters")
    if capi.is_every:
        capi = Namespaces.every("capiNamespaces is empty, and a CAPI Cluster may publish into its own namespace, "
                                "which can then be any", "capiNamespaces")
    return capi | route_targets(settings.cluster_placement_routes, capi, "clusterPlacementRoutes")


def route_targets(routes: Mapping[str, tuple[str, ...]], origins: Namespaces, key: str) -> Namespaces:
    """The further namespaces ``routes`` open to objects of ``origins`` (a "*" target: every namespace)."""
    targets = Namespaces()
    for origin, allowed in sorted(routes.items()):
        if origin != ANY and origin not in origins:
            continue
        if ANY in allowed:
            targets = targets | Namespaces.every(f'{key}[{origin!r}] lists "{ANY}"', f"{key}[{origin!r}]")
        else:
            targets = targets | Namespaces.of(allowed)
    return targets


def consumer_namespaces(settings: Settings) -> Namespaces:
    """The namespaces that receive feature A's push Secrets (seed layout)."""
    if ANY in settings.consumer_namespaces:
        return Namespaces.every(f'consumerNamespaces is "{ANY}": every namespace carrying '
                                f"{settings.consumer_namespace_label} receives push Secrets", "consumerNamespaces")
    if settings.consumer_namespace_selector:
        return Namespaces.every("consumerNamespaceSelector picks consumer namespaces by their labels, which RBAC "
                                "cannot follow", "consumerNamespaces (name them, and drop consumerNamespaceSelector)")
    return Namespaces.of(settings.consumer_namespaces)


def stack_access(settings: Settings) -> tuple[Access, ...]:
    """Everything the program does on the management cluster under ``settings``, in a stable order.

    Raises ``SettingsError`` when the settings cannot plan events mode's objects.
    """
    access = [Access(NAMESPACES, None, READ, READ,
                     "Namespaces: the cluster's identity (kube-system's UID) on every run; consumer and "
                     "ClusterSet namespaces by their labels")]
    capi = listed_or_every(settings.capi_namespaces, "capiNamespaces", "CAPI Clusters and their kubeconfig Secrets")
    profiles = listed_or_every(settings.profile_namespaces, "profileNamespaces",
                               "ClusterProfiles and their labelled Secrets")
    publishing = settings.cluster_profile_mode is Mode.DIRECT
    placement = placement_namespaces(settings)
    # Feature B and Argo CD act on the profiles feature E publishes as well as on those read.
    acted_on = profiles | placement if publishing else profiles

    if reads_capi(settings):
        access.append(Access(CAPI_CLUSTERS, capi, READ, READ, "CAPI Clusters (features A and E, Argo CD from clusters)"))
        why = "CAPI kubeconfig Secrets (listed by label"
        why += "; got by name for the profiles feature E publishes, which name them)" if publishing else ")"
        access.append(Access(SECRETS, capi, READ, READ, why))
    if reads_profiles(settings):
        access.append(Access(CLUSTER_PROFILES, profiles, READ, READ, "ClusterProfiles"))
    if uses_profile_credentials(settings):
        access.append(Access(SECRETS, profiles, READ, READ,
                             "ClusterProfiles' credentials: labelled kubeconfig Secrets, stored exec-plugin "
                             "credentials, kubeconfig-secretreader Secrets in the profile's own namespace"))
        routed = route_targets(settings.secret_reader_routes, profiles, "secretReaderRoutes")
        if routed:
            access.append(Access(SECRETS, routed, ("get",), ("get",),
                                 "kubeconfig-secretreader Secrets secretReaderRoutes lets profiles read (get by "
                                 "name only: nothing else there is listed)"))

    if settings.push_mode is Mode.DIRECT:
        if settings.push_layout is PushLayout.SEED:
            consumers = consumer_namespaces(settings)
            if consumers:
                access.append(Access(SECRETS, consumers, READ, WRITE, "feature A: push Secrets in consumer namespaces"))
        else:
            access.append(Access(SECRETS, placement, READ, WRITE,
                                 "feature A (multicluster-runtime layout): push Secrets in each profile's namespace"))
            access.append(Access(SECRETS, Namespaces.every(
                "the multicluster-runtime layout looks for look-alike Secrets in every namespace "
                "(inventory/sources/live.py)", "pushLayout (seed)"), READ, READ,
                "feature A (multicluster-runtime layout): Secrets another writer made in that layout"))
    if settings.sveltos_mode is Mode.DIRECT:
        access.append(Access(SVELTOS_CLUSTERS, acted_on, READ, WRITE, "feature B: SveltosClusters"))
        access.append(Access(SECRETS, acted_on, READ, WRITE, "feature B: the SveltosClusters' kubeconfig Secrets"))
    if publishing:
        access.append(Access(CLUSTER_PROFILES, placement, READ, WRITE, "feature E: ClusterProfiles for CAPI Clusters"))
        access.append(Access(CLUSTER_PROFILE_STATUS, placement, (), ("patch",),
                             "feature E: their status (server-side apply to the status subresource)"))
        consumers = consumer_namespaces(settings)
        if settings.grants_enabled and consumers:
            access.append(Access(SECRETS, consumers, READ, WRITE,
                                 "feature E with grants: each consumer's token Secrets its secretreader entry names"))
    if settings.argocd_mode is Mode.DIRECT:
        access.append(Access(SECRETS, Namespaces.of([settings.argocd_namespace]), READ, WRITE,
                             "Argo CD cluster Secrets (argocdNamespace)"))
    access.extend(_events_access(settings))
    return tuple(access)


NO_CONSUMERS = ("consumerNamespaces is empty (and no consumerNamespaceSelector): no namespace receives feature A's "
                "push Secrets, so no rule writes them; list the consumer namespaces in consumerNamespaces")


def unwritten(settings: Settings) -> tuple[str, ...]:
    """What a feature that is on writes nowhere because the settings route it nowhere (said in the output)."""
    if (settings.push_mode is Mode.DIRECT and settings.push_layout is PushLayout.SEED
            and not consumer_namespaces(settings)):
        return (NO_CONSUMERS,)
    return ()


def _events_access(settings: Settings) -> list[Access]:
    """Events mode's EventSources, EventTriggers and ConfigMap templates, and the extra objects, as planned."""
    where: dict[Resource, set[str | None]] = {}
    for obj in plan_events(settings):
        resource = _EVENTS_KINDS.get(obj.kind)
        if resource is None:
            raise ValueError(f"events mode planned a {obj.kind} ({obj.api_version}), which this role builder does "
                             "not know; add it to inventory/rbac/scope.py")
        where.setdefault(resource, set()).add(obj.namespace)
    access = []
    for resource, namespaces in sorted(where.items()):
        named = sorted(n for n in namespaces if n)
        scope = Namespaces.of(named) if named else None
        access.append(Access(resource, scope, READ, WRITE, f"events mode: {resource.kind}s (built-in and extra)"))
    return access
