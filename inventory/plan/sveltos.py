"""Feature B (SPEC §3 B, seeds 001/002): a SveltosCluster and its kubeconfig Secret per ClusterProfile.

Pure planning, one step of ``inventory.plan.compose.build_plan``: each ClusterProfile whose names
and labels Kubernetes accepts, and whose credentials ``inventory.plan.credentials`` finds,
becomes the Secret ``{profile}-sveltos-kubeconfig`` and a SveltosCluster reading it, both
in the profile's namespace. The two go together: the clash check (``inventory.plan.clashes``)
drops both when it drops one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from inventory.model import (
    ClusterProfile,
    DesiredObject,
    Feature,
    ObjectRef,
    label_problems,
    name_problem,
    sveltos_kubeconfig_secret_name,
)
from inventory.plan.context import PlanContext
from inventory.plan.credentials import CredentialLookup, ExecCredentials
from inventory.plan.grants import GrantPlanner
from inventory.settings import labels_match

SVELTOS_CLUSTER_API_VERSION = "lib.projectsveltos.io/v1beta1"
SVELTOS_CLUSTER_KIND = "SveltosCluster"
# Every Secret this program writes is Opaque (the seeds' and the controller's choice).
_OPAQUE: Mapping[str, str] = {"type": "Opaque"}


def carried_labels(context: PlanContext, profile: ClusterProfile) -> dict[str, str]:
    """The profile's labels its SveltosCluster carries: those ``sveltosClusterLabels`` allows (SPEC §9),
    less any that would make it match ``managementClusterSelector`` (a Sveltos profile meant for the
    management cluster would then deploy to the tenant's cluster), which is reported."""
    settings = context.settings
    labels = {key: value for key, value in profile.labels.items() if settings.carries_sveltos_label(key)}
    selector = settings.management_cluster_selector
    if selector and labels_match(selector, labels):
        for key in selector:
            del labels[key]
        context.warn(profile.ref, (
            f"label {', '.join(f'{k}={v}' for k, v in selector.items())} not carried onto its SveltosCluster: "
            "it would match managementClusterSelector, i.e. make Sveltos treat the cluster as the management cluster"))
    return labels


def sveltos_objects(
    context: PlanContext, lookup: CredentialLookup, exec_results: Mapping[ObjectRef, ExecCredentials],
    granting: GrantPlanner | None = None,
) -> tuple[list[DesiredObject], datetime | None]:
    """Every profile's Secret and SveltosCluster, and the earliest exec-credential refresh among them.

    With grants (``granting``), Sveltos is the consumer named by ``eventsNamespace``: credentials
    a profile copies from a CAPI admin kubeconfig become what its grant entry allows (a token, the
    admin kubeconfig with ``admin: true``, or nothing); other credentials are not this program's
    admin kubeconfigs and stay as they are."""
    settings = context.settings
    objects: list[DesiredObject] = []
    refresh_due: datetime | None = None
    for profile in sorted(context.inventory.profiles, key=lambda p: p.ref.sort_key):
        secret_name = sveltos_kubeconfig_secret_name(profile.name)
        problems = [f"SveltosCluster {p}" for p in [name_problem(profile.name)] if p]
        problems += [f"kubeconfig Secret {p}" for p in [name_problem(secret_name)] if p]
        problems += [f"SveltosCluster {p}" for p in label_problems(profile.labels)]
        if problems:
            context.warn(profile.ref, "skipped: " + "; ".join(problems))
            continue
        credentials = lookup.profile_credentials(profile, exec_results)
        if credentials is None:
            continue
        data, grant = credentials.data, None
        cluster = granting.capi_cluster_of(credentials.source) if granting is not None else None
        if granting is not None and cluster is not None:
            granted = granting.credential(cluster, settings.events_namespace)
            if granted is None:
                continue
            if granted[1] is not None:
                data, grant = {credentials.key: granted[0]}, granted[1]
        if credentials.refresh_at is not None and (refresh_due is None or credentials.refresh_at < refresh_due):
            refresh_due = credentials.refresh_at
        managed_by = {settings.managed_by_label: settings.managed_by_value}
        # A profile feature E publishes shards with its CAPI Cluster, and so do its Sveltos objects.
        source = profile.published_from or profile.ref
        annotations = {settings.display_name_annotation: profile.display_name} if profile.display_name else {}
        objects.append(
            DesiredObject(
                api_version="v1",
                kind="Secret",
                namespace=profile.namespace,
                name=secret_name,
                feature=Feature.SVELTOS,
                source=source,
                labels=managed_by,
                annotations=credentials.annotations,
                fields=_OPAQUE,
                secret_data=data,
                grant=grant,
            )
        )
        objects.append(
            DesiredObject(
                api_version=SVELTOS_CLUSTER_API_VERSION,
                kind=SVELTOS_CLUSTER_KIND,
                namespace=profile.namespace,
                name=profile.name,
                feature=Feature.SVELTOS,
                source=source,
                labels={**carried_labels(context, profile), **managed_by},  # the managed-by label wins
                annotations=annotations,
                fields={"spec": {"kubeconfigName": secret_name, "kubeconfigKeyName": credentials.key}},
            )
        )
    return objects, refresh_due