"""Desired objects: the single output of planning, consumed by the Pulumi stack and by render."""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inventory.model.diagnostics import ObjectRef

REDACTED = "<redacted>"
# Stands for a grant's token in a planned credential until the stack fills in the token minted
# at apply time (a plain YAML scalar, so a kubeconfig holding it stays valid YAML).
GRANTED_TOKEN = "cluster-inventory-granted-token"


class Feature(str, enum.Enum):
    """Which part of the product an object belongs to (SPEC §3)."""

    PUSH = "push"  # A: KEP-4322 push-model Secrets in consumer namespaces
    SVELTOS = "sveltos"  # B: SveltosCluster + kubeconfig Secret per ClusterProfile
    EVENTS = "events"  # C: Sveltos Event Framework objects
    ARGOCD = "argocd"  # D: Argo CD declarative cluster Secrets
    CLUSTER_MANAGER = "clustermanager"  # E: ClusterProfiles published for CAPI Clusters


@dataclass(frozen=True)
class DesiredObject:
    """One Kubernetes object the program wants to exist.

    ``fields`` are the top-level fields besides apiVersion/kind/metadata (``spec``,
    ``type``, non-credential ``data`` ...). ``secret_data`` holds credential bytes;
    for a Secret they become ``data`` and are treated as secret everywhere: Pulumi
    secrets in the stack, redacted by render unless ``--show-secrets``. A ``status`` in
    ``fields`` (feature E's ClusterProfiles) is written through the status subresource.
    """

    api_version: str
    kind: str
    namespace: str | None
    name: str
    feature: Feature
    source: ObjectRef | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)
    secret_data: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    # The logical name of the ConsumerGrant (inventory.plan.grants) whose token the stack puts
    # into ``secret_data`` in place of ``GRANTED_TOKEN``; None: ``secret_data`` is complete.
    grant: str | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.kind, self.namespace, self.name)

    @property
    def logical_name(self) -> str:
        """Stable, unique Pulumi resource name: ``Kind/namespace/name`` (``Kind/name`` if cluster-scoped)."""
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.api_version, self.namespace or "", self.name)

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name}
        if self.namespace:
            meta["namespace"] = self.namespace
        if self.labels:
            meta["labels"] = dict(sorted(self.labels.items()))
        if self.annotations:
            meta["annotations"] = dict(sorted(self.annotations.items()))
        return meta

    def manifest(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """The apply-able object; credential data is redacted unless ``show_secrets``."""
        body: dict[str, Any] = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata(),
        }
        body.update(self.fields)
        if self.secret_data:
            data = dict(body.get("data", {}))
            for key, value in sorted(self.secret_data.items()):
                data[key] = base64.b64encode(value).decode("ascii") if show_secrets else REDACTED
            body["data"] = data
        return body
