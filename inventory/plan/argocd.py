"""Argo CD declarative cluster Secrets (SPEC §3 D): pure planning.

Argo CD reads every Secret labelled ``argocd.argoproj.io/secret-type: cluster`` in its
own namespace as one cluster: data keys ``name``, ``server``, ``config`` (JSON, see
``inventory.credentials.argocd``) and optionally ``project``, ``namespaces`` and
``clusterResources``; the Secret's labels are the cluster's labels for ApplicationSet's
cluster generator. Argo CD tells clusters apart by ``server`` and by ``name``, so two
planned Secrets sharing either (or the Secret name) are reported and neither is written.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from inventory.credentials import ConversionError, argocd_cluster
from inventory.model import DesiredObject, Diagnostic, Feature, ObjectRef, Severity, name_problem
from inventory.settings import Settings

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
CLUSTER_SECRET_TYPE = "cluster"
# Only `config` holds credentials; the other keys stay readable in render (the stack keeps all of
# a Secret's data secret anyway).
CONFIG_KEY = "config"
_OPAQUE: Mapping[str, str] = {"type": "Opaque"}


@dataclass(frozen=True)
class ArgoCDSourceCluster:
    """A cluster as the inventory knows it: the object it comes from and its resolved kubeconfig."""

    source: ObjectRef  # a CAPI Cluster or a ClusterProfile
    source_kind: str  # the name templates' {source}: capi or profile
    labels: Mapping[str, str]
    kubeconfig: bytes
    grant: str | None = None  # the grant whose token ``kubeconfig`` waits for (inventory.plan.grants)


@dataclass(frozen=True)
class _Planned:
    origin: ArgoCDSourceCluster
    secret_name: str
    cluster_name: str
    server: str
    data: Mapping[str, str]  # what a reviewer may read: name, server, project, namespaces ...
    config: bytes  # the credentials


def argocd_secrets(
    clusters: Sequence[ArgoCDSourceCluster], settings: Settings
) -> tuple[list[DesiredObject], list[Diagnostic]]:
    """One Argo CD cluster Secret per convertible cluster; names, conversions and clashes reported."""
    diagnostics: list[Diagnostic] = []
    planned = []
    for cluster in clusters:
        try:
            planned.append(_plan_one(cluster, settings))
        except ValueError as err:
            diagnostics.append(_warning(cluster.source, f"skipped for Argo CD: {err}"))
    dropped: set[ObjectRef] = set()
    keys: tuple[tuple[str, Callable[[_Planned], str]], ...] = (
        (f"Secret {settings.argocd_namespace}/", lambda p: p.secret_name),
        ("Argo CD cluster name ", lambda p: p.cluster_name),
        ("API server ", lambda p: p.server),
    )
    for what, key_of in keys:
        by_key: dict[str, list[_Planned]] = {}
        for item in planned:
            by_key.setdefault(key_of(item), []).append(item)
        for key, claimants in by_key.items():
            if len(claimants) < 2:
                continue
            for item in claimants:
                dropped.add(item.origin.source)
                others = ", ".join(str(c.origin.source) for c in claimants if c is not item)
                diagnostics.append(_warning(
                    item.origin.source,
                    f"skipped for Argo CD: {what}{key} is also planned for {others}; neither is written "
                    "(Argo CD tells clusters apart by server and by name: list one source in argocdSources "
                    "or change the name templates)",
                ))
    objects = [
        DesiredObject(
            "v1", "Secret", settings.argocd_namespace, item.secret_name, Feature.ARGOCD, item.origin.source,
            _labels(item.origin, settings), {}, {**_OPAQUE, "data": item.data}, {CONFIG_KEY: item.config},
            item.origin.grant,
        )
        for item in planned
        if item.origin.source not in dropped
    ]
    return objects, diagnostics


def _plan_one(cluster: ArgoCDSourceCluster, settings: Settings) -> _Planned:
    fields = {"source": cluster.source_kind, "namespace": cluster.source.namespace or "", "name": cluster.source.name}
    secret_name = settings.argocd_secret_name_template.format(**fields)
    problem = name_problem(secret_name)
    if problem is not None:
        raise ValueError(f"Secret {problem} (argocdSecretNameTemplate)")
    try:
        converted = argocd_cluster(cluster.kubeconfig)
    except ConversionError as err:
        raise ValueError(f"kubeconfig cannot become an Argo CD cluster config: {err}") from None
    cluster_name = settings.argocd_cluster_name_template.format(**fields)
    values = {"name": cluster_name, "server": converted.server}
    if settings.argocd_project:
        values["project"] = settings.argocd_project
    if settings.argocd_cluster_namespaces:
        values["namespaces"] = ",".join(settings.argocd_cluster_namespaces)
        values["clusterResources"] = str(settings.argocd_cluster_resources).lower()
    data = {key: base64.b64encode(value.encode()).decode("ascii") for key, value in values.items()}
    config = json.dumps(converted.config, sort_keys=True, separators=(",", ":")).encode()
    return _Planned(cluster, secret_name, cluster_name, converted.server, data, config)


def _labels(cluster: ArgoCDSourceCluster, settings: Settings) -> dict[str, str]:
    """The allow-listed labels of the source; the managed-by and secret-type labels win."""
    carried = {key: cluster.labels[key] for key in settings.argocd_labels if key in cluster.labels}
    return {**carried, settings.managed_by_label: settings.managed_by_value, SECRET_TYPE_LABEL: CLUSTER_SECRET_TYPE}


def _warning(subject: ObjectRef, reason: str) -> Diagnostic:
    return Diagnostic(subject, reason, Severity.WARNING)
