"""Feature A (SPEC §3 A, seed 000): CAPI Clusters -> their kubeconfigs -> push-model Secrets.

Pure planning, one step of ``inventory.plan.compose.build_plan``: every CAPI Cluster labelled with
a ClusterProfile name is resolved to its profile's name and namespace and to the
kubeconfig in its own namespace; each usable Cluster becomes a Secret in every consumer
namespace (seed 000's layout, as a product materialized at the end) or goes to
``inventory.plan.mcr`` for multicluster-runtime's layout. Argo CD's clusters source reads
the same kubeconfigs through ``PushPlanner.capi_kubeconfig``. What a Cluster lacks is
reported on the shared ``PlanContext`` and the Cluster is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from inventory.model import (
    CAPI_KUBECONFIG_SUFFIX,
    CapiCluster,
    DesiredObject,
    Feature,
    Namespace,
    ObjectRef,
    Secret,
    is_label_value,
    name_problem,
)
from inventory.plan.context import PlanContext
from inventory.plan.mcr import PushCluster, consumer_names, mcr_secrets
from inventory.sources import is_mcr_lookalike

# CAPI writes a cluster's admin kubeconfig into a Secret of this type under `value`;
# seed 000 also accepts `kubeconfig`, so do we (in that order).
CAPI_KUBECONFIG_SECRET_TYPE = "cluster.x-k8s.io/secret"
CAPI_KUBECONFIG_KEYS = ("value", "kubeconfig")
_Claimant = TypeVar("_Claimant")
# KEP-4322 push-model Secrets are named `{cpNs}-{cpName}-kubeconfig` (seed 000).
PUSH_SECRET_SUFFIX = "-kubeconfig"
# Every Secret this program writes is Opaque (the seeds' and the controller's choice).
_OPAQUE: Mapping[str, str] = {"type": "Opaque"}
_NO_ANNOTATIONS: Mapping[str, str] = {}


def rightful_claimant(claimants: Sequence[_Claimant], is_home: Callable[[_Claimant], bool]) -> _Claimant | None:
    """Of the Clusters claiming one name, the one the name belongs to: the only claimant, else the only
    one whose profile namespace is its own namespace. None when there is no single such one: a clash,
    reported, and neither wins."""
    if len(claimants) == 1:
        return claimants[0]
    home = [claimant for claimant in claimants if is_home(claimant)]
    return home[0] if len(home) == 1 else None


def push_secret_name(profile_namespace: str, profile_name: str) -> str:
    """KEP-4322's push-model Secret name (seed 000): ``{cpNs}-{cpName}-kubeconfig``."""
    return f"{profile_namespace}-{profile_name}{PUSH_SECRET_SUFFIX}"


@dataclass(frozen=True)
class CapiKubeconfig:
    """A CAPI Cluster's kubeconfig, and the Secret and data key it is read from."""

    secret: ObjectRef
    key: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class _PushTarget:
    """One CAPI Cluster's push Secret, before it is copied into every consumer namespace."""

    cluster: CapiCluster
    profile_name: str
    profile_namespace: str
    secret_name: str


@dataclass(frozen=True)
class PushSecret:
    """One Cluster's push Secret; the same object is written into every consumer namespace."""

    name: str
    source: ObjectRef
    labels: Mapping[str, str]
    data: Mapping[str, bytes]


@dataclass(frozen=True)
class PushSecrets:
    """Feature A as a product, consumer namespaces x Secrets, materialized once at the end."""

    consumers: tuple[str, ...]  # sorted
    secrets: tuple[PushSecret, ...]  # sorted by name, names unique

    def objects_by_namespace(self, dropped: set[tuple[str, str]]) -> dict[str, list[DesiredObject]]:
        """Consumer namespace -> its push Secrets in name order, except ``dropped`` (namespace, name)."""
        # Every object of one Cluster shares its labels and data mappings (never mutated).
        return {
            namespace: [
                DesiredObject(
                    "v1",
                    "Secret",
                    namespace,
                    s.name,
                    Feature.PUSH,
                    s.source,
                    s.labels,
                    _NO_ANNOTATIONS,
                    _OPAQUE,
                    s.data,
                )
                for s in self.secrets
                if not dropped or (namespace, s.name) not in dropped
            ]
            for namespace in self.consumers
        }


class PushPlanner:
    """Feature A against indexes built once: which Clusters get push Secrets, in which layout."""

    def __init__(self, context: PlanContext) -> None:
        self._context = context
        self._settings = context.settings
        self._capi_secrets = self._index_capi_kubeconfig_secrets()
        # Argo CD's clusters source and feature E resolve the same kubeconfigs: once each, reported once.
        self._capi_kubeconfigs: dict[ObjectRef, CapiKubeconfig | None] = {}
        self._set_namespaces: dict[str, tuple[str, ...]] | None = None

    def push_clusters(self) -> list[PushCluster]:
        """Every labelled CAPI Cluster with its ClusterProfile and kubeconfig; what it lacks is reported."""
        settings = self._settings
        targets = [
            target
            for cluster in sorted(self._context.inventory.clusters, key=lambda c: c.ref.sort_key)
            if settings.cluster_profile_name_label in cluster.labels
            and (target := self._push_target(cluster)) is not None
        ]
        return [
            PushCluster(target.cluster.ref, target.profile_name, target.profile_namespace, kubeconfig)
            for target in self._without_push_clashes(targets)
            if (kubeconfig := self.capi_kubeconfig(target.cluster)) is not None
        ]

    def push_secrets(self, clusters: Sequence[PushCluster]) -> PushSecrets:
        """Seed 000's layout: every Cluster's Secret in every consumer namespace."""
        settings = self._settings
        consumers = sorted(ns.name for ns in self._writable_consumer_namespaces())
        secrets = [
            PushSecret(
                push_secret_name(cluster.profile_namespace, cluster.profile_name),
                cluster.source,
                {
                    settings.profile_label: cluster.profile_name,
                    settings.profile_namespace_label: cluster.profile_namespace,
                    settings.managed_by_label: settings.managed_by_value,
                },
                {settings.push_secret_key: cluster.kubeconfig},
            )
            for cluster in clusters
        ]
        secrets.sort(key=lambda secret: secret.name)
        return PushSecrets(tuple(consumers), tuple(secrets))

    def mcr_push_secrets(self, clusters: Sequence[PushCluster]) -> list[DesiredObject]:
        """multicluster-runtime's layout (``inventory.plan.mcr``)."""
        consumers, diagnostics = consumer_names(self._writable_consumer_namespaces(), self._settings)
        objects, more = mcr_secrets(clusters, consumers, self._settings, self._mcr_lookalikes())
        self._context.diagnostics.extend([*diagnostics, *more])
        return objects

    def _mcr_lookalikes(self) -> list[Secret]:
        """Secrets not managed here that carry multicluster-runtime's two labels."""
        settings = self._settings
        return [
            secret
            for secret in self._context.inventory.secrets
            if is_mcr_lookalike(secret, settings)
        ]

    def credential_namespaces(self) -> list[str]:
        """The consumer namespaces credentials may be written to (``_writable_consumer_namespaces``)."""
        return [namespace.name for namespace in self._writable_consumer_namespaces()]

    def _writable_consumer_namespaces(self) -> list[Namespace]:
        """Consumer namespaces that can take new Secrets; a terminating one is reported and left out.

        Creating into a terminating namespace is forbidden (403), and that one failure would
        stop Pulumi from applying everything else.
        """
        writable = []
        for namespace in self._context.inventory.namespaces:
            if self._settings.consumer_namespace_label not in namespace.labels:
                continue
            if not self._settings.receives_credentials(namespace.name, namespace.labels):
                self._context.warn(
                    namespace.ref,
                    f"refused as a consumer: it carries {self._settings.consumer_namespace_label}, but a label is "
                    "a request; stack config routes no credentials here (name it in consumerNamespaces, or match "
                    "it by consumerNamespaceSelector)",
                )
                continue
            if namespace.terminating:
                self._context.warn(
                    namespace.ref,
                    "skipped: consumer namespace is terminating (being deleted), so no push Secrets are written "
                    "to it: the API server forbids creating objects there",
                )
                continue
            writable.append(namespace)
        return writable

    def profile_identity(self, cluster: CapiCluster, *, own_name: bool = False) -> tuple[str, str]:
        """The (name, namespace) of the ClusterProfile ``cluster`` stands for (seed 000): name from its
        ``clusterprofile-name`` label (``own_name``: else the Cluster's name; else ""), namespace from
        its ``clusterprofile-namespace`` label, else its ClusterSet's namespace, else the default."""
        settings = self._settings
        profile_name = cluster.labels.get(settings.cluster_profile_name_label) or (cluster.name if own_name else "")
        profile_namespace = (
            cluster.labels.get(settings.cluster_profile_namespace_label)
            or self.cluster_set_namespace(cluster)
            or settings.default_profile_namespace
        )
        return profile_name, profile_namespace

    def placement_problem(self, cluster: CapiCluster, profile_namespace: str) -> str | None:
        """Why ``cluster`` may not publish into ``profile_namespace`` (SPEC §9), or None.

        A Cluster's labels are its owner's request: they place its objects in its own namespace, or
        where ``clusterPlacementRoutes`` lets Clusters of its namespace publish, and nowhere else.
        """
        if self._settings.may_place(cluster.namespace, profile_namespace):
            return None
        return (f"refused: its labels place its ClusterProfile in namespace {profile_namespace}, and "
                f"clusterPlacementRoutes does not let Clusters of namespace {cluster.namespace} publish there")

    def cluster_set_namespace(self, cluster: CapiCluster) -> str | None:
        """The namespace of the Cluster's ClusterSet: of the namespaces claiming the set, the lexicographically
        first one the Cluster may publish into (seed shortcoming 2), so that a namespace claiming a set
        it has no route from cannot take the set's clusters, nor block them. None without one."""
        claimants = self._cluster_set_claims().get(cluster.labels.get(self._settings.cluster_set_label) or "", ())
        return next((name for name in claimants if self._settings.may_place(cluster.namespace, name)), None)

    def is_cluster_set_member(self, cluster: CapiCluster) -> bool:
        """Whether the Cluster's ClusterSet label is honoured: a namespace it may publish into claims the
        set, or no namespace claims it and the Cluster's namespace may publish anywhere."""
        set_name = cluster.labels.get(self._settings.cluster_set_label)
        if not set_name:
            return False
        if set_name in self._cluster_set_claims():
            return self.cluster_set_namespace(cluster) is not None
        return self._settings.may_place_anywhere(cluster.namespace)

    def _cluster_set_claims(self) -> dict[str, tuple[str, ...]]:
        """ClusterSet name -> the namespaces claiming it, sorted; several claimants are reported once."""
        if self._set_namespaces is None:
            self._set_namespaces = self._claimed_set_namespaces()
        return self._set_namespaces

    def _claimed_set_namespaces(self) -> dict[str, tuple[str, ...]]:
        claims: dict[str, set[str]] = {}
        for namespace in self._context.inventory.namespaces:
            for key in self._settings.cluster_set_namespace_labels:
                set_name = namespace.labels.get(key)
                if set_name:
                    claims.setdefault(set_name, set()).add(namespace.name)
        chosen = {}
        for set_name, names in sorted(claims.items()):
            ordered = tuple(sorted(names))
            chosen[set_name] = ordered
            if len(ordered) > 1:
                self._context.warn(
                    ObjectRef("ClusterSet", None, set_name),
                    f"claimed by namespaces {', '.join(ordered)}: each Cluster of the set uses the first of them, "
                    "in lexicographic order, that clusterPlacementRoutes lets it publish into",
                )
        return chosen

    def _push_target(self, cluster: CapiCluster) -> _PushTarget | None:
        settings = self._settings
        profile_name, profile_namespace = self.profile_identity(cluster)
        problems = [
            f"label {label} value {value!r} is not a valid label value (at most 63 letters, digits, '-', '_', '.')"
            for label, value in (
                (settings.profile_label, profile_name),
                (settings.profile_namespace_label, profile_namespace),
            )
            if not value or not is_label_value(value)
        ]
        secret_name = push_secret_name(profile_namespace, profile_name)
        problem = name_problem(secret_name)
        if problem is not None:
            problems.append(f"push Secret {problem}")
        if problems:
            self._context.warn(cluster.ref, "skipped: " + "; ".join(problems))
            return None
        refusal = self.placement_problem(cluster, profile_namespace)
        if refusal is not None:
            self._context.warn(cluster.ref, f"skipped, {refusal}")
            return None
        return _PushTarget(cluster, profile_name, profile_namespace, secret_name)

    def _without_push_clashes(self, targets: list[_PushTarget]) -> list[_PushTarget]:
        """Targets whose Secret name no other Cluster claims; a clash is reported, neither wins (shortcoming 3)."""
        by_name: dict[str, list[_PushTarget]] = {}
        for target in targets:
            by_name.setdefault(target.secret_name, []).append(target)
        kept = []
        for name, claimants in by_name.items():
            # Only Clusters claiming the same profile can own its name; two profiles whose names join
            # to one Secret name (seed 000's {cpNs}-{cpName} is ambiguous) clash: neither is written.
            same_profile = len({(t.profile_namespace, t.profile_name) for t in claimants}) == 1
            rightful = (rightful_claimant(claimants, lambda t: t.cluster.namespace == t.profile_namespace)
                        if same_profile else None)
            if rightful is not None:
                kept.append(rightful)
                for target in claimants:
                    if target is not rightful:
                        self._context.warn(
                            target.cluster.ref,
                            f"skipped, refused: push Secret name {name} belongs to {rightful.cluster.ref}, whose "
                            f"own namespace is {rightful.profile_namespace}; a claim from another namespace never "
                            "displaces it",
                        )
                continue
            for target in claimants:
                others = ", ".join(str(t.cluster.ref) for t in claimants if t is not target)
                self._context.warn(
                    target.cluster.ref,
                    f"skipped: push Secret name {name} is also claimed by {others}; neither is written "
                    f"(give the Clusters distinct {self._settings.cluster_profile_name_label} / "
                    f"{self._settings.cluster_profile_namespace_label} labels)",
                )
        return kept

    def capi_kubeconfig(self, cluster: CapiCluster) -> bytes | None:
        """The Cluster's kubeconfig from a Secret in its own namespace (shortcomings 1 and 4)."""
        found = self.capi_kubeconfig_secret(cluster)
        return found.data if found is not None else None

    def capi_kubeconfig_secret(self, cluster: CapiCluster) -> CapiKubeconfig | None:
        """The Cluster's kubeconfig and the Secret key it was read from; what is missing is reported."""
        if cluster.ref not in self._capi_kubeconfigs:
            self._capi_kubeconfigs[cluster.ref] = self._find_capi_kubeconfig(cluster)
        return self._capi_kubeconfigs[cluster.ref]

    def _find_capi_kubeconfig(self, cluster: CapiCluster) -> CapiKubeconfig | None:
        label = self._settings.capi_cluster_name_label
        candidates = self._capi_secrets.get((cluster.namespace, cluster.name), [])
        usable = [s for s in candidates if s.type == CAPI_KUBECONFIG_SECRET_TYPE]
        if not usable:
            if candidates:
                found = ", ".join(f"{s.name} has type {s.type}" for s in candidates)
                reason = f"no kubeconfig Secret of type {CAPI_KUBECONFIG_SECRET_TYPE} ({found})"
            else:
                reason = (
                    f"no kubeconfig Secret in namespace {cluster.namespace} "
                    f"(labelled {label}={cluster.name}, named *{CAPI_KUBECONFIG_SUFFIX})"
                )
            self._context.warn(cluster.ref, f"skipped: {reason}")
            return None
        preferred = [s for s in usable if s.name == f"{cluster.name}{CAPI_KUBECONFIG_SUFFIX}"]
        if not preferred and len(usable) > 1:
            names = ", ".join(s.name for s in usable)
            self._context.warn(cluster.ref, f"skipped: several kubeconfig Secrets labelled {label}={cluster.name}: {names}")
            return None
        secret = (preferred or usable)[0]
        key = next((k for k in CAPI_KUBECONFIG_KEYS if k in secret.data), None)
        if key is None:
            self._context.warn(
                cluster.ref, f"skipped: kubeconfig {secret.ref} has no data key {' or '.join(CAPI_KUBECONFIG_KEYS)}"
            )
            return None
        problem = self._context.kubeconfig_problem(secret.data[key], secret.ref)
        if problem is not None:
            self._context.warn(cluster.ref, f"skipped: kubeconfig {secret.ref} key {key}: {problem}")
            return None
        self._context.used_as_credentials(secret.ref, cluster.ref)
        return CapiKubeconfig(secret.ref, key, secret.data[key])

    def _index_capi_kubeconfig_secrets(self) -> dict[tuple[str, str], list[Secret]]:
        """(namespace, cluster name) -> its candidate kubeconfig Secrets, by name."""
        label = self._settings.capi_cluster_name_label
        index: dict[tuple[str, str], list[Secret]] = {}
        for secret in sorted(self._context.inventory.secrets, key=lambda s: s.ref.sort_key):
            cluster_name = secret.labels.get(label)
            if cluster_name and secret.name.endswith(CAPI_KUBECONFIG_SUFFIX):
                index.setdefault((secret.namespace, cluster_name), []).append(secret)
        return index