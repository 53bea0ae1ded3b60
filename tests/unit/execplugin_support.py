"""Builders shared by the exec plugin tests: provider files, profiles, stored Secrets."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from inventory.credentials.exec.provider_file import load_providers
from inventory.credentials.exec.resolve import resolve_exec_credentials
from inventory.credentials.exec.reuse import ExecResult
from inventory.credentials.exec.run import PluginRunner
from inventory.model.diagnostics import ObjectRef
from inventory.model.inventory import (
    AccessProvider,
    ClusterAccess,
    ClusterProfile,
    Inventory,
    Secret,
)
from inventory.settings import ExecBinding, Settings

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exec"
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
SERVER = "https://prod.example.com:6443"
CA = b"-----BEGIN CERTIFICATE-----\nZmFrZS1jYQ==\n-----END CERTIFICATE-----\n"
PROVIDER = "fleet-token"
PROFILE_REF = ObjectRef("ClusterProfile", "team-a", "prod")
# What the test plugins print (tests/plugins/_plugin.py); must never appear in a message.
PLUGIN_TOKEN = "plugin-token-7f3a9c1e5b2d"
PLUGIN_CERT_BODY = "ZmFrZS1jZXJ0LTRkMmU4YTFi"
PLUGIN_KEY_BODY = "ZmFrZS1rZXktOWMzZjZlMmE="


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Make the plugins' ``#!/usr/bin/env python3`` find this interpreter.

    Hermetic (no dependency on whatever python3 is on PATH) and fast: a version
    manager's shim would add a noticeable delay to every one of the plugin runs.
    """
    bin_dir = tmp_path_factory.mktemp("plugin-python")
    (bin_dir / "python3").symlink_to(sys.executable)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        yield


def plugin(name: str) -> str:
    return str(PLUGINS / name)


def provider_entry(
    command: str,
    *,
    name: str = PROVIDER,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    provide_cluster_info: bool = False,
    args_policy: str | None = None,
    envs_policy: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "execConfig": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": command,
            "args": list(args),
            "env": [{"name": key, "value": value} for key, value in (env or {}).items()],
            "provideClusterInfo": provide_cluster_info,
            "interactiveMode": "Never",
        },
    }
    if args_policy is not None:
        entry["profileSourcedCLIArgsPolicy"] = args_policy
    if envs_policy is not None:
        entry["profileSourcedEnvVarsPolicy"] = envs_policy
    return entry


def write_providers(directory: Path, *entries: Mapping[str, Any]) -> Path:
    path = directory / "providers.json"
    path.write_text(json.dumps({"providers": list(entries)}), encoding="utf-8")
    return path


def access(
    name: str = PROVIDER,
    *,
    server: str = SERVER,
    extensions: Mapping[str, Any] | None = None,
) -> AccessProvider:
    return AccessProvider(
        name=name,
        cluster=ClusterAccess(server=server, certificate_authority_data=CA, extensions=dict(extensions or {})),
    )


def profile(
    *providers: AccessProvider,
    name: str = "prod",
    namespace: str = "team-a",
    labels: Mapping[str, str] | None = None,
    credential_providers: Sequence[AccessProvider] = (),
) -> ClusterProfile:
    return ClusterProfile(
        namespace=namespace,
        name=name,
        labels=dict(labels or {}),
        access_providers=providers or (access(),),
        credential_providers=tuple(credential_providers),
    )


def bound_to_team_a(provider_file: Path, binding: ExecBinding | None = None) -> dict[str, ExecBinding]:
    """Every provider of the file bound to namespace team-a (with ``binding``'s allow-lists, if given)."""
    allowed = binding or ExecBinding()
    return {provider.name: ExecBinding(namespaces=("team-a",), profile_env=allowed.profile_env,
                                       profile_args=allowed.profile_args)
            for provider in load_providers(provider_file)}


def resolve(
    provider_file: Path,
    *profiles: ClusterProfile,
    secrets: Sequence[Secret] = (),
    now: datetime = NOW,
    timeout: float = 10.0,
    runner: PluginRunner | None = None,
    bindings: Mapping[str, ExecBinding] | None = None,
    allowed: ExecBinding | None = None,
    budget: float = 900.0,
) -> dict[ObjectRef, ExecResult]:
    """Resolve ``profiles``; unless ``bindings`` says otherwise, every provider serves team-a
    (``bound_to_team_a``), letting profiles pass only what ``allowed`` lists."""
    inventory = Inventory(profiles=profiles or (profile(),), secrets=tuple(secrets))
    settings = Settings(
        exec_provider_file=str(provider_file),
        exec_timeout_seconds=timeout,
        exec_namespace_budget_seconds=budget,
        exec_provider_bindings=bound_to_team_a(provider_file, allowed) if bindings is None else bindings,
    )
    return resolve_exec_credentials(inventory, settings, now, runner=runner)


def resolve_one(provider_file: Path, *profiles: ClusterProfile, **kwargs: Any) -> ExecResult:
    results = resolve(provider_file, *profiles, **kwargs)
    assert list(results) == [PROFILE_REF]
    return results[PROFILE_REF]


def error_of(result: ExecResult) -> str:
    assert result.error is not None, "expected an error"
    assert result.kubeconfig is None
    return result.error


def kubeconfig_of(result: ExecResult) -> dict[str, Any]:
    assert result.error is None, result.error
    assert result.kubeconfig is not None
    document = yaml.safe_load(result.kubeconfig)
    assert isinstance(document, dict)
    return document


def user_of(result: ExecResult) -> dict[str, Any]:
    user = kubeconfig_of(result)["users"][0]["user"]
    assert isinstance(user, dict)
    return user


def recorded(path: Path) -> dict[str, Any]:
    """What tests/plugins/_plugin.py:record() saw: argv, env and the parsed KUBERNETES_EXEC_INFO."""
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def stored_secret(result: ExecResult, *, managed: bool = True) -> Secret:
    """The kubeconfig Secret as the next run would read it back from the cluster."""
    assert result.kubeconfig is not None
    labels = {"app.kubernetes.io/managed-by": "cluster-inventory"} if managed else {}
    return Secret(
        namespace="team-a",
        name="prod-sveltos-kubeconfig",
        labels=labels,
        annotations=dict(result.annotations),
        data={"kubeconfig": result.kubeconfig},
    )
