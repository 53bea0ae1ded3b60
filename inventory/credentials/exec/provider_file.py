"""The exec-provider file (SPEC §3 B.2): read once per run, before any ClusterProfile is looked at.

First step of the exec-plugin flow: provider file (here) -> per-profile invocation
(``inventory.credentials.exec.invocation``) -> reuse or run (``inventory.credentials.exec.reuse``,
``inventory.credentials.exec.run``) -> the plugin's answer (``inventory.credentials.exec.output``),
composed by ``inventory.credentials.exec.resolve``. Pure apart from reading the one file; a file that
cannot be used raises ProviderFileError, which stops the run (it is operator
configuration, not one cluster's problem).
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

EXEC_CREDENTIAL_KIND = "ExecCredential"
# The ExecCredential versions kubectl still speaks; the plugin must answer in the configured one.
SUPPORTED_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
# "Always" needs a terminal; a Pulumi run or CI job has none, so such a provider cannot work.
INTERACTIVE_MODES = ("Never", "IfAvailable")


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
        check_env_entry(name, env_value, f"execConfig.env entry #{position}")
        pairs.append((name, env_value))
    return tuple(pairs)


def check_env_entry(name: str, value: str, where: str) -> None:
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