"""Feature A in multicluster-runtime's layout (SPEC §3 D): pure planning.

multicluster-runtime's ClusterProfile provider, Secret strategy
(``providers/cluster-inventory-api/kubeconfigstrategy/secret.go``), finds a
ClusterProfile's kubeconfig by listing Secrets in the **ClusterProfile's namespace**
labelled ``x-k8s.io/cluster-inventory-consumer=<its consumer name>`` and
``x-k8s.io/cluster-profile=<profile name>``; it wants exactly one, and reads data key
``Config`` with ``clientcmd.RESTConfigFromKubeConfig``. Those three names are the
consumer's constants, so they are constants here too, not configuration.

A consumer is named by its consumer namespace's label value (seed 000 only needs the
label to be present): a namespace whose value is empty names no consumer and is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from inventory.model import (
    DesiredObject,
    Diagnostic,
    Feature,
    Namespace,
    ObjectRef,
    Secret,
    Severity,
    is_label_value,
    name_problem,
    namespace_problem,
)
from inventory.settings import MCR_CONSUMER_LABEL, MCR_KUBECONFIG_KEY, MCR_PROFILE_LABEL, Settings

CONSUMER_LABEL = MCR_CONSUMER_LABEL
PROFILE_LABEL = MCR_PROFILE_LABEL
KUBECONFIG_KEY = MCR_KUBECONFIG_KEY
_OPAQUE: Mapping[str, str] = {"type": "Opaque"}


@dataclass(frozen=True)
class PushCluster:
    """A CAPI Cluster resolved for feature A: its ClusterProfile and its kubeconfig."""

    source: ObjectRef
    profile_name: str
    profile_namespace: str
    kubeconfig: bytes


@dataclass(frozen=True)
class _Pair:
    cluster: PushCluster
    consumer: str
    name: str


def secret_name(consumer: str, profile_name: str) -> str:
    """``{consumer}-{profile}-kubeconfig``: unique per pair in the profile's namespace unless names run together."""
    return f"{consumer}-{profile_name}-kubeconfig"


def consumer_names(namespaces: Sequence[Namespace], settings: Settings) -> tuple[tuple[str, ...], list[Diagnostic]]:
    """The distinct consumer names the consumer namespaces' label values give, sorted.

    Several namespaces with one value are one consumer: it gets one Secret per profile.
    """
    names: set[str] = set()
    diagnostics = []
    for namespace in namespaces:
        value = namespace.labels.get(settings.consumer_namespace_label, "")
        if not value:
            diagnostics.append(_warning(
                namespace.ref,
                f"skipped: label {settings.consumer_namespace_label} has an empty value, and pushLayout "
                f"multicluster-runtime names each consumer by it (label {CONSUMER_LABEL}=<consumer>): set the "
                "value to the consumer's name",
            ))
            continue
        names.add(value)
    return tuple(sorted(names)), diagnostics


def mcr_secrets(
    clusters: Sequence[PushCluster], consumers: Sequence[str], settings: Settings, lookalike_secrets: Sequence[Secret] = ()
) -> tuple[list[DesiredObject], list[Diagnostic]]:
    """One Secret per (ClusterProfile, consumer) in the profile's namespace; clashes and bad names reported.

    ``lookalike_secrets`` are Secrets this program does not manage that carry both labels: the consumer
    would find two Secrets and use neither, so such a pair is reported and not written
    (a Secret of the planned name is an adoption instead, which the stack's guard handles).
    """
    diagnostics: list[Diagnostic] = []
    lookalikes: dict[tuple[str, str, str], list[Secret]] = {}
    for secret in lookalike_secrets:
        key = (secret.namespace, secret.labels.get(CONSUMER_LABEL, ""), secret.labels.get(PROFILE_LABEL, ""))
        lookalikes.setdefault(key, []).append(secret)
    pairs: dict[tuple[str, str], list[_Pair]] = {}
    for cluster in clusters:
        problem = namespace_problem(cluster.profile_namespace)
        if problem is not None:
            diagnostics.append(_warning(cluster.source, f"skipped: the ClusterProfile's {problem}"))
            continue
        for consumer in consumers:
            pair = _Pair(cluster, consumer, secret_name(consumer, cluster.profile_name))
            problems = [p for p in [name_problem(pair.name)] if p]
            if not is_label_value(consumer):
                problems.append(f"consumer name {consumer!r} is not a valid label value")
            if problems:
                diagnostics.append(_warning(cluster.source, f"skipped for consumer {consumer}: {'; '.join(problems)}"))
                continue
            pairs.setdefault((cluster.profile_namespace, pair.name), []).append(pair)
    objects = []
    for (namespace, name), claimants in sorted(pairs.items()):
        if len(claimants) > 1:
            for pair in claimants:
                others = ", ".join(f"{p.cluster.source} for consumer {p.consumer}" for p in claimants if p is not pair)
                diagnostics.append(_warning(
                    pair.cluster.source,
                    f"skipped for consumer {pair.consumer}: Secret {namespace}/{name} is also planned for {others}; "
                    "neither is written",
                ))
            continue
        pair = claimants[0]
        found = [s for s in lookalikes.get((namespace, pair.consumer, pair.cluster.profile_name), []) if s.name != name]
        if found:
            diagnostics.append(_warning(
                pair.cluster.source,
                f"skipped for consumer {pair.consumer}: {', '.join(str(s.ref) for s in found)} already carries "
                f"{CONSUMER_LABEL}={pair.consumer} and {PROFILE_LABEL}={pair.cluster.profile_name}, and "
                "multicluster-runtime wants exactly one such Secret: delete it (or rename it to "
                f"{name} and adopt it)",
            ))
            continue
        labels = {
            CONSUMER_LABEL: pair.consumer,
            PROFILE_LABEL: pair.cluster.profile_name,
            settings.managed_by_label: settings.managed_by_value,
        }
        objects.append(DesiredObject(
            "v1", "Secret", namespace, name, Feature.PUSH, pair.cluster.source, labels, {}, _OPAQUE,
            {KUBECONFIG_KEY: pair.cluster.kubeconfig},
        ))
    return objects, diagnostics


def _warning(subject: ObjectRef, reason: str) -> Diagnostic:
    return Diagnostic(subject, reason, Severity.WARNING)
