"""Test support: run tools/go/clusterprofile-consumer as a ClusterProfile consumer would run.

The consumer is cluster-inventory-api's own ``pkg/access`` with its ``kubeconfig-secretreader``
exec plugin, both built from the pinned module by tools/build-go-helper.sh. It runs as a
ServiceAccount of its own with only the Roles it is granted here, so every success also proves
that those Roles are enough; nothing it prints may contain a credential.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.integration.controlplane import REPO, tools_env

BUILD_SCRIPT = REPO / "tools" / "build-go-helper.sh"
BUILD_TIMEOUT_SECONDS = 1200  # a cold build compiles client-go on a shared 2-core machine
RUN_TIMEOUT_SECONDS = 60
SECRET_READER = "kubeconfig-secretreader"  # cluster-inventory-api's plugin's ProviderName
TOKEN_READER = "secretreader"  # its plugin that reads a token from the consumer's own namespace
CAPI_KUBECONFIG_KEY = "value"  # Cluster API's kubeconfig Secret keeps the kubeconfig here
PROFILE_READER_RULES = [{"apiGroups": ["multicluster.x-k8s.io"], "resources": ["clusterprofiles"],
                         "verbs": ["get", "list", "watch"]}]


def build(helper: str) -> Path:
    """A Go helper built (or reused) by tools/build-go-helper.sh; a failed build fails the test."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT), helper], capture_output=True, text=True,
                            env=tools_env(), timeout=BUILD_TIMEOUT_SECONDS, check=False)
    assert result.returncode == 0, f"building {helper} failed:\n{result.stderr}"
    return Path(result.stdout.strip())


def kubeconfig(server: str, ca_data: str, token: str, namespace: str | None = None) -> str:
    """A token kubeconfig for ``server``, verified against ``ca_data``."""
    context: dict[str, str] = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": context}],
    })


def provider_file(path: Path, plugin: Path, *, provide_cluster_info: bool = True, name: str = SECRET_READER) -> Path:
    """pkg/access's provider file: the plugin ``name`` (by default kubeconfig-secretreader) as an exec provider."""
    path.write_text(json.dumps({"providers": [{"name": name, "execConfig": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
        "provideClusterInfo": provide_cluster_info}}]}))
    return path


def service_account_token(core: client.CoreV1Api, namespace: str, name: str) -> str:
    """A new ServiceAccount's token: an identity the local API server authenticates by name."""
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    return str(core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 3600}}).status.token)


def grant(rbac: client.RbacAuthorizationV1Api, namespace: str, subject: tuple[str, str], name: str,
          rules: list[dict[str, Any]]) -> None:
    """A Role in ``namespace`` with ``rules``, bound to ServiceAccount ``subject`` (namespace, name)."""
    rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "namespace": subject[0], "name": subject[1]}]})


@dataclass
class Run:
    returncode: int
    output: dict[str, Any]
    stderr: str


def run_consumer(consumer: Path, mode: str, providers: Path, kubeconfig_file: Path, home: Path,
                 secrets: list[str], *args: str) -> Run:
    """Run the consumer (its plugin inherits KUBECONFIG); fail if it printed any of ``secrets``."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "KUBECONFIG": str(kubeconfig_file)}
    result = subprocess.run([str(consumer), mode, "-clusterprofile-provider-file", str(providers), *args],
                            capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_SECONDS, check=False)
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr, "the consumer printed a credential"
    assert result.returncode in (0, 1), result.stderr
    return Run(result.returncode, json.loads(result.stdout), result.stderr)
