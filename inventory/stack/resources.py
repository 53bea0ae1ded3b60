"""The Pulumi layer: declare every planned object as a stack resource.

Thin on purpose: all decisions are in ``inventory.plan.compose`` and ``inventory.stack.guards``; this
module maps ``DesiredObject``s onto pulumi-kubernetes resources, keeps credentials
secret, configures the provider and exports the outputs.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from inventory import __version__
from inventory.model import DesiredObject, Diagnostic
from inventory.plan import NOTHING, HandOver
from inventory.settings import CONFIG_NAMESPACE, Settings, SettingsError
from inventory.sources import is_kubeconfig_content
from inventory.stack.adoption import OWNER_ANNOTATION
from inventory.stack.backend import backend_url, is_self_managed
from inventory.stack.guards import (
    HANDED_OVER_OUTPUT,
    HANDING_OVER_OUTPUT,
    HELD_BACK_OUTPUT,
    MANAGED_OBJECTS_OUTPUT,
    MANAGEMENT_CLUSTER_OUTPUT,
    MODES_OUTPUT,
    PENDING_DELETIONS_OUTPUT,
    SHARDS_OUTPUT,
    SOURCES_OUTPUT,
    GuardError,
    objects_by_shape,
    shard_layout,
)
from inventory.stack.holdback import Kept, objects_by_source

if TYPE_CHECKING:
    from inventory.stack.grants import GrantTokens


def stack_config() -> dict[str, str]:
    """Every config value of the running stack, raw, by full key (``cluster-inventory:shardCount``).

    The SDK lists no config, but the engine hands the program all of it, keys set in the stack
    and Pulumi.yaml's defaults alike: under the Automation API the SDK keeps it (its ``CONFIG``),
    under a language host the program also finds it as JSON in ``PULUMI_CONFIG``.
    """
    from pulumi.runtime import config

    return {**config.get_config_env(), **config.CONFIG.get()}


def settings_from_config(config: Mapping[str, str]) -> Settings:
    """Settings from a stack's raw config (full key -> string): every key of Pulumi.yaml's schema,
    and any other ``cluster-inventory:`` key, which Settings refuses by name as ``render`` does."""
    prefix = f"{CONFIG_NAMESPACE}:"
    keys = dict.fromkeys([*Settings.config_keys(), *(k.removeprefix(prefix) for k in config if k.startswith(prefix))])
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key in keys:
        raw = config.get(f"{prefix}{key}")
        if raw is None or raw == "":
            continue
        if Settings.is_string_key(key):
            values[key] = raw
            continue
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError as err:  # the value may be a credential: say where, never what
            problems.append(f"{key}: not valid JSON ({err.msg} at character {err.pos}); set it as one JSON value "
                            f"or part by part with `pulumi config set --path` (docs/configuration.md)")
    try:
        settings = Settings.from_mapping(values)
    except SettingsError as err:
        problems.append(str(err))
    if problems:
        raise SettingsError("\n".join(problems))
    return settings


def provider_kubeconfig(settings: Settings) -> str | None:
    """The kubeconfig content for the explicit Provider (a path is read here; None: ambient)."""
    if not settings.kubeconfig:
        return None
    if is_kubeconfig_content(settings.kubeconfig):
        return settings.kubeconfig
    with open(os.path.expanduser(settings.kubeconfig), encoding="utf-8") as handle:
        return handle.read()


KUBE_CLIENT_QPS = 500.0
KUBE_CLIENT_BURST = 1000


def provider_args(settings: Settings, cluster: str) -> dict[str, Any]:
    """The explicit kubernetes Provider: reads and writes go to the cluster of ``settings``."""
    kubeconfig = provider_kubeconfig(settings)
    return {
        "kubeconfig": pulumi.Output.secret(kubeconfig) if kubeconfig else None,
        "context": settings.context or None,
        # Without it the provider guesses a cluster change from the kubeconfig's server and
        # user, and a new address for the same cluster replaces every object. With it, only a
        # change of this value does (guards.check_cluster_move decides when that may happen).
        "cluster_identifier": cluster,
        # A rotated or re-minted credential must reach consumers as an update of the same
        # object (same UID, no DELETE event), not as a delete and create.
        "enable_secret_mutable": True,
        "enable_config_map_mutable": True,
        # The provider's own default (50 requests/s, bursts of 120) caps a cold `up` of
        # 5,000 objects at well over a minute on the client side alone; the API server's
        # priority and fairness, not a client throttle, is what protects it.
        "kube_client_settings": k8s.KubeClientSettingsArgs(qps=KUBE_CLIENT_QPS, burst=KUBE_CLIENT_BURST),
    }


def check_secret_config(settings: Settings, is_secret: Callable[[str], bool]) -> None:
    """Credentials given in config must be Pulumi secrets, or they sit in plain text in the state."""
    problems = []
    if settings.kubeconfig and is_kubeconfig_content(settings.kubeconfig) and not is_secret(
        f"{CONFIG_NAMESPACE}:kubeconfig"
    ):
        problems.append("kubeconfig holds a kubeconfig's content: set it with "
                        "`pulumi config set --secret cluster-inventory:kubeconfig \"$(cat FILE)\"` (or give a path)")
    if settings.extra_secrets and not is_secret(f"{CONFIG_NAMESPACE}:extraSecrets"):
        problems.append("extraSecrets holds Secret data: set it with "
                        "`pulumi config set --secret cluster-inventory:extraSecrets '<json list>'`")
    if problems:
        raise GuardError("credentials in plain-text config would be stored unencrypted in the state:\n"
                         + "\n".join(problems))


# None of the managed objects owns dependents, so Pulumi's default foreground
# deletion (which waits for the garbage collector to clear a finalizer) buys
# nothing; background deletion returns as soon as the API server accepts it.
DELETION_POLICY_ANNOTATION = "pulumi.com/deletionPropagationPolicy"
# This program is the one writer of the fields it declares: a server-side apply
# conflict with another field manager (a hand edit, or the controller before an
# adoption) is resolved in the program's favour. Taking over objects that this
# stack did not create is gated separately, by guards.skip_taken_names and adoptExisting.
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"
PULUMI_ANNOTATIONS = {DELETION_POLICY_ANNOTATION: "background", PATCH_FORCE_ANNOTATION: "true"}


def _metadata(obj: DesiredObject, owner: str) -> dict[str, Any]:
    metadata = obj.metadata()
    metadata["annotations"] = {**metadata.get("annotations", {}), **PULUMI_ANNOTATIONS, OWNER_ANNOTATION: owner}
    return metadata


class StatusAccess:
    """How the status resources (``inventory.stack.status``) reach the management cluster: the
    project's provider, configured with the kubeconfig (a Pulumi secret when it is content, an
    absolute path, or None: ambient) and context, declared once the first status needs it."""

    def __init__(self, kubeconfig: pulumi.Input[str] | None, context: str | None, cluster: str | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        self.kubeconfig, self.context = kubeconfig, context
        self.cluster = cluster  # the management cluster's identity (guards.check_cluster_move)
        self.opts = opts  # the provider's own options (its parent)
        self._provider: pulumi.ProviderResource | None = None

    def provider(self) -> pulumi.ProviderResource:
        if self._provider is None:
            from inventory.stack.status import StatusProvider

            self._provider = StatusProvider(STATUS_PROVIDER, kubeconfig=self.kubeconfig, context=self.context,
                                            opts=self.opts)
        return self._provider


# The name of the explicit provider resource the statuses use.
STATUS_PROVIDER = "management-cluster-status"


def status_access(settings: Settings, cluster: str | None, opts: pulumi.ResourceOptions | None = None) -> StatusAccess:
    value = settings.kubeconfig
    if value and is_kubeconfig_content(value):
        return StatusAccess(pulumi.Output.secret(value), settings.context or None, cluster, opts)
    path = os.path.abspath(os.path.expanduser(value)) if value else None
    return StatusAccess(path, settings.context or None, cluster, opts)


def declare_object(obj: DesiredObject, owner: str, opts: pulumi.ResourceOptions,
                   access: StatusAccess | None = None,
                   tokens: GrantTokens | None = None) -> pulumi.CustomResource:
    """One pulumi-kubernetes resource per planned object, stamped with its owning stack;
    credential data as Pulumi secrets. A ``status`` (feature E's ClusterProfiles) becomes a
    ``ClusterProfileStatus`` resource beside it, which pulumi-kubernetes cannot write."""
    name = obj.logical_name
    metadata = _metadata(obj, owner)
    if "status" in obj.fields:
        from inventory.stack.status import ClusterProfileStatus

        fields = {key: value for key, value in obj.fields.items() if key != "status"}
        resource = k8s.apiextensions.CustomResource(
            name, api_version=obj.api_version, kind=obj.kind, metadata=metadata, opts=opts, **fields)
        # Without access (never in the program), the stack's default provider of the package.
        ClusterProfileStatus(
            f"{obj.logical_name}/status", api_version=obj.api_version, kind=obj.kind, namespace=obj.namespace or "",
            object_name=obj.name, status=dict(obj.fields["status"]),
            management_cluster=access.cluster if access else None,
            opts=pulumi.ResourceOptions(parent=opts.parent, depends_on=[resource],
                                        provider=access.provider() if access else None))
        return resource
    if obj.api_version == "v1" and obj.kind == "Secret":
        data: Any = dict(obj.fields.get("data", {}))
        if obj.grant is not None and tokens is not None:
            from inventory.stack.grants import granted_secret_data

            data = granted_secret_data(obj, dict(data), tokens)
        else:
            for key, value in obj.secret_data.items():
                data[key] = pulumi.Output.secret(base64.b64encode(value).decode("ascii"))
        return k8s.core.v1.Secret(
            name,
            metadata=metadata,
            type=obj.fields.get("type", "Opaque"),
            data=data,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["data"])),
        )
    if obj.api_version == "v1" and obj.kind == "ConfigMap":
        return k8s.core.v1.ConfigMap(name, metadata=metadata, data=dict(obj.fields.get("data", {})), opts=opts)
    return k8s.apiextensions.CustomResource(
        name, api_version=obj.api_version, kind=obj.kind, metadata=metadata, opts=opts, **obj.fields
    )


# A held-back object (inventory/stack/holdback.py) is declared again under its old type, name and
# parent with every input ignored: the engine keeps the inputs in the state (secrets stay secret),
# sees no change, and neither updates nor deletes the object. No credential data is needed to do so.
KEEP = pulumi.ResourceOptions(ignore_changes=["*"])


def declare_kept(logical_name: str, shape: str, opts: pulumi.ResourceOptions,
                 access: StatusAccess | None = None) -> pulumi.CustomResource:
    """The resource ``logical_name`` as the last run declared it (``shape``: guards.shape), unchanged."""
    api_version, kind = shape.split(" ")[:2]
    kept = pulumi.ResourceOptions.merge(opts, KEEP)
    if api_version == "v1" and kind == "Secret":
        return k8s.core.v1.Secret(logical_name, opts=pulumi.ResourceOptions.merge(
            kept, pulumi.ResourceOptions(additional_secret_outputs=["data", "stringData"])))
    if api_version == "v1" and kind == "ConfigMap":
        return k8s.core.v1.ConfigMap(logical_name, opts=kept)
    resource = k8s.apiextensions.CustomResource(logical_name, api_version=api_version, kind=kind, opts=kept)
    if kind == "ClusterProfile" and access is not None:  # feature E's: its status is a resource of its own
        from inventory.stack.status import ClusterProfileStatus

        namespace, name = logical_name.split("/")[1:3]
        ClusterProfileStatus(f"{logical_name}/status", api_version=api_version, kind=kind, namespace=namespace,
                             object_name=name, status={}, management_cluster=access.cluster,
                             opts=pulumi.ResourceOptions(parent=opts.parent, depends_on=[resource],
                                                         provider=access.provider(), ignore_changes=["*"]))
    return resource


def waiting_options(settings: Settings) -> pulumi.ResourceOptions:
    """An object being handed to Sveltos: its ``pulumi.com/waitFor`` waits no longer than
    ``handOverTimeoutSeconds``."""
    timeout = f"{settings.hand_over_timeout_seconds}s"
    return pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout))


# An object Sveltos has taken over: Pulumi forgets it instead of deleting it.
RETAINED = pulumi.ResourceOptions(retain_on_delete=True)


def counts(objects: Sequence[DesiredObject]) -> dict[str, dict[str, int]]:
    """Objects per feature and kind, for the stack outputs and the demo summary."""
    tally = Counter((obj.feature.value, obj.kind) for obj in objects)
    result: dict[str, dict[str, int]] = {}
    for (feature, kind), count in sorted(tally.items()):
        result.setdefault(feature, {})[kind] = count
    return result


# From this many objects on, a self-managed backend's checkpoint after every step (the whole
# state rewritten each time: quadratic) costs more than the deployment itself; measured at
# 1,400 objects: more than 16 minutes and 21 GB before it was stopped (docs/sizing.md).
LARGE_STACK_OBJECTS = 500
SKIP_CHECKPOINTS = "PULUMI_SKIP_CHECKPOINTS"


def checkpoint_problem(objects: int, environ: Mapping[str, str]) -> str | None:
    """Why this update would crawl and grow without bound, and what to set; None when it won't."""
    if objects < LARGE_STACK_OBJECTS or environ.get(SKIP_CHECKPOINTS, "").lower() in ("true", "1"):
        return None
    backend = backend_url(environ)
    if not is_self_managed(backend):
        return None  # Pulumi Cloud patches its checkpoints instead of rewriting them
    return (
        f"this stack declares {objects} objects and keeps its state in a self-managed backend ({backend}), "
        f"where Pulumi rewrites the whole state after every object it changes: at this size that takes hours "
        f"and tens of GB of memory. Set {SKIP_CHECKPOINTS}=true in the environment of `pulumi up` and "
        f"`pulumi destroy` (the state is then written once, when the update ends; docs/sizing.md), or run "
        f"`python -m inventory deploy`, which sets it"
    )


def refresh_warning(refresh_due: datetime | None, now: datetime, settings: Settings) -> str | None:
    if refresh_due is None or settings.schedule_interval_minutes == 0:
        return None
    next_run = now + timedelta(minutes=settings.schedule_interval_minutes)
    if refresh_due < next_run:
        return (
            f"an exec-plugin credential is due for refresh at {refresh_due.isoformat()}, before the next "
            f"scheduled run (every {settings.schedule_interval_minutes} min, next about {next_run.isoformat()}): "
            f"run more often or lengthen the token lifetime"
        )
    return None


def outputs(
    objects: Sequence[DesiredObject], diagnostics: Sequence[Diagnostic], refresh_due: datetime | None, settings: Settings,
    removed: Mapping[str, str | None] | None = None, cluster: str | None = None,
    handing: HandOver = NOTHING, kept: Mapping[str, Kept] | None = None,
    held_back: Mapping[str, int] | None = None,
) -> Mapping[str, Any]:
    """The stack outputs; ``removed`` (name -> shape) are the objects this run deletes, ``kept``
    those it holds back (declared as they were), ``held_back`` how many per source group."""
    kept = kept or {}
    pending: dict[str, list[str]] = {}
    for name, shape in sorted((removed or {}).items()):
        pending.setdefault(shape or "unknown", []).append(name)
    return {
        "counts": counts(objects),
        "skipped": [str(d) for d in diagnostics],
        "waiting": waiting(diagnostics),
        "earliestCredentialRefresh": refresh_due.isoformat() if refresh_due else None,
        MODES_OUTPUT: {"push": settings.push_mode.value, "sveltos": settings.sveltos_mode.value,
                       "argocd": settings.argocd_mode.value, "clusterProfile": settings.cluster_profile_mode.value},
        MANAGED_OBJECTS_OUTPUT: objects_by_shape([*objects, *handing.objects],
                                                 {name: k.shape for name, k in kept.items()}),
        SOURCES_OUTPUT: objects_by_source([*objects, *handing.objects], {name: k.group for name, k in kept.items()}),
        HELD_BACK_OUTPUT: dict(sorted((held_back or {}).items())),
        HANDING_OVER_OUTPUT: sorted(obj.logical_name for obj in handing.waiting),
        HANDED_OVER_OUTPUT: sorted(obj.logical_name for obj in handing.retained),
        PENDING_DELETIONS_OUTPUT: dict(sorted(pending.items())),
        MANAGEMENT_CLUSTER_OUTPUT: cluster,
        SHARDS_OUTPUT: shard_layout(settings.shard_count, settings.shard_index, settings.shard_assignment),
        "programVersion": __version__,  # the release that made this state (CHANGELOG.md)
    }


def waiting(diagnostics: Sequence[Diagnostic]) -> list[str]:
    """The clusters whose credentials wait for a healthy control plane (requireHealthyControlPlane:
    the diagnostics marked ``waiting``), once each with the first reason reported (feature E and
    the other features report the same cause)."""
    first: dict[str, str] = {}
    for diagnostic in diagnostics:
        if diagnostic.waiting:
            first.setdefault(str(diagnostic.subject), str(diagnostic.reason))
    return [f"{subject}: {reason}" for subject, reason in first.items()]


def utcnow() -> datetime:
    return datetime.now(UTC)
