"""Planning: the inventory -> every object that should exist, and every input skipped with why.

Pure: no Pulumi, no network, no clock. ``now`` is handed in and exec-plugin credentials
were resolved at the edge beforehand, so the same inputs always give the same plan,
which both the Pulumi stack and the render CLI consume.

Feature A (SPEC §3 A, seed 000): a push-model kubeconfig Secret for every CAPI Cluster
in every consumer namespace. Feature B (SPEC §3 B, seeds 001/002): a SveltosCluster and
its kubeconfig Secret for every ClusterProfile. Each is planned only in direct mode.
Feature A's multicluster-runtime layout is planned by ``inventory.plan_mcr`` and feature D,
Argo CD cluster Secrets, by ``inventory.plan_argocd``, from the credentials resolved here.
Credential bytes only ever travel in ``DesiredObject.secret_data``.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from inventory.diagnostics import Diagnostic, ObjectRef, Severity
from inventory.kubeconfig import validate_kubeconfig
from inventory.model import CapiCluster, ClusterProfile, Inventory, Namespace, Secret
from inventory.names import is_label_value, label_problems, name_problem
from inventory.objects import DesiredObject, Feature
from inventory.plan_argocd import ArgoCDSourceCluster, argocd_secrets
from inventory.plan_mcr import PushCluster, consumer_names, mcr_secrets
from inventory.providers import (
    SECRET_READER_PROVIDER,
    SecretReference,
    secret_reader_reference,
)
from inventory.settings import ArgoCDSource, Mode, PushLayout, Settings
from inventory.sources.select import CAPI_KUBECONFIG_SUFFIX, SVELTOS_KUBECONFIG_SUFFIX, is_mcr_lookalike

SVELTOS_CLUSTER_API_VERSION = "lib.projectsveltos.io/v1beta1"
SVELTOS_CLUSTER_KIND = "SveltosCluster"
# CAPI writes a cluster's admin kubeconfig into a Secret of this type under `value`;
# seed 000 also accepts `kubeconfig`, so do we (in that order).
CAPI_KUBECONFIG_SECRET_TYPE = "cluster.x-k8s.io/secret"
CAPI_KUBECONFIG_KEYS = ("value", "kubeconfig")
# KEP-4322 push-model Secrets are named `{cpNs}-{cpName}-kubeconfig` (seed 000).
PUSH_SECRET_SUFFIX = "-kubeconfig"
# Seed 001's SveltosCluster reads this key: a labelled Secret written for the seed has it.
SEED_SVELTOS_KUBECONFIG_KEY = "config"
# Every Secret this program writes is Opaque (the seeds' and the controller's choice).
_OPAQUE: Mapping[str, str] = {"type": "Opaque"}
_NO_ANNOTATIONS: Mapping[str, str] = {}


class ExecCredentials(Protocol):
    """What planning reads of an exec-plugin result (``inventory.execplugin_reuse.ExecResult``)."""

    @property
    def kubeconfig(self) -> bytes | None: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...

    @property
    def refresh_at(self) -> datetime | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def warning(self) -> str | None: ...


@dataclass(frozen=True)
class Plan:
    """Everything one run declares, in deterministic order, and everything it skipped.

    ``refresh_due`` is the earliest time an exec-plugin credential in use must be
    re-minted (None when no exec credential is used); ``planned_at`` is the ``now``
    the plan was made for.
    """

    objects: tuple[DesiredObject, ...]
    diagnostics: tuple[Diagnostic, ...]
    refresh_due: datetime | None
    planned_at: datetime

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
) -> Plan:
    """The plan for ``inventory``; ``extra_objects`` (Event Framework mode) join the clash checks.

    An inventory with ERROR diagnostics plans nothing: objects missing from a broken
    input would otherwise be deleted.
    """
    if any(d.severity is Severity.ERROR for d in inventory.diagnostics):
        return Plan((), _sorted_diagnostics(inventory.diagnostics), None, now)
    with _cyclic_gc_paused():
        return _build_plan(inventory, settings, exec_results, now, extra_objects)


def _build_plan(
    inventory: Inventory,
    settings: Settings,
    exec_results: Mapping[ObjectRef, ExecCredentials],
    now: datetime,
    extra_objects: Sequence[DesiredObject],
) -> Plan:
    planner = _Planner(inventory, settings)
    push = _PushSecrets((), ())
    others: list[DesiredObject] = []
    if settings.push_mode is Mode.DIRECT:
        push_clusters = planner.push_clusters()
        if settings.push_layout is PushLayout.MULTICLUSTER_RUNTIME:
            others.extend(planner.mcr_push_secrets(push_clusters))
        else:
            push = planner.push_secrets(push_clusters)
    refresh_due = None
    if settings.sveltos_mode is Mode.DIRECT:
        sveltos, refresh_due = planner.sveltos_objects(exec_results)
        others.extend(sveltos)
    if settings.argocd_mode is Mode.DIRECT:
        argocd, argocd_refresh_due = planner.argocd_objects(exec_results)
        others.extend(argocd)
        refresh_due = _earliest(refresh_due, argocd_refresh_due)
    others.extend(extra_objects)
    others, dropped_push = planner.without_clashes(push, others)
    objects = _in_plan_order(push.objects_by_namespace(dropped_push), others)
    return Plan(objects, _sorted_diagnostics([*inventory.diagnostics, *planner.diagnostics]), refresh_due, now)


def push_secret_name(profile_namespace: str, profile_name: str) -> str:
    """KEP-4322's push-model Secret name (seed 000): ``{cpNs}-{cpName}-kubeconfig``."""
    return f"{profile_namespace}-{profile_name}{PUSH_SECRET_SUFFIX}"


def sveltos_kubeconfig_secret_name(profile: ClusterProfile) -> str:
    """The Secret a SveltosCluster reads (the controller's naming, seed 002)."""
    return f"{profile.name}{SVELTOS_KUBECONFIG_SUFFIX}"


@dataclass(frozen=True)
class _PushTarget:
    """One CAPI Cluster's push Secret, before it is copied into every consumer namespace."""

    cluster: CapiCluster
    profile_name: str
    profile_namespace: str
    secret_name: str


@dataclass(frozen=True)
class _PushSecret:
    """One Cluster's push Secret; the same object is written into every consumer namespace."""

    name: str
    source: ObjectRef
    labels: Mapping[str, str]
    data: Mapping[str, bytes]


@dataclass(frozen=True)
class _PushSecrets:
    """Feature A as a product, consumer namespaces x Secrets, materialized once at the end."""

    consumers: tuple[str, ...]  # sorted
    secrets: tuple[_PushSecret, ...]  # sorted by name, names unique

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


@dataclass(frozen=True)
class _Claim:
    """One planned object claiming a (kind, namespace, name), for clash reports."""

    subject: ObjectRef  # the source object the diagnostic names
    origin: str
    sveltos_unit: ObjectRef | None  # a ClusterProfile whose Secret and SveltosCluster go together


_Key = tuple[str, str | None, str]


@dataclass(frozen=True)
class _Credentials:
    """A ClusterProfile's kubeconfig Secret content and where it came from."""

    data: Mapping[str, bytes]
    key: str  # the SveltosCluster's kubeconfigKeyName
    source: ObjectRef | None  # the Secret copied from, if any
    annotations: Mapping[str, str] = field(default_factory=dict)
    refresh_at: datetime | None = None


class _NoCredentials(Exception):
    """One credential source does not apply; the message says why."""


class _Planner:
    """Indexes the inventory once, then plans each feature against the indexes."""

    def __init__(self, inventory: Inventory, settings: Settings) -> None:
        self._inventory = inventory
        self._settings = settings
        self.diagnostics: list[Diagnostic] = []
        self._secrets = {(s.namespace, s.name): s for s in inventory.secrets}
        self._capi_secrets = self._index_capi_kubeconfig_secrets()
        self._labelled_secrets = self._index_labelled_secrets()
        self._validated: dict[bytes, str | None] = {}  # one validation per distinct kubeconfig
        self._credential_sources: dict[ObjectRef, list[ObjectRef]] = {}  # source Secret -> its users
        # Features A, B and D resolve the same credentials: once each, reported once.
        self._capi_kubeconfigs: dict[ObjectRef, bytes | None] = {}
        self._profile_credentials_found: dict[ObjectRef, _Credentials | None] = {}

    # ----- feature A --------------------------------------------------------------------

    def push_clusters(self) -> list[PushCluster]:
        """Every labelled CAPI Cluster with its ClusterProfile and kubeconfig; what it lacks is reported."""
        settings = self._settings
        set_namespaces = self._cluster_set_namespaces()
        targets = [
            target
            for cluster in sorted(self._inventory.clusters, key=lambda c: c.ref.sort_key)
            if settings.cluster_profile_name_label in cluster.labels
            and (target := self._push_target(cluster, set_namespaces)) is not None
        ]
        return [
            PushCluster(target.cluster.ref, target.profile_name, target.profile_namespace, kubeconfig)
            for target in self._without_push_clashes(targets)
            if (kubeconfig := self._capi_kubeconfig(target.cluster)) is not None
        ]

    def push_secrets(self, clusters: Sequence[PushCluster]) -> _PushSecrets:
        """Seed 000's layout: every Cluster's Secret in every consumer namespace."""
        settings = self._settings
        consumers = sorted(ns.name for ns in self._writable_consumer_namespaces())
        secrets = [
            _PushSecret(
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
        return _PushSecrets(tuple(consumers), tuple(secrets))

    def mcr_push_secrets(self, clusters: Sequence[PushCluster]) -> list[DesiredObject]:
        """multicluster-runtime's layout (``inventory.plan_mcr``)."""
        consumers, diagnostics = consumer_names(self._writable_consumer_namespaces(), self._settings)
        objects, more = mcr_secrets(clusters, consumers, self._settings, self._mcr_lookalikes())
        self.diagnostics.extend([*diagnostics, *more])
        return objects

    def _mcr_lookalikes(self) -> list[Secret]:
        """Secrets not managed here that carry multicluster-runtime's two labels."""
        settings = self._settings
        return [
            secret
            for secret in self._inventory.secrets
            if is_mcr_lookalike(secret, settings)
        ]

    def _writable_consumer_namespaces(self) -> list[Namespace]:
        """Consumer namespaces that can take new Secrets; a terminating one is reported and left out.

        Creating into a terminating namespace is forbidden (403), and that one failure would
        stop Pulumi from applying everything else.
        """
        writable = []
        for namespace in self._inventory.namespaces:
            if self._settings.consumer_namespace_label not in namespace.labels:
                continue
            if namespace.terminating:
                self._warn(
                    namespace.ref,
                    "skipped: consumer namespace is terminating (being deleted), so no push Secrets are written "
                    "to it: the API server forbids creating objects there",
                )
                continue
            writable.append(namespace)
        return writable

    def _cluster_set_namespaces(self) -> dict[str, str]:
        """ClusterSet name -> its namespace: the lexicographically first claimant (seed shortcoming 2)."""
        claims: dict[str, set[str]] = {}
        for namespace in self._inventory.namespaces:
            for key in self._settings.cluster_set_namespace_labels:
                set_name = namespace.labels.get(key)
                if set_name:
                    claims.setdefault(set_name, set()).add(namespace.name)
        chosen = {}
        for set_name, names in sorted(claims.items()):
            ordered = sorted(names)
            chosen[set_name] = ordered[0]
            if len(ordered) > 1:
                self._warn(
                    ObjectRef("ClusterSet", None, set_name),
                    f"claimed by namespaces {', '.join(ordered)}: using {ordered[0]}, the first in lexicographic order",
                )
        return chosen

    def _push_target(self, cluster: CapiCluster, set_namespaces: Mapping[str, str]) -> _PushTarget | None:
        settings = self._settings
        profile_name = cluster.labels[settings.cluster_profile_name_label]
        profile_namespace = (
            cluster.labels.get(settings.cluster_profile_namespace_label)
            or set_namespaces.get(cluster.labels.get(settings.cluster_set_label) or "")
            or settings.default_profile_namespace
        )
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
            self._warn(cluster.ref, "skipped: " + "; ".join(problems))
            return None
        return _PushTarget(cluster, profile_name, profile_namespace, secret_name)

    def _without_push_clashes(self, targets: list[_PushTarget]) -> list[_PushTarget]:
        """Targets whose Secret name no other Cluster claims; a clash is reported, neither wins (shortcoming 3)."""
        by_name: dict[str, list[_PushTarget]] = {}
        for target in targets:
            by_name.setdefault(target.secret_name, []).append(target)
        kept = []
        for name, claimants in by_name.items():
            if len(claimants) == 1:
                kept.append(claimants[0])
                continue
            for target in claimants:
                others = ", ".join(str(t.cluster.ref) for t in claimants if t is not target)
                self._warn(
                    target.cluster.ref,
                    f"skipped: push Secret name {name} is also claimed by {others}; neither is written "
                    f"(give the Clusters distinct {self._settings.cluster_profile_name_label} / "
                    f"{self._settings.cluster_profile_namespace_label} labels)",
                )
        return kept

    def _capi_kubeconfig(self, cluster: CapiCluster) -> bytes | None:
        """The Cluster's kubeconfig from a Secret in its own namespace (shortcomings 1 and 4)."""
        if cluster.ref not in self._capi_kubeconfigs:
            self._capi_kubeconfigs[cluster.ref] = self._find_capi_kubeconfig(cluster)
        return self._capi_kubeconfigs[cluster.ref]

    def _find_capi_kubeconfig(self, cluster: CapiCluster) -> bytes | None:
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
            self._warn(cluster.ref, f"skipped: {reason}")
            return None
        preferred = [s for s in usable if s.name == f"{cluster.name}{CAPI_KUBECONFIG_SUFFIX}"]
        if not preferred and len(usable) > 1:
            names = ", ".join(s.name for s in usable)
            self._warn(cluster.ref, f"skipped: several kubeconfig Secrets labelled {label}={cluster.name}: {names}")
            return None
        secret = (preferred or usable)[0]
        key = next((k for k in CAPI_KUBECONFIG_KEYS if k in secret.data), None)
        if key is None:
            self._warn(
                cluster.ref, f"skipped: kubeconfig {secret.ref} has no data key {' or '.join(CAPI_KUBECONFIG_KEYS)}"
            )
            return None
        problem = self._kubeconfig_problem(secret.data[key])
        if problem is not None:
            self._warn(cluster.ref, f"skipped: kubeconfig {secret.ref} key {key}: {problem}")
            return None
        self._credential_sources.setdefault(secret.ref, []).append(cluster.ref)
        return secret.data[key]

    # ----- feature B --------------------------------------------------------------------

    def sveltos_objects(
        self, exec_results: Mapping[ObjectRef, ExecCredentials]
    ) -> tuple[list[DesiredObject], datetime | None]:
        settings = self._settings
        objects: list[DesiredObject] = []
        refresh_due: datetime | None = None
        for profile in sorted(self._inventory.profiles, key=lambda p: p.ref.sort_key):
            secret_name = sveltos_kubeconfig_secret_name(profile)
            problems = [f"SveltosCluster {p}" for p in [name_problem(profile.name)] if p]
            problems += [f"kubeconfig Secret {p}" for p in [name_problem(secret_name)] if p]
            problems += [f"SveltosCluster {p}" for p in label_problems(profile.labels)]
            if problems:
                self._warn(profile.ref, "skipped: " + "; ".join(problems))
                continue
            credentials = self._profile_credentials(profile, exec_results)
            if credentials is None:
                continue
            if credentials.refresh_at is not None and (refresh_due is None or credentials.refresh_at < refresh_due):
                refresh_due = credentials.refresh_at
            managed_by = {settings.managed_by_label: settings.managed_by_value}
            annotations = {settings.display_name_annotation: profile.display_name} if profile.display_name else {}
            objects.append(
                DesiredObject(
                    api_version="v1",
                    kind="Secret",
                    namespace=profile.namespace,
                    name=secret_name,
                    feature=Feature.SVELTOS,
                    source=profile.ref,
                    labels=managed_by,
                    annotations=credentials.annotations,
                    fields=_OPAQUE,
                    secret_data=credentials.data,
                )
            )
            objects.append(
                DesiredObject(
                    api_version=SVELTOS_CLUSTER_API_VERSION,
                    kind=SVELTOS_CLUSTER_KIND,
                    namespace=profile.namespace,
                    name=profile.name,
                    feature=Feature.SVELTOS,
                    source=profile.ref,
                    labels={**profile.labels, **managed_by},  # the managed-by label wins
                    annotations=annotations,
                    fields={"spec": {"kubeconfigName": secret_name, "kubeconfigKeyName": credentials.key}},
                )
            )
        return objects, refresh_due

    def _profile_credentials(
        self, profile: ClusterProfile, exec_results: Mapping[ObjectRef, ExecCredentials]
    ) -> _Credentials | None:
        if profile.ref not in self._profile_credentials_found:
            self._profile_credentials_found[profile.ref] = self._find_profile_credentials(profile, exec_results)
        return self._profile_credentials_found[profile.ref]

    def _find_profile_credentials(
        self, profile: ClusterProfile, exec_results: Mapping[ObjectRef, ExecCredentials]
    ) -> _Credentials | None:
        """The first credential source that applies (SPEC §3 B); each that fails is reported."""
        label = f"{self._settings.profile_label}={profile.name}"
        sources: tuple[tuple[str, Callable[[], _Credentials | None]], ...] = (
            (f"no {SECRET_READER_PROVIDER} provider", lambda: self._secret_reader_credentials(profile)),
            ("no exec provider", lambda: self._exec_credentials(profile, exec_results.get(profile.ref))),
            (
                f"no Secret labelled {label} in namespace {profile.namespace}",
                lambda: self._labelled_secret_credentials(profile),
            ),
        )
        reasons: list[str] = []  # why each source before the one used did not apply, in order
        failures: list[str] = []  # the sources that apply but are broken: worth a warning either way
        for absent, source in sources:
            try:
                credentials = source()
            except _NoCredentials as err:
                reasons.append(str(err))
                failures.append(str(err))
                continue
            if credentials is None:
                reasons.append(absent)
                continue
            if failures:
                self._warn(profile.ref, f"{'; '.join(failures)}; using the next credential source instead")
            if credentials.source is not None:
                self._credential_sources.setdefault(credentials.source, []).append(profile.ref)
            return credentials
        self._warn(profile.ref, "skipped, no usable credentials: " + "; ".join(reasons))
        return None

    def _secret_reader_credentials(self, profile: ClusterProfile) -> _Credentials | None:
        try:
            reference = secret_reader_reference(profile)
        except ValueError as err:
            raise _NoCredentials(str(err)) from None
        if reference is None:
            return None
        secret = self._secrets.get((reference.namespace, reference.name))
        where = f"{SECRET_READER_PROVIDER}: source Secret {reference.namespace}/{reference.name}"
        if secret is None:
            raise _NoCredentials(f"{where} not found")
        if reference.key not in secret.data:
            raise _NoCredentials(f"{where} has no key {reference.key!r} (keys: {_keys(secret)})")
        kubeconfig = secret.data[reference.key]
        self._check_kubeconfig(kubeconfig, f"{where} key {reference.key}")
        key = self._settings.sveltos_kubeconfig_key
        return _Credentials(data={key: kubeconfig}, key=key, source=_secret_ref(reference))

    def _exec_credentials(self, profile: ClusterProfile, result: ExecCredentials | None) -> _Credentials | None:
        if result is None:
            return None
        if result.error is not None:
            raise _NoCredentials(f"exec plugin: {result.error}")
        if result.kubeconfig is None:
            raise _NoCredentials("exec plugin: no kubeconfig was produced")
        self._check_kubeconfig(result.kubeconfig, "exec plugin kubeconfig")
        if result.warning is not None:
            self._warn(profile.ref, f"exec plugin: {result.warning}")
        return _Credentials(
            data={self._settings.sveltos_kubeconfig_key: result.kubeconfig},
            key=self._settings.sveltos_kubeconfig_key,
            source=None,
            annotations=dict(result.annotations),
            refresh_at=result.refresh_at,
        )

    def _labelled_secret_credentials(self, profile: ClusterProfile) -> _Credentials | None:
        """Seed 001: copy a Secret labelled with the profile's name; its kubeconfig key must exist."""
        candidates = self._labelled_secrets.get((profile.namespace, profile.name), [])
        if not candidates:
            return None
        label = f"{self._settings.profile_label}={profile.name}"
        if len(candidates) > 1:
            names = ", ".join(s.name for s in candidates)
            raise _NoCredentials(
                f"several Secrets labelled {label} in namespace {profile.namespace} ({names}): label only one"
            )
        secret = candidates[0]
        key = self._labelled_secret_key(secret)
        self._check_kubeconfig(secret.data[key], f"{secret.ref} (labelled {label}) key {key}")
        return _Credentials(data=secret.data, key=key, source=secret.ref)

    def _labelled_secret_key(self, secret: Secret) -> str:
        """The configured key, else seed 001's ``config``, else the only key."""
        for key in (self._settings.sveltos_kubeconfig_key, SEED_SVELTOS_KUBECONFIG_KEY):
            if key in secret.data:
                return key
        if len(secret.data) == 1:
            return next(iter(secret.data))
        if not secret.data:
            raise _NoCredentials(f"{secret.ref} (labelled {self._settings.profile_label}) has no data")
        raise _NoCredentials(
            f"{secret.ref} has keys {_keys(secret)}, none of them "
            f"{self._settings.sveltos_kubeconfig_key!r} or {SEED_SVELTOS_KUBECONFIG_KEY!r}: "
            "cannot tell which holds the kubeconfig"
        )

    # ----- feature D: Argo CD --------------------------------------------------------------

    def argocd_objects(
        self, exec_results: Mapping[ObjectRef, ExecCredentials]
    ) -> tuple[list[DesiredObject], datetime | None]:
        """Argo CD cluster Secrets from the credentials features A and B resolve (``inventory.plan_argocd``)."""
        settings = self._settings
        sources: list[ArgoCDSourceCluster] = []
        refresh_due: datetime | None = None
        if ArgoCDSource.CLUSTERS in settings.argocd_sources:
            for cluster in sorted(self._inventory.clusters, key=lambda c: c.ref.sort_key):
                if settings.cluster_profile_name_label not in cluster.labels:
                    continue
                kubeconfig = self._capi_kubeconfig(cluster)
                if kubeconfig is not None:
                    sources.append(ArgoCDSourceCluster(cluster.ref, "capi", cluster.labels, kubeconfig))
        if ArgoCDSource.PROFILES in settings.argocd_sources:
            for profile in sorted(self._inventory.profiles, key=lambda p: p.ref.sort_key):
                credentials = self._profile_credentials(profile, exec_results)
                if credentials is None:
                    continue
                sources.append(
                    ArgoCDSourceCluster(profile.ref, "profile", profile.labels, credentials.data[credentials.key])
                )
                refresh_due = _earliest(refresh_due, credentials.refresh_at)
        objects, diagnostics = argocd_secrets(sources, settings)
        self.diagnostics.extend(diagnostics)
        return objects, refresh_due

    # ----- shared -----------------------------------------------------------------------

    def without_clashes(
        self, push: _PushSecrets, others: list[DesiredObject]
    ) -> tuple[list[DesiredObject], set[tuple[str, str]]]:
        """Drop objects that would overwrite each other or a credential source; report each.

        Returns the other objects kept and the (namespace, name) of push Secrets dropped.
        Push Secrets are unique among themselves already (``_without_push_clashes``), so
        only keys the other objects or the credential sources name are looked at: the
        check costs nothing per consumer namespace. A ClusterProfile's Secret and
        SveltosCluster go together: when one is dropped, so is the other.
        """
        consumers = set(push.consumers)
        push_by_name = {secret.name: secret for secret in push.secrets}

        def push_claim(key: _Key) -> _Claim | None:
            kind, namespace, name = key
            if kind != "Secret" or namespace not in consumers:
                return None
            secret = push_by_name.get(name)
            return None if secret is None else _Claim(secret.source, str(secret.source), None)

        claimants_by_key: dict[_Key, list[DesiredObject]] = {}
        for obj in others:
            claimants_by_key.setdefault((obj.kind, obj.namespace, obj.name), []).append(obj)

        def claims(key: _Key) -> list[_Claim]:
            claim = push_claim(key)
            return [_object_claim(obj) for obj in claimants_by_key.get(key, ())] + ([claim] if claim else [])

        dropped: set[_Key] = set()
        for key, objs in claimants_by_key.items():
            if len(objs) < 2 and push_claim(key) is None:
                continue
            dropped.add(key)
            everyone = claims(key)
            for claimant in everyone:
                others_text = ", ".join(c.origin for c in everyone if c is not claimant)
                self._warn(
                    claimant.subject, f"skipped: {_key_text(key)} is also planned for {others_text}; neither is written"
                )
        for source, users in sorted(self._credential_sources.items(), key=lambda item: item[0].sort_key):
            key = (source.kind, source.namespace, source.name)
            for claimant in claims(key):
                dropped.add(key)
                self._warn(
                    claimant.subject,
                    f"skipped: {_key_text(key)} would overwrite the credential source of {', '.join(map(str, users))}",
                )
        if not dropped:
            return others, set()
        units = {
            obj.source
            for key in dropped
            for obj in claimants_by_key.get(key, ())
            if obj.feature is Feature.SVELTOS and obj.source is not None
        }
        kept = [
            obj
            for obj in others
            if (obj.kind, obj.namespace, obj.name) not in dropped
            and not (obj.feature is Feature.SVELTOS and obj.source in units)
        ]
        dropped_push = {(key[1], key[2]) for key in dropped if push_claim(key) is not None and key[1] is not None}
        return kept, dropped_push

    def _check_kubeconfig(self, data: bytes, where: str) -> None:
        problem = self._kubeconfig_problem(data)
        if problem is not None:
            raise _NoCredentials(f"{where}: {problem}")

    def _kubeconfig_problem(self, data: bytes) -> str | None:
        try:
            return self._validated[data]
        except KeyError:
            problem = self._validated[data] = validate_kubeconfig(data)
            return problem

    def _index_capi_kubeconfig_secrets(self) -> dict[tuple[str, str], list[Secret]]:
        """(namespace, cluster name) -> its candidate kubeconfig Secrets, by name."""
        label = self._settings.capi_cluster_name_label
        index: dict[tuple[str, str], list[Secret]] = {}
        for secret in sorted(self._inventory.secrets, key=lambda s: s.ref.sort_key):
            cluster_name = secret.labels.get(label)
            if cluster_name and secret.name.endswith(CAPI_KUBECONFIG_SUFFIX):
                index.setdefault((secret.namespace, cluster_name), []).append(secret)
        return index

    def _index_labelled_secrets(self) -> dict[tuple[str, str], list[Secret]]:
        """(namespace, profile name) -> Secrets labelled for it, except our own outputs.

        Our push Secrets carry the same label: reading one back as a source would keep a
        deleted cluster's credentials alive.
        """
        settings = self._settings
        index: dict[tuple[str, str], list[Secret]] = {}
        for secret in sorted(self._inventory.secrets, key=lambda s: s.ref.sort_key):
            profile_name = secret.labels.get(settings.profile_label)
            if profile_name and secret.labels.get(settings.managed_by_label) != settings.managed_by_value:
                index.setdefault((secret.namespace, profile_name), []).append(secret)
        return index

    def _warn(self, subject: ObjectRef, reason: str) -> None:
        self.diagnostics.append(Diagnostic(subject, reason, Severity.WARNING))


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


def _object_claim(obj: DesiredObject) -> _Claim:
    origin = str(obj.source) if obj.source is not None else f"the configured {obj.ref}"
    unit = obj.source if obj.feature is Feature.SVELTOS else None
    return _Claim(obj.source or obj.ref, origin, unit)


def _key_text(key: _Key) -> str:
    return str(ObjectRef(*key))


def _sorted_diagnostics(diagnostics: Sequence[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(sorted(set(diagnostics), key=lambda d: d.sort_key))


def _secret_ref(reference: SecretReference) -> ObjectRef:
    return ObjectRef("Secret", reference.namespace, reference.name)


def _keys(secret: Secret) -> str:
    return ", ".join(sorted(secret.data)) or "none"
