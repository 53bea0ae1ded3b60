"""Expiry and reuse of minted credentials (SPEC §3 B.2): pure decisions, ``now`` handed in.

Minted credentials are recorded on the ``{profile}-sveltos-kubeconfig`` Secret through
annotations (see ``CREDENTIAL_ANNOTATIONS``). The next run reads that Secret back from
the inventory and reuses its bytes unchanged while no refresh is due and the provider
configuration is the same (the invocation's fingerprint, ``inventory.credentials.exec.invocation``),
so a steady-state ``pulumi preview`` shows no change. When a due refresh fails, the stored
credential is kept (with a warning) until it expires: a failing plugin must not delete a
profile's SveltosCluster that still works. ``inventory.credentials.exec.resolve`` asks these questions
before running anything; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from inventory.credentials.kubeconfig import validate_kubeconfig
from inventory.model import Secret
from inventory.settings import Settings

# Annotations on the kubeconfig Secret that make reuse possible across runs.
SOURCE_ANNOTATION = "cluster-inventory.io/credential-source"  # fingerprint of the provider config
ISSUED_AT_ANNOTATION = "cluster-inventory.io/credential-issued-at"
EXPIRES_AT_ANNOTATION = "cluster-inventory.io/credential-expires-at"
REFRESH_AT_ANNOTATION = "cluster-inventory.io/credential-refresh-at"
CREDENTIAL_ANNOTATIONS = (SOURCE_ANNOTATION, ISSUED_AT_ANNOTATION, EXPIRES_AT_ANNOTATION, REFRESH_AT_ANNOTATION)

# The clusterinventory-controller's rule: refresh at 80% of the lifetime, never sooner than 1 minute.
REFRESH_FRACTION = 0.8
MIN_REFRESH_DELAY = timedelta(minutes=1)


@dataclass(frozen=True)
class ExecResult:
    """The outcome for one ClusterProfile: a kubeconfig plus Secret annotations, or an error.

    ``warning`` goes with a kubeconfig that is usable but not what this run meant to
    produce (a stored credential kept because its refresh failed). Messages never name
    the profile: the result is keyed by it, and the diagnostic names it.
    """

    kubeconfig: bytes | None = field(repr=False)
    annotations: Mapping[str, str]
    refresh_at: datetime | None
    error: str | None
    reused: bool = False
    warning: str | None = None


def refresh_due_at(issued: datetime, expires: datetime) -> datetime:
    """When a credential issued at ``issued`` and expiring at ``expires`` should be replaced.

    80% of the lifetime, never sooner than one minute after issue (the
    clusterinventory-controller's requeue rule); an already expired credential
    therefore gets the one minute too.
    """
    return max(issued + (expires - issued) * REFRESH_FRACTION, issued + MIN_REFRESH_DELAY)


def stored_credential(stored: Secret | None, fingerprint: str, settings: Settings) -> ExecResult | None:
    """The stored credential as a reused result when it may stand for this profile, else None.

    It may while this program wrote it (managed-by label), it was minted from the same
    configuration (fingerprint) and its kubeconfig is valid. Deleting the Secret, or
    changing the provider or the profile's access data, therefore forces a re-mint.
    Whether it is still fresh enough is ``refresh_is_due``'s question.
    """
    if stored is None or stored.labels.get(settings.managed_by_label) != settings.managed_by_value:
        return None
    if stored.annotations.get(SOURCE_ANNOTATION) != fingerprint:
        return None
    kubeconfig = stored.data.get(settings.sveltos_kubeconfig_key)
    if kubeconfig is None or validate_kubeconfig(kubeconfig) is not None:
        return None
    annotations = {key: stored.annotations[key] for key in CREDENTIAL_ANNOTATIONS if key in stored.annotations}
    refresh_text = annotations.get(REFRESH_AT_ANNOTATION)
    refresh_at = parse_time(refresh_text) if refresh_text is not None else None
    return ExecResult(kubeconfig=kubeconfig, annotations=annotations, refresh_at=refresh_at, error=None, reused=True)


def refresh_is_due(stored: ExecResult, now: datetime) -> bool:
    """True when a stored credential must be re-minted rather than reused.

    A credential without an expiry carries no refresh time and is never due: plugins
    without expiry typically hand out long-lived certificates, and re-minting on every
    run would make every preview show a change. An expiry without a refresh time, or
    an unreadable refresh time, was not written by this program: re-mint.
    """
    if REFRESH_AT_ANNOTATION not in stored.annotations:
        return EXPIRES_AT_ANNOTATION in stored.annotations
    return stored.refresh_at is None or now >= stored.refresh_at


def usable_until_expiry(stored: ExecResult, now: datetime) -> bool:
    """True when the stored credential has a known expiry that is still ahead."""
    expires_text = stored.annotations.get(EXPIRES_AT_ANNOTATION)
    expires = parse_time(expires_text) if expires_text is not None else None
    return expires is not None and now < expires


def kept_after_failed_refresh(stored: ExecResult, error: str) -> ExecResult:
    """The stored credential, unchanged, with the failed refresh as a warning."""
    expires = stored.annotations[EXPIRES_AT_ANNOTATION]
    return replace(
        stored,
        warning=f"credential refresh failed, the stored credential is kept until it expires at {expires}: {error}",
    )


def format_time(moment: datetime) -> str:
    """An annotation's time: UTC, whole seconds, RFC 3339."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 time, or None; a time without a zone is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None and "T" in text.upper() else None