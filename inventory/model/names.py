"""Kubernetes limits on names, label values and Secret data keys.

The API server enforces these when an object is written, which is too late: a name
built from inventory data must be checked while planning, so the diagnostic can
name the source object it came from (SPEC §3, seed shortcoming 5).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "CAPI_KUBECONFIG_SUFFIX",
    "MAX_LABEL_VALUE_LENGTH",
    "MAX_NAME_LENGTH",
    "SVELTOS_KUBECONFIG_SUFFIX",
    "is_label_key",
    "is_label_value",
    "is_secret_data_key",
    "label_problems",
    "name_problem",
    "namespace_problem",
    "sveltos_kubeconfig_secret_name",
]

# CAPI names a cluster's admin kubeconfig Secret `{cluster}-kubeconfig`; its other
# Secrets (`-ca`, `-sa`, `-etcd` ...) carry the same label and hold private keys we must not keep.
CAPI_KUBECONFIG_SUFFIX = "-kubeconfig"
# The Secret feature B writes for each ClusterProfile; exec credentials are reused from it.
SVELTOS_KUBECONFIG_SUFFIX = "-sveltos-kubeconfig"

MAX_NAME_LENGTH = 253  # object names are DNS-1123 subdomains
MAX_NAMESPACE_LENGTH = 63  # namespace names are DNS-1123 labels
MAX_LABEL_VALUE_LENGTH = 63

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_SECRET_DATA_KEY = re.compile(r"[-._a-zA-Z0-9]+")
# A label key's name part; the optional prefix before '/' is a DNS-1123 subdomain.
_LABEL_KEY_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def is_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > MAX_NAME_LENGTH or _DNS_SUBDOMAIN.fullmatch(prefix) is None):
        return False
    return _LABEL_KEY_NAME.fullmatch(name) is not None


def sveltos_kubeconfig_secret_name(profile_name: str) -> str:
    """The Secret a SveltosCluster reads (the controller's naming, seed 002)."""
    return f"{profile_name}{SVELTOS_KUBECONFIG_SUFFIX}"


def is_label_value(value: str) -> bool:
    return len(value) <= MAX_LABEL_VALUE_LENGTH and _LABEL_VALUE.fullmatch(value) is not None


def is_secret_data_key(key: str) -> bool:
    return len(key) <= MAX_NAME_LENGTH and _SECRET_DATA_KEY.fullmatch(key) is not None


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a namespaced object (a DNS-1123 subdomain), or None."""
    if not name:
        return "name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"name {name!r} is {len(name)} characters long, the limit is {MAX_NAME_LENGTH}"
    if _DNS_SUBDOMAIN.fullmatch(name) is None:
        return (
            f"name {name!r} is not a DNS-1123 subdomain "
            "(lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)"
        )
    return None


def namespace_problem(name: str) -> str | None:
    """Why ``name`` cannot name a Namespace (a DNS-1123 label), or None."""
    if not name:
        return "namespace name is empty"
    if len(name) > MAX_NAMESPACE_LENGTH:
        return f"namespace name {name!r} is {len(name)} characters long, the limit is {MAX_NAMESPACE_LENGTH}"
    if _DNS_LABEL.fullmatch(name) is None:
        return (
            f"namespace name {name!r} is not a DNS-1123 label "
            "(lower-case letters, digits and '-', starting and ending with a letter or digit)"
        )
    return None


def label_problems(labels: Mapping[str, str]) -> list[str]:
    """Every reason a label map would be rejected by the API server (empty when valid)."""
    problems: list[str] = []
    for key, value in labels.items():
        if not is_label_key(key):
            problems.append(f"label key {key!r} is not a valid label key")
        if not is_label_value(value):
            problems.append(_label_value_problem(key, value))
    return problems


def _label_value_problem(key: str, value: str) -> str:
    if len(value) > MAX_LABEL_VALUE_LENGTH:
        return f"label {key!r}: value {value!r} is {len(value)} characters long, the limit is {MAX_LABEL_VALUE_LENGTH}"
    return (
        f"label {key!r}: value {value!r} is not a valid label value "
        "(letters, digits, '-', '_' and '.', starting and ending with a letter or digit)"
    )
