"""Reading what an exec plugin returned (SPEC §3 B.2): pure.

Last step of the exec-plugin flow (see ``inventory.credentials.exec.resolve``): a successful run's
stdout must be an ExecCredential in the provider's apiVersion, and becomes a plain
kubeconfig (no exec stanza: Sveltos cannot run plugins) plus the annotations
``inventory.credentials.exec.reuse`` reads back next run. A failed run's stderr becomes a
one-line excerpt for its diagnostic, scrubbed of anything from stdout, of the values of the
variables handed to the plugin and of the deploy job's own environment, and of anything shaped
like a bearer token or JWT: no message quotes a token, key or secret value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inventory.credentials.exec.invocation import Invocation
from inventory.credentials.exec.provider_file import EXEC_CREDENTIAL_KIND
from inventory.credentials.exec.reuse import (
    EXPIRES_AT_ANNOTATION,
    ISSUED_AT_ANNOTATION,
    REFRESH_AT_ANNOTATION,
    SOURCE_ANNOTATION,
    ExecResult,
    format_time,
    parse_time,
    refresh_due_at,
)
from inventory.credentials.kubeconfig import build_plain_kubeconfig

# Enough stderr to explain a failure, short enough for a one-line diagnostic.
STDERR_EXCERPT_CHARS = 500
# Strings shorter than this are too common to scrub from stderr without mangling it.
_MIN_SCRUB_LENGTH = 8
# Environment values are known to be configuration, often passwords or keys; shorter ones still
# cannot be scrubbed without mangling the excerpt.
_MIN_ENV_SCRUB_LENGTH = 4
# The deploy job's own environment is mostly not secret (paths, locales); only values this long
# are scrubbed, which covers passphrases and tokens without blanking every "C.UTF-8".
_MIN_JOB_ENV_SCRUB_LENGTH = 8
_REDACTED = "<redacted>"
# Credentials a plugin may print on stderr that came from nowhere we know: JWTs (ID and
# ServiceAccount tokens) and whatever follows "Bearer" / "token:" / "password=".
_TOKEN_LIKE = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
    r"|(?i:(?<=bearer )|(?<=token[=:] )|(?<=token[=:])|(?<=password[=:] )|(?<=password[=:]))[^\s\"',;)\]}]{8,}"
)


@dataclass(frozen=True)
class Credential:
    """``status`` of an ExecCredential: credential material, never to be logged."""

    token: str | None = field(repr=False)
    client_certificate_data: str | None = field(repr=False)
    client_key_data: str | None = field(repr=False)
    expires: datetime | None


class CredentialError(ValueError):
    """The plugin's stdout is not a usable ExecCredential; the message quotes none of it."""


def parse_credential(stdout: bytes, api_version: str) -> Credential:
    """The ``status`` of the ExecCredential a plugin printed; CredentialError when it is not one."""
    try:
        document = json.loads(stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CredentialError("its output is not JSON") from None
    if not isinstance(document, dict):
        raise CredentialError("its output is not a JSON object")
    if document.get("kind") != EXEC_CREDENTIAL_KIND:
        raise CredentialError(f"its output is not of kind {EXEC_CREDENTIAL_KIND}")
    if document.get("apiVersion") != api_version:
        raise CredentialError(f"its output is not apiVersion {api_version} (the provider's apiVersion)")
    status = document.get("status")
    if not isinstance(status, dict):
        raise CredentialError("its output has no status")
    token = _status_string(status, "token")
    certificate = _status_string(status, "clientCertificateData")
    key = _status_string(status, "clientKeyData")
    if certificate and not key:
        raise CredentialError("status has clientCertificateData but no clientKeyData")
    if key and not certificate:
        raise CredentialError("status has clientKeyData but no clientCertificateData")
    if not token and not certificate:
        raise CredentialError("status has neither a token nor clientCertificateData and clientKeyData")
    if certificate and "-----BEGIN" not in certificate:
        raise CredentialError("status.clientCertificateData is not PEM")
    if key and "-----BEGIN" not in key:
        raise CredentialError("status.clientKeyData is not PEM")
    return Credential(token=token, client_certificate_data=certificate, client_key_data=key, expires=_expiry(status))


def _status_string(status: Mapping[str, Any], name: str) -> str | None:
    value = status.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CredentialError(f"status.{name} is not a string")
    return value


def _expiry(status: Mapping[str, Any]) -> datetime | None:
    value = status.get("expirationTimestamp")
    if value is None or value == "":
        return None
    expires = parse_time(value) if isinstance(value, str) else None
    if expires is None:
        raise CredentialError("status.expirationTimestamp is not an RFC 3339 time")
    return expires


def secrets_in(stdout: bytes) -> tuple[str, ...]:
    """Strings from the plugin's stdout that must not leak through its stderr excerpt."""
    text = stdout.decode("utf-8", errors="replace")
    candidates = [line.strip() for line in text.splitlines()]
    try:
        status = json.loads(text).get("status")
    except (ValueError, AttributeError):
        status = None
    if isinstance(status, dict):
        candidates += [v for k, v in status.items() if k != "expirationTimestamp" and isinstance(v, str)]
    return tuple(sorted({c for c in candidates if len(c) >= _MIN_SCRUB_LENGTH}, key=len, reverse=True))


def env_secrets(invocation: Invocation, job_env_values: Iterable[str] = ()) -> tuple[str, ...]:
    """Variable values the plugin may echo on stderr: the provider file's and the profile's (4
    characters or more) and the deploy job's own environment (8 or more), which includes what the
    plugin inherited."""
    values = {value for _, value in invocation.provider.env} | set(invocation.env.values())
    kept = {value for value in values if len(value) >= _MIN_ENV_SCRUB_LENGTH}
    kept |= {value for value in job_env_values if len(value) >= _MIN_JOB_ENV_SCRUB_LENGTH}
    return tuple(kept)


def _stderr_excerpt(stderr: bytes, secrets: Sequence[str]) -> str:
    """The plugin's stderr on one line, without its stdout, env values or token-like strings, at most 500 chars."""
    text = stderr.decode("utf-8", errors="replace")
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    text = _TOKEN_LIKE.sub(_REDACTED, text)
    text = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    if len(text) > STDERR_EXCERPT_CHARS:
        text = text[: STDERR_EXCERPT_CHARS - 3] + "..."
    return text


def with_stderr(message: str, stderr: bytes, secrets: Sequence[str]) -> str:
    """``message`` followed by the plugin's stderr excerpt (or that it was empty)."""
    excerpt = _stderr_excerpt(stderr, secrets)
    return f"{message}; stderr: {excerpt}" if excerpt else f"{message}; stderr was empty"


def minted_result(invocation: Invocation, credential: Credential, issued: datetime) -> ExecResult:
    """A fresh credential as a plain kubeconfig plus the annotations that let the next run reuse it."""
    cluster = invocation.access.cluster
    kubeconfig = build_plain_kubeconfig(
        cluster_name=invocation.profile.name,
        server=cluster.server,
        ca_data=cluster.certificate_authority_data,
        insecure_skip_tls_verify=cluster.insecure_skip_tls_verify,
        token=credential.token,
        client_certificate_data=_pem_bytes(credential.client_certificate_data),
        client_key_data=_pem_bytes(credential.client_key_data),
    )
    annotations = {SOURCE_ANNOTATION: invocation.fingerprint, ISSUED_AT_ANNOTATION: format_time(issued)}
    refresh_at = None
    if credential.expires is not None:
        refresh_at = refresh_due_at(issued, credential.expires).replace(microsecond=0)
        annotations[EXPIRES_AT_ANNOTATION] = format_time(credential.expires)
        annotations[REFRESH_AT_ANNOTATION] = format_time(refresh_at)
    return ExecResult(kubeconfig=kubeconfig, annotations=annotations, refresh_at=refresh_at, error=None)


def _pem_bytes(pem: str | None) -> bytes | None:
    return pem.encode("utf-8") if pem is not None else None

