"""Clash detection: no two planned objects, and no planned object and a credential source, share a name.

Pure planning, the step of ``inventory.plan.compose.build_plan`` after every feature has planned:
an object that would overwrite another planned object, or a Secret some Cluster or
ClusterProfile reads its credentials from (recorded on the ``PlanContext``), is dropped
and reported naming everyone involved; neither side is written (SPEC §3, seed shortcoming 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from inventory.model import DesiredObject, Feature, ObjectRef
from inventory.plan.context import PlanContext
from inventory.plan.push import PushSecrets


@dataclass(frozen=True)
class _Claim:
    """One planned object claiming a (kind, namespace, name), for clash reports."""

    subject: ObjectRef  # the source object the diagnostic names
    origin: str
    sveltos_unit: ObjectRef | None  # a ClusterProfile whose Secret and SveltosCluster go together


_Key = tuple[str, str | None, str]


def without_clashes(
    context: PlanContext, push: PushSecrets, others: list[DesiredObject]
) -> tuple[list[DesiredObject], set[tuple[str, str]]]:
    """Drop objects that would overwrite each other or a credential source; report each.

    Returns the other objects kept and the (namespace, name) of push Secrets dropped.
    Push Secrets are unique among themselves already (``PushPlanner``), so
    only keys the other objects or the credential sources name are looked at: the
    check costs nothing per consumer namespace. A ClusterProfile's Secret and
    SveltosCluster go together: when one is dropped, so is the other.
    """
    consumers = set(push.consumers)
    push_by_name = {secret.name: secret for secret in push.secrets}

    def push_claim(key: _Key) -> _Claim | None:
        kind, namespace, name = key
        if kind != "Secret" or namespace not in consumers:
            return None
        secret = push_by_name.get(name)
        return None if secret is None else _Claim(secret.source, str(secret.source), None)

    claimants_by_key: dict[_Key, list[DesiredObject]] = {}
    for obj in others:
        claimants_by_key.setdefault((obj.kind, obj.namespace, obj.name), []).append(obj)

    def claims(key: _Key) -> list[_Claim]:
        claim = push_claim(key)
        return [_object_claim(obj) for obj in claimants_by_key.get(key, ())] + ([claim] if claim else [])

    dropped: set[_Key] = set()
    for key, objs in claimants_by_key.items():
        if len(objs) < 2 and push_claim(key) is None:
            continue
        dropped.add(key)
        everyone = claims(key)
        for claimant in everyone:
            others_text = ", ".join(c.origin for c in everyone if c is not claimant)
            context.warn(
                claimant.subject, f"skipped: {_key_text(key)} is also planned for {others_text}; neither is written"
            )
    for source, users in sorted(context.credential_sources.items(), key=lambda item: item[0].sort_key):
        key = (source.kind, source.namespace, source.name)
        for claimant in claims(key):
            dropped.add(key)
            context.warn(
                claimant.subject,
                f"skipped: {_key_text(key)} would overwrite the credential source of {', '.join(map(str, users))}",
            )
    if not dropped:
        return others, set()
    units = {
        obj.source
        for key in dropped
        for obj in claimants_by_key.get(key, ())
        if obj.feature is Feature.SVELTOS and obj.source is not None
    }
    kept = [
        obj
        for obj in others
        if (obj.kind, obj.namespace, obj.name) not in dropped
        and not (obj.feature is Feature.SVELTOS and obj.source in units)
    ]
    dropped_push = {(key[1], key[2]) for key in dropped if push_claim(key) is not None and key[1] is not None}
    return kept, dropped_push


def _object_claim(obj: DesiredObject) -> _Claim:
    origin = str(obj.source) if obj.source is not None else f"the configured {obj.ref}"
    unit = obj.source if obj.feature is Feature.SVELTOS else None
    return _Claim(obj.source or obj.ref, origin, unit)


def _key_text(key: _Key) -> str:
    return str(ObjectRef(*key))
