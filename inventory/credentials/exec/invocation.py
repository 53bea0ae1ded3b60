"""One ClusterProfile's plugin invocation, decided before anything runs (SPEC §3 B.2, KEP-5339).

Second step of the exec-plugin flow (see ``inventory.credentials.exec.resolve``): given the provider
file's entries (``inventory.credentials.exec.provider_file``), pick the first provider a profile lists
that stack config binds to it (``execProviderBindings``, SPEC §9), and build exactly what will run:
argv and environment merged with the profile's additional-args/-envs per the file's policies and the
binding's allow-lists, the ``KUBERNETES_EXEC_INFO`` request, and a fingerprint of all of it that
``inventory.credentials.exec.reuse`` compares with the stored credential. Pure: nothing here runs,
reads a clock or looks at this process's environment.

A profile is a tenant's request: it names a provider, the binding decides. Its additional-envs pass
only for names the binding's ``profileEnv`` lists and never for the names of
``inventory.settings.profile_env_refusal``; its additional-args pass only as ``--flag`` or
``--flag=value`` with ``--flag`` in ``profileArgs`` (a value in an argument of its own cannot be told
from a positional argument, so it is refused). A refusal names the variable or flag, never a value.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from inventory.credentials.access_providers import (
    EXEC_EXTENSION,
    SECRET_READER_PROVIDER,
    find_provider,
    secret_reader_reference,
)
from inventory.credentials.exec.provider_file import (
    EXEC_CREDENTIAL_KIND,
    ArgsPolicy,
    EnvsPolicy,
    ExecProvider,
    check_env_entry,
)
from inventory.credentials.kubeconfig import runnable_credential_problem, validate_kubeconfig
from inventory.model import CLUSTER_PROFILE_GROUP, CLUSTER_PROFILE_PLURAL, AccessProvider, ClusterProfile, Secret
from inventory.settings import ExecBinding, Settings, is_env_name, profile_env_refusal

# KEP-5339: per-cluster arguments and environment variables for the plugin
# (clusterprofiles.multicluster.x-k8s.io/exec/additional-args and .../additional-envs).
_EXTENSION_PREFIX = f"{CLUSTER_PROFILE_PLURAL}.{CLUSTER_PROFILE_GROUP}/exec"
ADDITIONAL_ARGS_EXTENSION = f"{_EXTENSION_PREFIX}/additional-args"
ADDITIONAL_ENVS_EXTENSION = f"{_EXTENSION_PREFIX}/additional-envs"
# Where a refusal says a provider could be bound (the stack config key).
BINDINGS_KEY = "execProviderBindings"
# Bump when the fingerprint's content changes, so old Secrets are re-minted once.
_FINGERPRINT_VERSION = 1


class ProfileError(ValueError):
    """This profile cannot use its exec provider."""


@dataclass(frozen=True)
class Invocation:
    """Everything needed to run one profile's plugin, decided before anything runs."""

    profile: ClusterProfile
    provider: ExecProvider
    access: AccessProvider
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)  # the provider's and the profile's variables only
    exec_info: str  # the KUBERNETES_EXEC_INFO document: no credentials in it
    fingerprint: str


@dataclass(frozen=True)
class ProviderChoice:
    """The provider a profile gets, if any, and why each provider it lists before it was refused."""

    chosen: tuple[ExecProvider, AccessProvider, ExecBinding] | None
    refusals: tuple[str, ...]


def choose_provider(
    profile: ClusterProfile, providers: Sequence[ExecProvider], bindings: Mapping[str, ExecBinding]
) -> ProviderChoice:
    """The first provider in file order that the profile lists and stack config binds to it.

    The secret reader is never run. A listed provider that is not bound is refused (named in
    ``refusals``) and the next listed one is tried: a tenant naming the operator's provider gains
    nothing, and loses nothing it is entitled to.
    """
    refusals: list[str] = []
    for provider in providers:
        if provider.name == SECRET_READER_PROVIDER:
            continue
        access = find_provider(profile, provider.name)
        if access is None:
            continue
        binding = bindings.get(provider.name)
        if binding is not None and binding.binds(profile.namespace, profile.labels):
            return ProviderChoice((provider, access, binding), tuple(refusals))
        refusals.append(_binding_refusal(profile, provider.name, binding))
    return ProviderChoice(None, tuple(refusals))


def _binding_refusal(profile: ClusterProfile, provider: str, binding: ExecBinding | None) -> str:
    key = f"{BINDINGS_KEY}[{provider!r}]"
    if binding is None:
        return f"exec provider {provider!r} refused: it serves no ClusterProfile until stack config {key} binds it"
    return (f"exec provider {provider!r} refused: stack config {key} does not bind namespace {profile.namespace} "
            "with this profile's labels (add the namespace, or the labels to its matchLabels, there to bind it)")


def has_usable_secretreader(profile: ClusterProfile, secrets: Mapping[tuple[str, str], Secret],
                            settings: Settings) -> bool:
    """True when the planner can copy a kubeconfig for this profile, so no plugin needs to run.

    Mirrors the planner's checks (``inventory.plan.credentials``): if the secret reader
    is listed but cannot deliver (bad extension, a Secret no route lets it read, missing Secret
    or key, not a kubeconfig, runnable credentials from an untrusted namespace) the planner
    falls back to the exec provider, so the plugin must have run.
    """
    try:
        reference = secret_reader_reference(profile)
    except ValueError:
        return False
    if reference is None or not settings.may_read_secret(profile.namespace, reference.namespace):
        return False
    secret = secrets.get((reference.namespace, reference.name))
    kubeconfig = secret.data.get(reference.key) if secret is not None else None
    if kubeconfig is None or validate_kubeconfig(kubeconfig) is not None:
        return False
    return settings.is_trusted_kubeconfig_source(reference.namespace) or runnable_credential_problem(kubeconfig) is None


def prepare(profile: ClusterProfile, provider: ExecProvider, access: AccessProvider, binding: ExecBinding) -> Invocation:
    """What runs for ``profile`` through ``provider``; ProfileError when its access data cannot be used.

    Profile-sourced args and env pass the binding's allow-lists; anything else refuses the whole
    invocation rather than running the plugin with a request it did not make.
    """
    where = f"access provider {provider.name!r}"
    if not access.cluster.server:
        raise ProfileError(f"{where}: status lists no cluster server, so no kubeconfig can be built")
    try:
        args = provider.args + _profile_args(provider, access, binding)
        env = _merged_env(provider, access, binding)
    except (TypeError, ValueError) as err:
        raise ProfileError(f"{where}: {err}") from None
    argv = (provider.command, *args)
    exec_info = _exec_info(provider, access)
    return Invocation(
        profile=profile,
        provider=provider,
        access=access,
        argv=argv,
        env=env,
        exec_info=exec_info,
        fingerprint=_fingerprint(provider, access, argv, env.keys(), exec_info),
    )


def _profile_args(provider: ExecProvider, access: AccessProvider, binding: ExecBinding) -> tuple[str, ...]:
    """The profile's additional-args when the policy appends them (unparsed otherwise, as upstream)."""
    if provider.args_policy is ArgsPolicy.IGNORE:
        return ()
    value = _extension_value(access, ADDITIONAL_ARGS_EXTENSION, "a YAML list of strings")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError(f"extension {ADDITIONAL_ARGS_EXTENSION} must be a YAML list of strings")
    args = tuple(_scalar_text(item, ADDITIONAL_ARGS_EXTENSION) for item in value)
    for position, arg in enumerate(args, start=1):
        _check_profile_arg(provider.name, binding, position, arg)
    return args


def _check_profile_arg(provider: str, binding: ExecBinding, position: int, arg: str) -> None:
    """``--flag`` or ``--flag=value`` with ``--flag`` allowed; the message never quotes a value."""
    where = f"extension {ADDITIONAL_ARGS_EXTENSION}: argument #{position}"
    flag = arg.partition("=")[0]
    if not flag.startswith("--"):
        raise ValueError(f"{where} is not of the form --flag or --flag=value (a value goes with its flag "
                         "after '=', never in an argument of its own)")
    if flag not in binding.profile_args:
        raise ValueError(f"{where}: flag {_quoted_name(flag)} is not in stack config "
                         f"{BINDINGS_KEY}[{provider!r}].profileArgs")


def _quoted_name(name: str) -> str:
    """A flag or variable name as a message may show it: whole when it looks like a name, else cut short."""
    shown = name if len(name) <= 64 and name.isprintable() else f"{name[:16].encode('unicode_escape').decode()}..."
    return repr(shown)


def _merged_env(provider: ExecProvider, access: AccessProvider, binding: ExecBinding) -> dict[str, str]:
    """The file's variables merged with the profile's additional-envs per the policy."""
    file_env = dict(provider.env)
    if provider.envs_policy is EnvsPolicy.IGNORE:
        return file_env
    profile_env = _profile_env(access)
    for name in profile_env:
        _check_profile_env_name(provider.name, binding, name)
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
    for position, (name, raw) in enumerate(value.items(), start=1):
        # Not quoted: a malformed key may hold what was meant as a value ("TOKEN=...").
        if not isinstance(name, str) or not is_env_name(name):
            raise ValueError(f"extension {ADDITIONAL_ENVS_EXTENSION}: key #{position} is not an environment "
                             "variable name (letters, digits and '_', not starting with a digit)")
        text = _scalar_text(raw, f"{ADDITIONAL_ENVS_EXTENSION} {name}")
        check_env_entry(name, text, f"extension {ADDITIONAL_ENVS_EXTENSION}")
        env[name] = text
    return env


def _check_profile_env_name(provider: str, binding: ExecBinding, name: str) -> None:
    where = f"extension {ADDITIONAL_ENVS_EXTENSION}"
    refusal = profile_env_refusal(name)
    if refusal is not None:
        raise ValueError(f"{where}: a ClusterProfile may never set {name} ({refusal})")
    if name not in binding.profile_env:
        raise ValueError(f"{where}: variable {_quoted_name(name)} is not in stack config "
                         f"{BINDINGS_KEY}[{provider!r}].profileEnv")


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