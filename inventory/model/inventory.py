"""The typed inventory model: what the sources read, after parsing and validation.

Nothing past the parsing edge (``inventory.sources.parse``) sees raw dicts. Every field is
immutable; mappings are plain dicts by convention and never mutated after parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inventory.model.diagnostics import Diagnostic, ObjectRef


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
class CapiCluster:
    """A Cluster API Cluster (v1beta1 or v1beta2: only metadata is used)."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    api_version: str = "cluster.x-k8s.io/v1beta1"

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
    """A SIG-Multicluster ClusterProfile (``multicluster.x-k8s.io/v1alpha1``)."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    display_name: str = ""
    access_providers: tuple[AccessProvider, ...] = ()
    # Deprecated ``status.credentialProviders``; ``access_providers`` wins on a name clash.
    credential_providers: tuple[AccessProvider, ...] = ()

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
