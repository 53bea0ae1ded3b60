"""Exec credential plugins (SPEC §3 B.2): provider file, KEP-5339 merging, running, expiry.

A ClusterProfile that lists a provider of the exec-provider file gets its credentials
by running that provider's plugin, the way kubectl would, and turning the printed
ExecCredential into a plain kubeconfig (no exec stanza: Sveltos cannot run plugins).

Minted credentials are recorded on the ``{profile}-sveltos-kubeconfig`` Secret through
annotations (see ``CREDENTIAL_ANNOTATIONS``). The next run reads that Secret back from
the inventory and reuses its bytes unchanged while no refresh is due and the provider
configuration is the same, so a steady-state ``pulumi preview`` shows no change. When a
due refresh fails, the stored credential is kept (with a warning) until it expires: a
failing plugin must not delete a profile's SveltosCluster that still works.

This is the one module of the package that starts processes; it reads no clock
(``now`` is handed in) and never puts plugin output (tokens, keys) or the values of the
variables it hands a plugin into messages.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

from inventory.diagnostics import ObjectRef
from inventory.kubeconfig import build_plain_kubeconfig, validate_kubeconfig
from inventory.model import AccessProvider, ClusterProfile, Inventory, Secret
from inventory.plan import sveltos_kubeconfig_secret_name
from inventory.providers import (
    EXEC_EXTENSION,
    SECRET_READER_PROVIDER,
    find_provider,
    secret_reader_reference,
)
from inventory.settings import Settings

# KEP-5339: per-cluster arguments and environment variables for the plugin.
ADDITIONAL_ARGS_EXTENSION = "clusterprofiles.multicluster.x-k8s.io/exec/additional-args"
ADDITIONAL_ENVS_EXTENSION = "clusterprofiles.multicluster.x-k8s.io/exec/additional-envs"
# The variable kubectl uses to hand the ExecCredential request to a plugin.
EXEC_INFO_ENV = "KUBERNETES_EXEC_INFO"
EXEC_CREDENTIAL_KIND = "ExecCredential"
# The ExecCredential versions kubectl still speaks; the plugin must answer in the configured one.
SUPPORTED_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
# "Always" needs a terminal; a Pulumi run or CI job has none, so such a provider cannot work.
INTERACTIVE_MODES = ("Never", "IfAvailable")
# The deploy process's own secrets (stack passphrase, backend token, management cluster access):
# a plugin does not inherit them; the provider file may still set them explicitly.
_WITHHELD_PREFIXES = ("PULUMI_",)
_WITHHELD_NAMES = ("KUBECONFIG",)
# A ClusterProfile author must not choose which binary runs or inject code into it; the
# provider file (operator-controlled) may set these.
_PROFILE_FORBIDDEN_NAMES = ("PATH",)
_PROFILE_FORBIDDEN_PREFIXES = ("LD_", "PYTHON")

# Annotations on the kubeconfig Secret that make reuse possible across runs.
SOURCE_ANNOTATION = "cluster-inventory.io/credential-source"  # fingerprint of the provider config
ISSUED_AT_ANNOTATION = "cluster-inventory.io/credential-issued-at"
EXPIRES_AT_ANNOTATION = "cluster-inventory.io/credential-expires-at"
REFRESH_AT_ANNOTATION = "cluster-inventory.io/credential-refresh-at"
CREDENTIAL_ANNOTATIONS = (SOURCE_ANNOTATION, ISSUED_AT_ANNOTATION, EXPIRES_AT_ANNOTATION, REFRESH_AT_ANNOTATION)
# Bump when the fingerprint's content changes, so old Secrets are re-minted once.
_FINGERPRINT_VERSION = 1

# The clusterinventory-controller's rule: refresh at 80% of the lifetime, never sooner than 1 minute.
REFRESH_FRACTION = 0.8
MIN_REFRESH_DELAY = timedelta(minutes=1)

# Plugins mostly wait on a network; a few at a time keeps 1,000 profiles fast without a stampede.
MAX_PARALLEL_PLUGINS = 4
# Enough stderr to explain a failure, short enough for a one-line diagnostic.
STDERR_EXCERPT_CHARS = 500
# After killing a timed-out plugin, how long to wait for its pipes to close.
_KILL_GRACE_SECONDS = 5.0
# Strings shorter than this are too common to scrub from stderr without mangling it.
_MIN_SCRUB_LENGTH = 8
# Environment values are known to be configuration, often passwords or keys; shorter ones still
# cannot be scrubbed without mangling the excerpt.
_MIN_ENV_SCRUB_LENGTH = 4
_REDACTED = "<redacted>"


class ProviderFileError(ValueError):
    """The exec-provider file is unusable: a configuration error that stops the run."""


class ArgsPolicy(str, enum.Enum):
    """``profileSourcedCLIArgsPolicy``: what to do with the profile's additional-args."""

    APPEND = "Append"
    IGNORE = "Ignore"


class EnvsPolicy(str, enum.Enum):
    """``profileSourcedEnvVarsPolicy``: what to do with the profile's additional-envs."""

    APPEND_IF_NOT_EXISTS = "AppendIfNotExists"  # the file's value wins on a clash
    REPLACE = "Replace"  # the profile's value wins on a clash
    IGNORE = "Ignore"


_Policy = TypeVar("_Policy", ArgsPolicy, EnvsPolicy)


@dataclass(frozen=True)
class ExecProvider:
    """One entry of the provider file.

    Both policies default to Ignore, as in cluster-inventory-api: a profile can only
    change a plugin's invocation when the file explicitly allows it.
    """

    name: str
    command: str
    api_version: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # values may be secrets
    provide_cluster_info: bool = False
    args_policy: ArgsPolicy = ArgsPolicy.IGNORE
    envs_policy: EnvsPolicy = EnvsPolicy.IGNORE


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


@dataclass(frozen=True)
class PluginOutput:
    """What a plugin run produced; ``returncode`` is None when it was killed for taking too long."""

    returncode: int | None
    stdout: bytes = field(repr=False)
    stderr: bytes = field(repr=False)

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


class PluginRunner(Protocol):
    """Runs one plugin; raises OSError when it cannot be started (not found, not executable)."""

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> PluginOutput: ...


# ---------------------------------------------------------------------------------------
# Provider file
# ---------------------------------------------------------------------------------------


def load_providers(path: str | os.PathLike[str]) -> tuple[ExecProvider, ...]:
    """Parse the provider file (cluster-inventory-api's access config format).

    A relative command containing a slash is resolved against the file's directory
    (kubectl does the same for a kubeconfig's exec command); a bare name is looked up
    on PATH when the plugin runs.
    """
    file = Path(path)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as err:
        raise ProviderFileError(f"exec provider file {file}: cannot be read: {err.strerror or err}") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise ProviderFileError(f"exec provider file {file}: not valid JSON: {err}") from None
    if not isinstance(document, dict):
        raise ProviderFileError(f"exec provider file {file}: expected a JSON object with 'providers'")
    entries = document.get("providers") or []
    if not isinstance(entries, list):
        raise ProviderFileError(f"exec provider file {file}: 'providers' must be a list")
    providers = tuple(_parse_provider(file, index, entry) for index, entry in enumerate(entries))
    _reject_duplicate_names(file, providers)
    return providers


def _parse_provider(file: Path, index: int, entry: Any) -> ExecProvider:
    label = f"provider #{index + 1}"

    def fail(reason: str) -> ProviderFileError:
        return ProviderFileError(f"exec provider file {file}: {label}: {reason}")

    if not isinstance(entry, dict):
        raise fail("must be a JSON object")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise fail("'name' is required")
    label = f"provider {name!r}"
    exec_config = entry.get("execConfig")
    if not isinstance(exec_config, dict):
        raise fail("'execConfig' is required and must be an object")
    try:
        _check_interactive_mode(exec_config.get("interactiveMode"))
        return ExecProvider(
            name=name,
            command=_resolve_command(file, exec_config.get("command")),
            api_version=_api_version(exec_config.get("apiVersion")),
            args=_string_list(exec_config.get("args"), "execConfig.args"),
            env=_env_list(exec_config.get("env")),
            provide_cluster_info=_optional_bool(exec_config.get("provideClusterInfo"), "execConfig.provideClusterInfo"),
            args_policy=_policy(ArgsPolicy, entry.get("profileSourcedCLIArgsPolicy"), "profileSourcedCLIArgsPolicy"),
            envs_policy=_policy(EnvsPolicy, entry.get("profileSourcedEnvVarsPolicy"), "profileSourcedEnvVarsPolicy"),
        )
    except (TypeError, ValueError) as err:
        raise fail(str(err)) from None


def _resolve_command(file: Path, command: Any) -> str:
    if not isinstance(command, str) or not command.strip():
        raise ValueError("execConfig.command is required")
    if os.sep in command and not os.path.isabs(command):
        return os.path.normpath(file.parent / command)
    return command


def _api_version(value: Any) -> str:
    if value is None or value == "":
        raise ValueError(f"execConfig.apiVersion is required (one of {', '.join(SUPPORTED_API_VERSIONS)})")
    if value not in SUPPORTED_API_VERSIONS:
        raise ValueError(f"execConfig.apiVersion {value!r} is not one of {', '.join(SUPPORTED_API_VERSIONS)}")
    return str(value)


def _string_list(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"{what} must be a list of strings")
    return tuple(value)


def _env_list(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError("execConfig.env must be a list of {name, value}")
    pairs: list[tuple[str, str]] = []
    for position, item in enumerate(value, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        env_value = item.get("value", "") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(env_value, str):
            raise TypeError(f"execConfig.env entry #{position} needs a string 'name' and 'value'")
        _check_env_entry(name, env_value, f"execConfig.env entry #{position}")
        pairs.append((name, env_value))
    return tuple(pairs)


def _check_env_entry(name: str, value: str, where: str) -> None:
    if not name or "=" in name or "\0" in name:
        raise ValueError(f"{where}: {name!r} is not a valid environment variable name")
    if "\0" in value:
        raise ValueError(f"{where}: the value of {name} contains a NUL character")


def _optional_bool(value: Any, what: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be true or false, got {value!r}")
    return value


def _policy(policy_type: type[_Policy], value: Any, what: str) -> _Policy:
    if value is None or value == "":
        return policy_type("Ignore")
    try:
        return policy_type(value)
    except ValueError:
        choices = ", ".join(p.value for p in policy_type)
        raise ValueError(f"{what} {value!r} is not one of {choices}") from None


def _check_interactive_mode(value: Any) -> None:
    if value is not None and value != "" and value not in INTERACTIVE_MODES:
        hint = " (plugins run without a terminal here)" if value == "Always" else ""
        raise ValueError(f"execConfig.interactiveMode {value!r} is not one of {', '.join(INTERACTIVE_MODES)}{hint}")


def _reject_duplicate_names(file: Path, providers: tuple[ExecProvider, ...]) -> None:
    seen: set[str] = set()
    for provider in providers:
        if provider.name in seen:
            raise ProviderFileError(
                f"exec provider file {file}: provider {provider.name!r}: listed twice (only the first would ever be used)"
            )
        seen.add(provider.name)


# ---------------------------------------------------------------------------------------
# Choosing a provider and building the invocation
# ---------------------------------------------------------------------------------------


class _ProfileError(ValueError):
    """This profile cannot use its exec provider."""


@dataclass(frozen=True)
class _Invocation:
    """Everything needed to run one profile's plugin, decided before anything runs."""

    profile: ClusterProfile
    provider: ExecProvider
    access: AccessProvider
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)  # the provider's and the profile's variables only
    exec_info: str  # the KUBERNETES_EXEC_INFO document: no credentials in it
    fingerprint: str


def _choose_provider(
    profile: ClusterProfile, providers: Sequence[ExecProvider]
) -> tuple[ExecProvider, AccessProvider] | None:
    """The first provider in file order that the profile lists (never the secret reader)."""
    for provider in providers:
        if provider.name == SECRET_READER_PROVIDER:
            continue
        access = find_provider(profile, provider.name)
        if access is not None:
            return provider, access
    return None


def _has_usable_secretreader(profile: ClusterProfile, secrets: Mapping[tuple[str, str], Secret]) -> bool:
    """True when the planner can copy a kubeconfig for this profile, so no plugin needs to run.

    Mirrors the planner's checks: if the secret reader is listed but cannot deliver
    (bad extension, missing Secret or key, not a kubeconfig) the planner falls back to
    the exec provider, so the plugin must have run.
    """
    try:
        reference = secret_reader_reference(profile)
    except ValueError:
        return False
    if reference is None:
        return False
    secret = secrets.get((reference.namespace, reference.name))
    kubeconfig = secret.data.get(reference.key) if secret is not None else None
    return kubeconfig is not None and validate_kubeconfig(kubeconfig) is None


def _prepare(profile: ClusterProfile, provider: ExecProvider, access: AccessProvider) -> _Invocation:
    where = f"access provider {provider.name!r}"
    if not access.cluster.server:
        raise _ProfileError(f"{where}: status lists no cluster server, so no kubeconfig can be built")
    try:
        args = provider.args + _profile_args(provider, access)
        env = _merged_env(provider, access)
    except (TypeError, ValueError) as err:
        raise _ProfileError(f"{where}: {err}") from None
    argv = (provider.command, *args)
    exec_info = _exec_info(provider, access)
    return _Invocation(
        profile=profile,
        provider=provider,
        access=access,
        argv=argv,
        env=env,
        exec_info=exec_info,
        fingerprint=_fingerprint(provider, access, argv, env.keys(), exec_info),
    )


def _profile_args(provider: ExecProvider, access: AccessProvider) -> tuple[str, ...]:
    """The profile's additional-args when the policy appends them (unparsed otherwise, as upstream)."""
    if provider.args_policy is ArgsPolicy.IGNORE:
        return ()
    value = _extension_value(access, ADDITIONAL_ARGS_EXTENSION, "a YAML list of strings")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError(f"extension {ADDITIONAL_ARGS_EXTENSION} must be a YAML list of strings")
    return tuple(_scalar_text(item, ADDITIONAL_ARGS_EXTENSION) for item in value)


def _merged_env(provider: ExecProvider, access: AccessProvider) -> dict[str, str]:
    """The file's variables merged with the profile's additional-envs per the policy."""
    file_env = dict(provider.env)
    if provider.envs_policy is EnvsPolicy.IGNORE:
        return file_env
    profile_env = _profile_env(access)
    if provider.envs_policy is EnvsPolicy.REPLACE:
        return {**file_env, **profile_env}
    return {**file_env, **{name: value for name, value in profile_env.items() if name not in file_env}}


def _profile_env(access: AccessProvider) -> dict[str, str]:
    value = _extension_value(access, ADDITIONAL_ENVS_EXTENSION, "a YAML map of names to strings")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"extension {ADDITIONAL_ENVS_EXTENSION} must be a YAML map of names to strings")
    env: dict[str, str] = {}
    for name, raw in value.items():
        if not isinstance(name, str):
            raise TypeError(f"extension {ADDITIONAL_ENVS_EXTENSION}: key {name!r} is not a string")
        text = _scalar_text(raw, f"{ADDITIONAL_ENVS_EXTENSION} {name}")
        _check_env_entry(name, text, f"extension {ADDITIONAL_ENVS_EXTENSION}")
        if _is_profile_forbidden(name):
            raise ValueError(
                f"extension {ADDITIONAL_ENVS_EXTENSION}: a ClusterProfile may not set {name} "
                "(it could change which binary runs or inject code into it)"
            )
        env[name] = text
    return env


def _is_profile_forbidden(name: str) -> bool:
    return name in _PROFILE_FORBIDDEN_NAMES or name.startswith(_PROFILE_FORBIDDEN_PREFIXES)


def _extension_value(access: AccessProvider, name: str, expected: str) -> Any:
    """An extension as data; a string holds YAML, kept as written (no 1.10 -> 1.1)."""
    value = access.cluster.extensions.get(name)
    if not isinstance(value, str):
        return value
    try:
        return yaml.load(value, Loader=yaml.BaseLoader)
    except yaml.YAMLError as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"extension {name} must be {expected}: not YAML ({first_line})") from None


def _scalar_text(value: Any, where: str) -> str:
    """A list item or map value as the string a plugin receives (JSON spelling for numbers and booleans)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    raise TypeError(f"extension {where}: expected a string, got {type(value).__name__}")


def _exec_info(provider: ExecProvider, access: AccessProvider) -> str:
    """The ExecCredential request; ``spec.cluster`` only with provideClusterInfo, as kubectl does."""
    spec: dict[str, Any] = {"interactive": False}
    if provider.provide_cluster_info:
        cluster: dict[str, Any] = {"server": access.cluster.server}
        if access.cluster.certificate_authority_data:
            cluster["certificate-authority-data"] = _b64(access.cluster.certificate_authority_data)
        if access.cluster.insecure_skip_tls_verify:
            cluster["insecure-skip-tls-verify"] = True
        if EXEC_EXTENSION in access.cluster.extensions:
            cluster["config"] = access.cluster.extensions[EXEC_EXTENSION]
        spec["cluster"] = cluster
    request = {"apiVersion": provider.api_version, "kind": EXEC_CREDENTIAL_KIND, "spec": spec}
    return json.dumps(request, sort_keys=True, separators=(",", ":"))


def _fingerprint(
    provider: ExecProvider,
    access: AccessProvider,
    argv: Sequence[str],
    env_names: Iterable[str],
    exec_info: str,
) -> str:
    """A digest of what shapes the credential, so a changed configuration re-mints.

    Environment variable *values* stay out: they may be secrets, and a digest of a
    short secret can be brute-forced. Changing only a value therefore keeps the
    stored credential until its refresh is due (or the Secret is deleted).
    """
    material = {
        "version": _FINGERPRINT_VERSION,
        "provider": provider.name,
        "argv": list(argv),
        "envNames": sorted(env_names),
        "server": access.cluster.server,
        "caData": _b64(access.cluster.certificate_authority_data),
        "insecureSkipTLSVerify": access.cluster.insecure_skip_tls_verify,
        "execInfo": exec_info,
    }
    digest = hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return f"sha256:{digest.hexdigest()}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------------------------------
# Expiry and reuse
# ---------------------------------------------------------------------------------------


def refresh_due_at(issued: datetime, expires: datetime) -> datetime:
    """When a credential issued at ``issued`` and expiring at ``expires`` should be replaced.

    80% of the lifetime, never sooner than one minute after issue (the
    clusterinventory-controller's requeue rule); an already expired credential
    therefore gets the one minute too.
    """
    return max(issued + (expires - issued) * REFRESH_FRACTION, issued + MIN_REFRESH_DELAY)


def _stored_credential(stored: Secret | None, fingerprint: str, settings: Settings) -> ExecResult | None:
    """The stored credential as a reused result when it may stand for this profile, else None.

    It may while this program wrote it (managed-by label), it was minted from the same
    configuration (fingerprint) and its kubeconfig is valid. Deleting the Secret, or
    changing the provider or the profile's access data, therefore forces a re-mint.
    Whether it is still fresh enough is ``_refresh_is_due``'s question.
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
    refresh_at = _parse_time(refresh_text) if refresh_text is not None else None
    return ExecResult(kubeconfig=kubeconfig, annotations=annotations, refresh_at=refresh_at, error=None, reused=True)


def _refresh_is_due(stored: ExecResult, now: datetime) -> bool:
    """True when a stored credential must be re-minted rather than reused.

    A credential without an expiry carries no refresh time and is never due: plugins
    without expiry typically hand out long-lived certificates, and re-minting on every
    run would make every preview show a change. An expiry without a refresh time, or
    an unreadable refresh time, was not written by this program: re-mint.
    """
    if REFRESH_AT_ANNOTATION not in stored.annotations:
        return EXPIRES_AT_ANNOTATION in stored.annotations
    return stored.refresh_at is None or now >= stored.refresh_at


def _usable_until_expiry(stored: ExecResult, now: datetime) -> bool:
    """True when the stored credential has a known expiry that is still ahead."""
    expires_text = stored.annotations.get(EXPIRES_AT_ANNOTATION)
    expires = _parse_time(expires_text) if expires_text is not None else None
    return expires is not None and now < expires


def _kept_after_failed_refresh(stored: ExecResult, error: str) -> ExecResult:
    """The stored credential, unchanged, with the failed refresh as a warning."""
    expires = stored.annotations[EXPIRES_AT_ANNOTATION]
    return replace(
        stored,
        warning=f"credential refresh failed, the stored credential is kept until it expires at {expires}: {error}",
    )


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime | None:
    """An RFC 3339 time, or None; a time without a zone is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None and "T" in text.upper() else None


# ---------------------------------------------------------------------------------------
# Running a plugin and reading its answer
# ---------------------------------------------------------------------------------------


def run_plugin(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> PluginOutput:
    """Run ``argv`` directly (never through a shell), without a terminal, within ``timeout``.

    The plugin gets its own process group so that a timeout kills whatever it started
    as well; otherwise a lingering child holding its stdout would block the run.
    """
    with subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_process_group(process)
            try:
                _, stderr = process.communicate(timeout=_KILL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                stderr = b""
            return PluginOutput(returncode=None, stdout=b"", stderr=stderr)
    return PluginOutput(returncode=process.returncode, stdout=stdout, stderr=stderr)


def _kill_process_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass(frozen=True)
class _Credential:
    """``status`` of an ExecCredential: credential material, never to be logged."""

    token: str | None = field(repr=False)
    client_certificate_data: str | None = field(repr=False)
    client_key_data: str | None = field(repr=False)
    expires: datetime | None


class _CredentialError(ValueError):
    """The plugin's stdout is not a usable ExecCredential; the message quotes none of it."""


def _parse_credential(stdout: bytes, api_version: str) -> _Credential:
    try:
        document = json.loads(stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _CredentialError("its output is not JSON") from None
    if not isinstance(document, dict):
        raise _CredentialError("its output is not a JSON object")
    if document.get("kind") != EXEC_CREDENTIAL_KIND:
        raise _CredentialError(f"its output is not of kind {EXEC_CREDENTIAL_KIND}")
    if document.get("apiVersion") != api_version:
        raise _CredentialError(f"its output is not apiVersion {api_version} (the provider's apiVersion)")
    status = document.get("status")
    if not isinstance(status, dict):
        raise _CredentialError("its output has no status")
    token = _status_string(status, "token")
    certificate = _status_string(status, "clientCertificateData")
    key = _status_string(status, "clientKeyData")
    if certificate and not key:
        raise _CredentialError("status has clientCertificateData but no clientKeyData")
    if key and not certificate:
        raise _CredentialError("status has clientKeyData but no clientCertificateData")
    if not token and not certificate:
        raise _CredentialError("status has neither a token nor clientCertificateData and clientKeyData")
    if certificate and "-----BEGIN" not in certificate:
        raise _CredentialError("status.clientCertificateData is not PEM")
    if key and "-----BEGIN" not in key:
        raise _CredentialError("status.clientKeyData is not PEM")
    return _Credential(token=token, client_certificate_data=certificate, client_key_data=key, expires=_expiry(status))


def _status_string(status: Mapping[str, Any], name: str) -> str | None:
    value = status.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _CredentialError(f"status.{name} is not a string")
    return value


def _expiry(status: Mapping[str, Any]) -> datetime | None:
    value = status.get("expirationTimestamp")
    if value is None or value == "":
        return None
    expires = _parse_time(value) if isinstance(value, str) else None
    if expires is None:
        raise _CredentialError("status.expirationTimestamp is not an RFC 3339 time")
    return expires


def _secrets_in(stdout: bytes) -> tuple[str, ...]:
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


def _env_secrets(invocation: _Invocation) -> tuple[str, ...]:
    """The provider file's and the profile's variable values: the plugin may echo them on stderr."""
    values = {value for _, value in invocation.provider.env} | set(invocation.env.values())
    return tuple(value for value in values if len(value) >= _MIN_ENV_SCRUB_LENGTH)


def _inherited_env() -> dict[str, str]:
    """This process's environment without the deploy's own secrets (see ``_WITHHELD_PREFIXES``)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in _WITHHELD_NAMES and not name.startswith(_WITHHELD_PREFIXES)
    }


def _stderr_excerpt(stderr: bytes, secrets: Sequence[str]) -> str:
    """The plugin's stderr on one line, without its stdout or env values, at most 500 chars."""
    text = stderr.decode("utf-8", errors="replace")
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    text = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    if len(text) > STDERR_EXCERPT_CHARS:
        text = text[: STDERR_EXCERPT_CHARS - 3] + "..."
    return text


# ---------------------------------------------------------------------------------------
# Minting and the public entry point
# ---------------------------------------------------------------------------------------


def _failure(message: str) -> ExecResult:
    return ExecResult(kubeconfig=None, annotations={}, refresh_at=None, error=message)


def _mint(invocation: _Invocation, issued: datetime, timeout: float, runner: PluginRunner) -> ExecResult:
    """Run the plugin and turn its ExecCredential into a kubeconfig plus annotations."""
    command = invocation.argv[0]
    where = f"exec provider {invocation.provider.name!r} command {command!r}"
    env = {**_inherited_env(), **invocation.env, EXEC_INFO_ENV: invocation.exec_info}
    try:
        output = runner(invocation.argv, env, timeout)
    except OSError as err:
        return _failure(f"{where} could not be started: {err.strerror or err}")
    secrets = _secrets_in(output.stdout) + _env_secrets(invocation)
    if output.timed_out:
        return _failure(_with_stderr(f"{where} timed out after {timeout:g}s", output.stderr, secrets))
    if output.returncode != 0:
        return _failure(_with_stderr(f"{where} {_exit_status(output.returncode)}", output.stderr, secrets))
    try:
        credential = _parse_credential(output.stdout, invocation.provider.api_version)
    except _CredentialError as err:
        return _failure(_with_stderr(f"{where} exited with status 0 but {err}", output.stderr, secrets))
    return _minted(invocation, credential, issued)


def _exit_status(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _with_stderr(message: str, stderr: bytes, secrets: Sequence[str]) -> str:
    excerpt = _stderr_excerpt(stderr, secrets)
    return f"{message}; stderr: {excerpt}" if excerpt else f"{message}; stderr was empty"


def _minted(invocation: _Invocation, credential: _Credential, issued: datetime) -> ExecResult:
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
    annotations = {SOURCE_ANNOTATION: invocation.fingerprint, ISSUED_AT_ANNOTATION: _format_time(issued)}
    refresh_at = None
    if credential.expires is not None:
        refresh_at = refresh_due_at(issued, credential.expires).replace(microsecond=0)
        annotations[EXPIRES_AT_ANNOTATION] = _format_time(credential.expires)
        annotations[REFRESH_AT_ANNOTATION] = _format_time(refresh_at)
    return ExecResult(kubeconfig=kubeconfig, annotations=annotations, refresh_at=refresh_at, error=None)


def _pem_bytes(pem: str | None) -> bytes | None:
    return pem.encode("utf-8") if pem is not None else None


def resolve_exec_credentials(
    inventory: Inventory,
    settings: Settings,
    now: datetime,
    *,
    runner: PluginRunner | None = None,
) -> dict[ObjectRef, ExecResult]:
    """Credentials for every ClusterProfile served by an exec provider, keyed by its ref.

    A profile gets an entry when it has no usable kubeconfig-secretreader and lists a
    provider of the file. The entry reuses the stored credential while no refresh is
    due (see ``_stored_credential``), else it runs the plugin, a few at a time. A
    profile whose plugin fails gets an entry with ``error`` set, unless a refresh of
    a stored credential that has not expired yet failed: then the stored credential
    is kept with ``warning`` set. A bad provider file raises ProviderFileError.
    ``now`` must carry a time zone.
    """
    if settings.exec_provider_file is None:
        return {}
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    providers = load_providers(settings.exec_provider_file)
    secrets = {(secret.namespace, secret.name): secret for secret in inventory.secrets}
    results: dict[ObjectRef, ExecResult] = {}
    to_mint: list[_Invocation] = []
    kept_if_refresh_fails: dict[ObjectRef, ExecResult] = {}
    for profile in inventory.profiles:
        if _has_usable_secretreader(profile, secrets):
            continue
        choice = _choose_provider(profile, providers)
        if choice is None:
            continue
        try:
            invocation = _prepare(profile, *choice)
        except _ProfileError as err:
            results[profile.ref] = _failure(str(err))
            continue
        stored_secret = secrets.get((profile.namespace, sveltos_kubeconfig_secret_name(profile)))
        stored = _stored_credential(stored_secret, invocation.fingerprint, settings)
        if stored is not None and not _refresh_is_due(stored, now):
            results[profile.ref] = stored
            continue
        to_mint.append(invocation)
        if stored is not None and _usable_until_expiry(stored, now):
            kept_if_refresh_fails[profile.ref] = stored
    for ref, minted in _mint_all(to_mint, now, settings.exec_timeout_seconds, runner or run_plugin).items():
        stored = kept_if_refresh_fails.get(ref)
        if minted.error is not None and stored is not None:
            minted = _kept_after_failed_refresh(stored, minted.error)
        results[ref] = minted
    return dict(sorted(results.items()))


def _mint_all(
    invocations: Sequence[_Invocation], now: datetime, timeout: float, runner: PluginRunner
) -> dict[ObjectRef, ExecResult]:
    if not invocations:
        return {}
    issued = now.astimezone(UTC).replace(microsecond=0)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_PLUGINS, len(invocations))) as pool:
        minted = pool.map(lambda invocation: _mint(invocation, issued, timeout, runner), invocations)
        return {invocation.profile.ref: result for invocation, result in zip(invocations, minted)}
