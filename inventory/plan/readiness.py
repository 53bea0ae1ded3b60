"""The readiness gate (``requireHealthyControlPlane``): credentials wait for a healthy control plane.

Pure planning, one step of ``inventory.plan.compose.build_plan``, after every feature has planned:
the credentials of a cluster whose control plane is not healthy are held back, so consumers never
get a cluster they cannot use yet. Healthy means, for a CAPI Cluster, ``ControlPlaneHealthy`` as
feature E maps Cluster API's own conditions (``inventory.plan.cluster_manager``), and for a
ClusterProfile that others write, its ``ControlPlaneHealthy`` condition being True.

A held-back cluster is reported by ``PlanContext.wait`` (``WAITING`` and the reason). One that already has
credentials (one of its credential objects was declared by the last run) keeps them, and is
reported: a health flap never deletes anything. Feature E gates its own access providers the same
way, with the live profile as the record of what it had (``cluster_manager.cluster_profiles``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from inventory.model import CapiCluster, ClusterProfile, DesiredObject, Feature, ObjectRef
from inventory.plan.cluster_manager import CONDITION_CONTROL_PLANE_HEALTHY, control_plane_health
from inventory.plan.context import WAITING, PlanContext

__all__ = ["WAITING", "gate"]
# The features whose objects carry (or, for a SveltosCluster, point at) credentials.
_GATED = frozenset({Feature.PUSH, Feature.SVELTOS, Feature.ARGOCD})


def capi_unhealthy_reason(cluster: CapiCluster) -> str | None:
    """Why ``cluster``'s control plane does not count as healthy, or None when it does."""
    health = control_plane_health(cluster)
    if health.status == "True":
        return None
    return f"Cluster API: ControlPlaneHealthy={health.status} ({health.reason}: {health.message})"


def profile_unhealthy_reason(profile: ClusterProfile) -> str | None:
    """Why a ClusterProfile's control plane does not count as healthy, or None when it does."""
    condition = next((c for c in profile.conditions if c.type == CONDITION_CONTROL_PLANE_HEALTHY), None)
    if condition is None:
        return f"the ClusterProfile has no {CONDITION_CONTROL_PLANE_HEALTHY} condition"
    if condition.status == "True":
        return None
    return f"{CONDITION_CONTROL_PLANE_HEALTHY}={condition.status} ({condition.reason}: {condition.message})"


def gate(context: PlanContext, objects: Sequence[DesiredObject],
         previously_declared: Iterable[str]) -> list[DesiredObject]:
    """``objects`` without the credentials of clusters that wait; waiting and kept are reported."""
    unhealthy = _unhealthy_sources(context)
    if not unhealthy:
        return list(objects)
    declared = set(previously_declared)
    gated_sources = {obj.source for obj in objects if obj.feature in _GATED and obj.source in unhealthy}
    had_credentials = {obj.source for obj in objects
                       if obj.feature in _GATED and obj.source in gated_sources and obj.logical_name in declared}
    for source in sorted(gated_sources, key=lambda ref: ref.sort_key if ref else ("", "", "")):
        if source is None:
            continue
        if source in had_credentials:
            context.warn(source, f"control plane not healthy, {unhealthy[source]}: its credentials are kept "
                                 "(a health flap never deletes them)")
        else:
            context.wait(source, f"{unhealthy[source]}; its credentials are written once it is healthy")
    return [obj for obj in objects
            if not (obj.feature in _GATED and obj.source in gated_sources and obj.source not in had_credentials)]


def _unhealthy_sources(context: PlanContext) -> dict[ObjectRef | None, str]:
    unhealthy: dict[ObjectRef | None, str] = {}
    for cluster in context.inventory.clusters:
        reason = capi_unhealthy_reason(cluster)
        if reason is not None:
            unhealthy[cluster.ref] = reason
    for profile in context.inventory.profiles:
        if profile.published_from is not None:
            continue  # feature E's: its objects' source is the CAPI Cluster, gated above
        reason = profile_unhealthy_reason(profile)
        if reason is not None:
            unhealthy[profile.ref] = reason
    return unhealthy
