"""Kubeconfig -> Argo CD cluster ``config``: pure conversion, every loss reported.

Argo CD reads a cluster's credentials from the ``config`` key of its declarative
cluster Secret: JSON of its ``ClusterConfig`` type (argo-cd
``pkg/apis/application/v1alpha1``; documented in operator-manual/declarative-setup.md).
Only the documented fields are written. A kubeconfig setting that has no documented
counterpart (a file path, an auth-provider, impersonation, ...) makes the conversion
fail with the reason, rather than hand Argo CD a cluster that would silently behave
differently from the kubeconfig.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from inventory.model import SafeLoader, describe_yaml_error

# Kubeconfig settings Argo CD cannot take: they name local files or plugins that only
# exist where the kubeconfig was written, or ask for behaviour Argo CD's config lacks.
_UNSUPPORTED_CLUSTER_KEYS = {
    "certificate-authority": "a CA file path (Argo CD needs certificate-authority-data)",
}
_UNSUPPORTED_USER_KEYS = {
    "client-certificate": "a client certificate file path (Argo CD needs client-certificate-data)",
    "client-key": "a client key file path (Argo CD needs client-key-data)",
    "tokenFile": "a token file path (Argo CD needs the token itself)",
    "auth-provider": "an auth-provider plugin (Argo CD has none; use an exec plugin)",
    "as": "impersonation (Argo CD's cluster config has none)",
    "as-uid": "impersonation (Argo CD's cluster config has none)",
    "as-groups": "impersonation (Argo CD's cluster config has none)",
    "as-user-extra": "impersonation (Argo CD's cluster config has none)",
}
# Argo CD runs exec plugins in its own pods, with no terminal.
_INTERACTIVE_MODES = ("Never", "IfAvailable")


class ConversionError(ValueError):
    """The kubeconfig cannot become an Argo CD cluster config; the message says why."""


@dataclass(frozen=True)
class ArgoCDCluster:
    """What Argo CD needs of one cluster: its API server and its ``config`` JSON object."""

    server: str
    config: Mapping[str, Any]


def argocd_cluster(kubeconfig: bytes) -> ArgoCDCluster:
    """The Argo CD view of the context a client would use: ``current-context``, else the only one."""
    document = _load(kubeconfig)
    context = _context(document)
    cluster = _named(document, "clusters", "cluster", _field(context, "cluster"))
    user = _named(document, "users", "user", _field(context, "user")) if context.get("user") else {}
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise ConversionError("the cluster has no server")
    config: dict[str, Any] = {}
    config.update(_credentials(user))
    config["tlsClientConfig"] = _tls_client_config(cluster, user)
    exec_config = user.get("exec")
    if exec_config is not None:
        config["execProviderConfig"] = _exec_provider_config(exec_config)
    if not ({"bearerToken", "username", "execProviderConfig"} & config.keys()
            or "certData" in config["tlsClientConfig"]):
        raise ConversionError(
            "the user has no token, client certificate, basic auth or exec plugin: Argo CD would connect anonymously"
        )
    proxy_url = cluster.get("proxy-url")
    if proxy_url:
        config["proxyUrl"] = _string(proxy_url, "proxy-url")
    if cluster.get("disable-compression") is True:
        config["disableCompression"] = True
    return ArgoCDCluster(server, config)


def _load(kubeconfig: bytes) -> Mapping[str, Any]:
    try:
        document = yaml.load(kubeconfig, Loader=SafeLoader)
    except yaml.YAMLError as err:
        raise ConversionError(f"kubeconfig is not valid YAML: {describe_yaml_error(err)}") from None
    if not isinstance(document, dict):
        raise ConversionError("kubeconfig is not a YAML mapping")
    return document


def _context(document: Mapping[str, Any]) -> Mapping[str, Any]:
    contexts = document.get("contexts") or []
    if not isinstance(contexts, list):
        raise ConversionError("contexts is not a list")
    current = document.get("current-context")
    if current:
        return _named(document, "contexts", "context", str(current))
    if len(contexts) != 1:
        raise ConversionError(
            f"no current-context and {len(contexts)} contexts: cannot tell which one a client would use"
        )
    return _body(contexts[0], "context")


def _named(document: Mapping[str, Any], section: str, body_key: str, name: str) -> Mapping[str, Any]:
    entries = document.get(section) or []
    if not isinstance(entries, list):
        raise ConversionError(f"{section} is not a list")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name:
            return _body(entry, body_key)
    raise ConversionError(f"{body_key} {name!r} is not in {section}")


def _body(entry: Any, body_key: str) -> Mapping[str, Any]:
    body = entry.get(body_key) if isinstance(entry, dict) else None
    if not isinstance(body, dict):
        raise ConversionError(f"a {body_key} entry has no {body_key} mapping")
    return body


def _field(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise ConversionError(f"the context names no {key}")
    return value


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ConversionError(f"{what} is not a string")
    return value


def _credentials(user: Mapping[str, Any]) -> dict[str, Any]:
    for key, reason in _UNSUPPORTED_USER_KEYS.items():
        if user.get(key):
            raise ConversionError(f"the user uses {reason}")
    credentials: dict[str, Any] = {}
    if user.get("token"):
        credentials["bearerToken"] = _string(user["token"], "token")
    if user.get("username") or user.get("password"):
        credentials["username"] = _string(user.get("username", ""), "username")
        credentials["password"] = _string(user.get("password", ""), "password")
    return credentials


def _tls_client_config(cluster: Mapping[str, Any], user: Mapping[str, Any]) -> dict[str, Any]:
    for key, reason in _UNSUPPORTED_CLUSTER_KEYS.items():
        if cluster.get(key):
            raise ConversionError(f"the cluster uses {reason}")
    insecure = cluster.get("insecure-skip-tls-verify", False)
    if not isinstance(insecure, bool):
        raise ConversionError("insecure-skip-tls-verify is not true or false")
    # Argo CD's Go type has no omitempty on insecure: it is always written.
    tls: dict[str, Any] = {"insecure": insecure}
    if cluster.get("tls-server-name"):
        tls["serverName"] = _string(cluster["tls-server-name"], "tls-server-name")
    # Kubeconfig *-data and Argo CD's []byte fields are both base64 of the PEM bytes.
    for source, key, owner in (
        ("certificate-authority-data", "caData", cluster),
        ("client-certificate-data", "certData", user),
        ("client-key-data", "keyData", user),
    ):
        if owner.get(source):
            tls[key] = _base64(owner[source], source)
    if ("certData" in tls) != ("keyData" in tls):
        raise ConversionError("a client certificate needs its key, and a key its certificate")
    return tls


def _base64(value: Any, what: str) -> str:
    text = "".join(_string(value, what).split())
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConversionError(f"{what} is not base64") from None
    return text


def _exec_provider_config(exec_config: Any) -> dict[str, Any]:
    if not isinstance(exec_config, dict):
        raise ConversionError("the user's exec is not a mapping")
    command = exec_config.get("command")
    if not isinstance(command, str) or not command:
        raise ConversionError("the user's exec has no command")
    if exec_config.get("provideClusterInfo"):
        raise ConversionError(
            "the user's exec plugin needs provideClusterInfo, which Argo CD's documented execProviderConfig lacks"
        )
    mode = exec_config.get("interactiveMode")
    if mode is not None and mode not in _INTERACTIVE_MODES:
        raise ConversionError(f"the user's exec plugin has interactiveMode {mode!r}; Argo CD runs it without a terminal")
    converted: dict[str, Any] = {"command": command}
    args = exec_config.get("args") or []
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise ConversionError("the user's exec args are not a list of strings")
    if args:
        converted["args"] = list(args)
    env = _exec_env(exec_config.get("env") or [])
    if env:
        converted["env"] = env
    for key in ("apiVersion", "installHint"):
        if exec_config.get(key):
            converted[key] = _string(exec_config[key], f"exec {key}")
    return converted


def _exec_env(entries: Any) -> dict[str, str]:
    """Kubeconfig's ``[{name, value}]`` as Argo CD's map; a name given twice cannot be a map."""
    if not isinstance(entries, list):
        raise ConversionError("the user's exec env is not a list")
    env: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConversionError("an exec env entry has no name")
        name = entry["name"]
        if name in env:
            raise ConversionError(f"exec env {name!r} is given twice")
        env[name] = _string(entry.get("value", ""), f"exec env {name!r}")
    return env
