"""Which objects the inventory keeps: the single definition both sources apply.

The live source asks the API server for these objects only (label selectors,
namespaces) and then applies the same function, so a directory holding more than
the cluster would serve still gives the same model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from inventory.credentials import secret_reader_reference
from inventory.model import (
    CAPI_KUBECONFIG_SUFFIX,
    SVELTOS_KUBECONFIG_SUFFIX,
    ClusterProfile,
    Inventory,
    Namespace,
    ObjectRef,
    Secret,
)
from inventory.settings import MCR_CONSUMER_LABEL, MCR_PROFILE_LABEL, ArgoCDSource, Mode, PushLayout, Settings


@dataclass(frozen=True)
class Selectors:
    """Label selectors (API syntax) for the Secrets each feature reads."""

    capi_kubeconfig: str
    profile_labelled: str
    stored_credentials: str


def secret_selectors(settings: Settings) -> Selectors:
    return Selectors(
        capi_kubeconfig=settings.capi_cluster_name_label,
        # Our own push Secrets carry the profile label too; reading them back as a
        # credential source would keep a deleted cluster's credentials alive forever.
        profile_labelled=f"{settings.profile_label},{settings.managed_by_label}!={settings.managed_by_value}",
        stored_credentials=f"{settings.managed_by_label}={settings.managed_by_value},!{settings.profile_label}",
    )


def mcr_lookalike_selector(settings: Settings) -> str | None:
    """Secrets multicluster-runtime would find besides ours (only read in its layout)."""
    if settings.push_mode is not Mode.DIRECT or settings.push_layout is not PushLayout.MULTICLUSTER_RUNTIME:
        return None
    return f"{MCR_CONSUMER_LABEL},{MCR_PROFILE_LABEL},{settings.managed_by_label}!={settings.managed_by_value}"


def is_mcr_lookalike(secret: Secret, settings: Settings) -> bool:
    return (
        bool(secret.labels.get(MCR_CONSUMER_LABEL))
        and bool(secret.labels.get(MCR_PROFILE_LABEL))
        and secret.labels.get(settings.managed_by_label) != settings.managed_by_value
    )


def reads_capi(settings: Settings) -> bool:
    """CAPI Clusters and their kubeconfig Secrets feed feature A, Argo CD Secrets from Clusters and feature E."""
    return settings.push_mode is Mode.DIRECT or settings.cluster_profile_mode is Mode.DIRECT or (
        settings.argocd_mode is Mode.DIRECT and ArgoCDSource.CLUSTERS in settings.argocd_sources
    )


def uses_profile_credentials(settings: Settings) -> bool:
    """ClusterProfiles' credentials (their Secrets, exec plugins) feed feature B and Argo CD Secrets
    from profiles."""
    return settings.sveltos_mode is Mode.DIRECT or (
        settings.argocd_mode is Mode.DIRECT and ArgoCDSource.PROFILES in settings.argocd_sources
    )


def reads_profiles(settings: Settings) -> bool:
    """ClusterProfiles are read for their credentials, and by feature E, which leaves other cluster
    managers' profiles alone and keeps its own conditions' transition times."""
    return uses_profile_credentials(settings) or settings.cluster_profile_mode is Mode.DIRECT


def capi_cluster_selector(settings: Settings) -> str | None:
    """The label selector for CAPI Clusters: those naming their ClusterProfile, or every one when
    feature E publishes every Cluster (``clusterProfileAllClusters``)."""
    if settings.cluster_profile_mode is Mode.DIRECT and settings.cluster_profile_all_clusters:
        return None
    return settings.cluster_profile_name_label


def select_relevant(inventory: Inventory, settings: Settings) -> Inventory:
    """The part of ``inventory`` that planning the direct-mode features reads."""
    push = reads_capi(settings)
    credentials = uses_profile_credentials(settings)
    every_cluster = capi_cluster_selector(settings) is None
    clusters = (
        tuple(
            cluster
            for cluster in inventory.clusters
            if (every_cluster or settings.cluster_profile_name_label in cluster.labels)
            and _in_namespaces(cluster.namespace, settings.capi_namespaces)
        )
        if push
        else ()
    )
    namespaces = tuple(ns for ns in inventory.namespaces if _is_relevant_namespace(ns, settings)) if push else ()
    profiles = (
        tuple(p for p in inventory.profiles if _in_namespaces(p.namespace, settings.profile_namespaces))
        if reads_profiles(settings)
        else ()
    )
    referenced = _referenced_secrets(profiles, settings)
    secrets = tuple(
        secret
        for secret in inventory.secrets
        if (push and is_capi_kubeconfig_candidate(secret, settings))
        or (credentials and (is_profile_credential_candidate(secret, settings) or secret.ref in referenced))
        or (mcr_lookalike_selector(settings) is not None and is_mcr_lookalike(secret, settings))
    )
    return replace(inventory, clusters=clusters, namespaces=namespaces, profiles=profiles, secrets=secrets)


def referenced_secret_names(profiles: tuple[ClusterProfile, ...], settings: Settings) -> list[tuple[str, str]]:
    """(namespace, name) of every Secret a ``kubeconfig-secretreader`` provider points at and stack
    config routes its profile to (``secretReaderRoutes``), sorted.

    A reference outside the routes is not even read: a profile is a tenant's request, and reading
    a Secret it names elsewhere would already act on it (planning reports the refusal). A
    malformed provider references nothing here; planning reports it.
    """
    names: set[tuple[str, str]] = set()
    for profile in profiles:
        try:
            reference = secret_reader_reference(profile)
        except ValueError:
            continue
        if reference is not None and settings.may_read_secret(profile.namespace, reference.namespace):
            names.add((reference.namespace, reference.name))
    return sorted(names)


def is_capi_kubeconfig_candidate(secret: Secret, settings: Settings) -> bool:
    return (
        settings.capi_cluster_name_label in secret.labels
        and secret.name.endswith(CAPI_KUBECONFIG_SUFFIX)
        and _in_namespaces(secret.namespace, settings.capi_namespaces)
    )


def is_profile_credential_candidate(secret: Secret, settings: Settings) -> bool:
    """A Secret labelled for a ClusterProfile (seed 001), or credentials we stored for one."""
    if not _in_namespaces(secret.namespace, settings.profile_namespaces):
        return False
    managed = secret.labels.get(settings.managed_by_label) == settings.managed_by_value
    if settings.profile_label in secret.labels:
        return not managed
    return managed and secret.name.endswith(SVELTOS_KUBECONFIG_SUFFIX)


def _is_relevant_namespace(namespace: Namespace, settings: Settings) -> bool:
    labels = namespace.labels
    return settings.consumer_namespace_label in labels or any(
        key in labels for key in settings.cluster_set_namespace_labels
    )


def _referenced_secrets(profiles: tuple[ClusterProfile, ...], settings: Settings) -> set[ObjectRef]:
    return {ObjectRef("Secret", namespace, name) for namespace, name in referenced_secret_names(profiles, settings)}


def _in_namespaces(namespace: str, allowed: tuple[str, ...]) -> bool:
    return not allowed or namespace in allowed
