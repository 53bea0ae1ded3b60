"""Small builders for inventory model objects, so each planning test states only what it is about."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inventory.credentials.kubeconfig import build_plain_kubeconfig
from inventory.model.diagnostics import Diagnostic, ObjectRef
from inventory.model.inventory import (
    AccessProvider,
    CapiCluster,
    ClusterAccess,
    ClusterProfile,
    Inventory,
    Namespace,
    Secret,
)
from inventory.model.objects import DesiredObject
from inventory.plan.compose import Plan, build_plan
from inventory.settings import Settings
from tests.seed_routes import SEED_ROUTES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CONSUMER_LABEL = "x-k8s.io/cluster-inventory-consumer"
CLUSTERSET_NAMESPACE_LABEL = "clusterset.multicluster.x-k8s.io"
EXEC_EXTENSION = "client.authentication.k8s.io/exec"

def seeded(**values: Any) -> Settings:
    """Settings with ``SEED_ROUTES`` and ``values``."""
    return Settings(**{**SEED_ROUTES, **values})


def kubeconfig(cluster: str) -> bytes:
    """A valid kubeconfig whose token names the cluster, so tests can tell credentials apart."""
    return build_plain_kubeconfig(
        cluster_name=cluster,
        server=f"https://{cluster}.example:6443",
        ca_data=b"ca-" + cluster.encode(),
        token=f"token-of-{cluster}",
    )


def consumer(name: str) -> Namespace:
    return Namespace(name, {CONSUMER_LABEL: "true"})


def clusterset_namespace(name: str, clusterset: str) -> Namespace:
    return Namespace(name, {CLUSTERSET_NAMESPACE_LABEL: clusterset})


def cluster(namespace: str, name: str, profile: str | None = None, **labels: str) -> CapiCluster:
    """A CAPI Cluster labelled with ``clusterprofile-name`` (defaults to its own name).

    Keyword labels use ``_`` for ``-``: ``clusterprofile_namespace="x"``; ``clusterset="s"``
    stands for ``clusterset.k8s.io``.
    """
    all_labels = {"clusterprofile-name": profile or name}
    for key, value in labels.items():
        all_labels["clusterset.k8s.io" if key == "clusterset" else key.replace("_", "-")] = value
    return CapiCluster(namespace, name, all_labels)


def capi_kubeconfig_secret(
    namespace: str,
    cluster_name: str,
    *,
    data: Mapping[str, bytes] | None = None,
    secret_type: str = "cluster.x-k8s.io/secret",
    name: str | None = None,
) -> Secret:
    return Secret(
        namespace=namespace,
        name=name or f"{cluster_name}-kubeconfig",
        type=secret_type,
        labels={"cluster.x-k8s.io/cluster-name": cluster_name},
        data={"value": kubeconfig(cluster_name)} if data is None else data,
    )


def secret(namespace: str, name: str, data: Mapping[str, bytes], **labels: str) -> Secret:
    return Secret(namespace=namespace, name=name, labels=dict(labels), data=data)


def labelled_secret(namespace: str, profile: str, data: Mapping[str, bytes], name: str | None = None) -> Secret:
    """Seed 001's input: a Secret labelled ``x-k8s.io/cluster-profile: {profile}``."""
    return Secret(
        namespace=namespace,
        name=name or f"{profile}-credentials",
        labels={"x-k8s.io/cluster-profile": profile},
        data=data,
    )


def secret_reader(extension: Any, name: str = "kubeconfig-secretreader") -> AccessProvider:
    return AccessProvider(name, ClusterAccess(server="https://x.example", extensions={EXEC_EXTENSION: extension}))


def exec_provider(name: str = "token-provider") -> AccessProvider:
    return AccessProvider(name, ClusterAccess(server="https://x.example", certificate_authority_data=b"ca"))


def profile(
    namespace: str,
    name: str,
    *providers: AccessProvider,
    labels: Mapping[str, str] | None = None,
    display_name: str = "",
    credential_providers: tuple[AccessProvider, ...] = (),
) -> ClusterProfile:
    return ClusterProfile(
        namespace=namespace,
        name=name,
        labels=dict(labels or {}),
        display_name=display_name,
        access_providers=tuple(providers),
        credential_providers=credential_providers,
    )


@dataclass(frozen=True)
class FakeExecResult:
    """Shaped like ``inventory.credentials.exec.reuse.ExecResult``: what planning reads of it."""

    kubeconfig: bytes | None = field(default=None, repr=False)
    annotations: Mapping[str, str] = field(default_factory=dict)
    refresh_at: datetime | None = None
    error: str | None = None
    warning: str | None = None


def inventory(*objects: Any) -> Inventory:
    """An Inventory of the given model objects, in the order given."""
    return Inventory(
        clusters=tuple(o for o in objects if isinstance(o, CapiCluster)),
        secrets=tuple(o for o in objects if isinstance(o, Secret)),
        namespaces=tuple(o for o in objects if isinstance(o, Namespace)),
        profiles=tuple(o for o in objects if isinstance(o, ClusterProfile)),
        diagnostics=tuple(o for o in objects if isinstance(o, Diagnostic)),
    )


def plan_of(
    *objects: Any,
    settings: Settings | None = None,
    exec_results: Mapping[ObjectRef, FakeExecResult] | None = None,
) -> Plan:
    return build_plan(inventory(*objects), settings or seeded(), exec_results or {}, NOW)


def find(plan: Plan, kind: str, namespace: str | None, name: str) -> DesiredObject:
    matches = [o for o in plan.objects if (o.kind, o.namespace, o.name) == (kind, namespace, name)]
    assert len(matches) == 1, f"expected one {kind} {namespace}/{name}, planned: {[o.ref for o in plan.objects]}"
    return matches[0]


def refs(plan: Plan) -> list[str]:
    return [str(obj.ref) for obj in plan.objects]


def reasons(plan: Plan, subject: ObjectRef | None = None) -> list[str]:
    return [d.reason for d in plan.diagnostics if subject is None or d.subject == subject]
