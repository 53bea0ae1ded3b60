"""The Pulumi layer: declare every planned object as a stack resource.

Thin on purpose: all decisions are in ``inventory.plan``; this module maps
``DesiredObject``s onto pulumi-kubernetes resources, keeps credentials secret,
enforces the deletion cap and the adoption switch, and exports the outputs.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from inventory.existing import OWNER_ANNOTATION
from inventory.objects import DesiredObject
from inventory.settings import Settings
from inventory.sources.live import is_kubeconfig_content

CONFIG_NAMESPACE = "cluster-inventory"
# Output listing every object this stack manages; the next run compares against
# it to count deletions (the mass-deletion guard) and to tell adoption from creation.
MANAGED_OBJECTS_OUTPUT = "managedObjects"


class GuardError(Exception):
    """The run would do something dangerous; nothing has been declared."""


def settings_from_config(raw_config: Callable[[str], str | None]) -> Settings:
    """Read every key of Pulumi.yaml's config schema (``raw_config`` returns the raw string or None)."""
    values: dict[str, Any] = {}
    for key in Settings.config_keys():
        raw = raw_config(f"{CONFIG_NAMESPACE}:{key}")
        if raw is None or raw == "":
            continue
        values[key] = raw if Settings.is_string_key(key) else json.loads(raw)
    return Settings.from_mapping(values)


def provider_kubeconfig(settings: Settings) -> str | None:
    """The kubeconfig content for the explicit Provider (a path is read here; None: ambient)."""
    if not settings.kubeconfig:
        return None
    if is_kubeconfig_content(settings.kubeconfig):
        return settings.kubeconfig
    with open(os.path.expanduser(settings.kubeconfig), encoding="utf-8") as handle:
        return handle.read()


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


def logical_names_from_urns(urns: Iterable[str]) -> list[str]:
    """``Kind/namespace/name`` of the kubernetes objects among a stack's resource URNs."""
    names = []
    for urn in urns:
        parts = urn.split("::")
        if len(parts) == 4 and parts[2].split("$")[-1].startswith("kubernetes:"):
            names.append(parts[3])
    return names


def deletions(previous: Iterable[str], current: Iterable[str]) -> list[str]:
    return sorted(set(previous) - set(current))


def check_deletion_cap(previous: Sequence[str], current: Sequence[str], settings: Settings) -> None:
    removed = deletions(previous, current)
    if len(removed) > settings.max_deletions and not settings.allow_mass_deletion:
        sample = ", ".join(removed[:5]) + (" ..." if len(removed) > 5 else "")
        raise GuardError(
            f"this run would delete {len(removed)} managed objects (maxDeletions is "
            f"{settings.max_deletions}): {sample}. If the inventory really shrank, run again with "
            f"`pulumi config set cluster-inventory:allowMassDeletion true` (or raise maxDeletions); "
            f"if not, check the inventory source before anything is removed."
        )


def check_adoption(
    planned: Sequence[DesiredObject], previous: Sequence[str], existing: Callable[[DesiredObject], bool],
    settings: Settings,
) -> None:
    """Refuse to take over objects this stack did not create, unless adoptExisting is set."""
    if settings.adopt_existing:
        return
    known = set(previous)
    clashes = [obj.logical_name for obj in planned if obj.logical_name not in known and existing(obj)]
    if clashes:
        sample = ", ".join(clashes[:5]) + (" ..." if len(clashes) > 5 else "")
        raise GuardError(
            f"{len(clashes)} objects already exist and are not managed by this stack: {sample}. "
            f"To take them over (migrating from the controller or the Event Framework), run with "
            f"`pulumi config set cluster-inventory:adoptExisting true`; see README, Migration."
        )


# None of the managed objects owns dependents, so Pulumi's default foreground
# deletion (which waits for the garbage collector to clear a finalizer) buys
# nothing; background deletion returns as soon as the API server accepts it.
DELETION_POLICY_ANNOTATION = "pulumi.com/deletionPropagationPolicy"
# This program is the one writer of the fields it declares: a server-side apply
# conflict with another field manager (a hand edit, or the controller before an
# adoption) is resolved in the program's favour. Taking over objects that this
# stack did not create is gated separately, by check_adoption and adoptExisting.
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"
PULUMI_ANNOTATIONS = {DELETION_POLICY_ANNOTATION: "background", PATCH_FORCE_ANNOTATION: "true"}


def _metadata(obj: DesiredObject, owner: str) -> dict[str, Any]:
    metadata = obj.metadata()
    metadata["annotations"] = {**metadata.get("annotations", {}), **PULUMI_ANNOTATIONS, OWNER_ANNOTATION: owner}
    return metadata


def declare_object(obj: DesiredObject, owner: str, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """One pulumi-kubernetes resource per planned object, stamped with its owning stack;
    credential data as Pulumi secrets."""
    name = obj.logical_name
    metadata = _metadata(obj, owner)
    if obj.api_version == "v1" and obj.kind == "Secret":
        data: dict[str, Any] = dict(obj.fields.get("data", {}))
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


def counts(objects: Sequence[DesiredObject]) -> dict[str, dict[str, int]]:
    """Objects per feature and kind, for the stack outputs and the demo summary."""
    tally = Counter((obj.feature.value, obj.kind) for obj in objects)
    result: dict[str, dict[str, int]] = {}
    for (feature, kind), count in sorted(tally.items()):
        result.setdefault(feature, {})[kind] = count
    return result


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
    objects: Sequence[DesiredObject], diagnostics: Sequence[Any], refresh_due: datetime | None, settings: Settings
) -> Mapping[str, Any]:
    return {
        "counts": counts(objects),
        "skipped": [str(d) for d in diagnostics],
        "earliestCredentialRefresh": refresh_due.isoformat() if refresh_due else None,
        "modes": {"push": settings.push_mode.value, "sveltos": settings.sveltos_mode.value},
        MANAGED_OBJECTS_OUTPUT: sorted(obj.logical_name for obj in objects),
    }


def utcnow() -> datetime:
    return datetime.now(UTC)
