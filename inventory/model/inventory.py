"""The typed inventory model: what the sources read, after parsing and validation.

Nothing past the parsing edge (``inventory.sources.parse``) sees raw dicts. Every field is
immutable; mappings are plain dicts by convention and never mutated after parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inventory.model.diagnostics import Diagnostic, ObjectRef

# The SIG-Multicluster ClusterProfile API (sigs.k8s.io/cluster-inventory-api v0.1.3,
# apis/v1alpha1): spelled here once, for every unit that reads, writes, selects or grants it.
# inventory/events/lua/profile_targets.lua cannot import it: test_events_lua.py keeps its copy
# equal (a comment there would change every EventSource the stacks hold).
CLUSTER_PROFILE_GROUP = "multicluster.x-k8s.io"
CLUSTER_PROFILE_VERSION = "v1alpha1"
CLUSTER_PROFILE_API_VERSION = f"{CLUSTER_PROFILE_GROUP}/{CLUSTER_PROFILE_VERSION}"
CLUSTER_PROFILE_KIND = "ClusterProfile"
CLUSTER_PROFILE_PLURAL = "clusterprofiles"


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    # Being deleted: the API server refuses new objects in it (403).
    terminating: bool = False

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("Namespace", None, self.name)


@dataclass(frozen=True)
class Secret:
    """A v1 Secret; ``data`` holds decoded bytes (credential material: never log it)."""

    namespace: str
    name: str
    type: str = "Opaque"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("Secret", self.namespace, self.name)


@dataclass(frozen=True)
class Condition:
    """A status condition as read: a ``metav1.Condition``, or Cluster API v1beta1's (with ``severity``)."""

    type: str
    status: str  # "True", "False" or "Unknown" (anything else is read as written)
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""  # RFC 3339, as the API server wrote it; "" when absent
    severity: str = ""  # Cluster API v1beta1 only: Error, Warning, Info


@dataclass(frozen=True)
class CapiClusterStatus:
    """What a Cluster API Cluster's status says about its control plane, in either API version.

    The parsing edge files each condition list under the schema it follows, whatever the
    Cluster's apiVersion: ``conditions`` are the v1beta2 (``metav1.Condition``) ones (v1beta2's
    ``status.conditions``, v1beta1's ``status.v1beta2.conditions``), ``v1beta1_conditions`` the
    v1beta1 ones (v1beta1's ``status.conditions``, v1beta2's ``status.deprecated.v1beta1.conditions``).
    """

    conditions: tuple[Condition, ...] = ()
    v1beta1_conditions: tuple[Condition, ...] = ()
    control_plane_ready: bool | None = None  # v1beta1 ``status.controlPlaneReady``
    control_plane_versions: tuple[str, ...] = ()  # v1beta2 ``status.controlPlane.versions[].version``
    topology_version: str = ""  # ``spec.topology.version``
    topology_class: str = ""  # ``spec.topology.class`` (v1beta1) / ``spec.topology.classRef.name`` (v1beta2)
    phase: str = ""
    # Why the status could not be read (malformed); the Cluster's metadata is still used.
    problem: str | None = None


@dataclass(frozen=True)
class CapiCluster:
    """A Cluster API Cluster (v1beta1 or v1beta2)."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    api_version: str = "cluster.x-k8s.io/v1beta1"
    status: CapiClusterStatus = field(default_factory=CapiClusterStatus)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("Cluster", self.namespace, self.name)


@dataclass(frozen=True)
class ClusterAccess:
    """``status.accessProviders[].cluster``: a clientcmd v1 Cluster."""

    server: str = ""
    certificate_authority_data: bytes = b""
    insecure_skip_tls_verify: bool = False
    # NamedExtension name -> extension object, as JSON-compatible data.
    extensions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccessProvider:
    name: str
    cluster: ClusterAccess = field(default_factory=ClusterAccess)


@dataclass(frozen=True)
class ClusterProfile:
    """A SIG-Multicluster ClusterProfile (``CLUSTER_PROFILE_API_VERSION``)."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    display_name: str = ""
    access_providers: tuple[AccessProvider, ...] = ()
    # Deprecated ``status.credentialProviders``; ``access_providers`` wins on a name clash.
    credential_providers: tuple[AccessProvider, ...] = ()
    cluster_manager: str = ""  # ``spec.clusterManager.name``
    conditions: tuple[Condition, ...] = ()
    # The CAPI Cluster this run publishes the profile for (feature E); None for a profile read.
    published_from: ObjectRef | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("ClusterProfile", self.namespace, self.name)


@dataclass(frozen=True)
class Inventory:
    """Everything read from one management cluster (or one directory of manifests).

    ``diagnostics`` are the problems found while parsing (malformed objects are
    left out of the collections and reported here instead).
    """

    clusters: tuple[CapiCluster, ...] = ()
    secrets: tuple[Secret, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    profiles: tuple[ClusterProfile, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
