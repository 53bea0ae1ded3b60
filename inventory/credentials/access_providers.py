"""Reading a ClusterProfile's access providers: which one applies, and what it points at."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from inventory.model import AccessProvider, ClusterProfile

# The controller's built-in provider that copies a whole kubeconfig from a Secret (seed 002).
SECRET_READER_PROVIDER = "kubeconfig-secretreader"
# cluster-inventory-api v0.1.3's plugins/secretreader (its ProviderName): reads key ``token`` of the
# Secret named by the exec extension's ``clusterName``, in the consumer's own namespace (its
# kubeconfig context's, else its pod's). With grants, feature E publishes it: each consumer reads
# its own token, never the admin kubeconfig.
TOKEN_READER_PROVIDER = "secretreader"
TOKEN_READER_KEY = "token"  # its SecretTokenKey
# The cluster extension that carries a provider's configuration (the exec plugin's `config`).
EXEC_EXTENSION = "client.authentication.k8s.io/exec"


@dataclass(frozen=True)
class SecretReference:
    """Where the ``kubeconfig-secretreader`` provider says the kubeconfig is."""

    namespace: str
    name: str
    key: str


def effective_providers(profile: ClusterProfile) -> tuple[AccessProvider, ...]:
    """``accessProviders``, then the deprecated ``credentialProviders`` whose names they lack."""
    names = {provider.name for provider in profile.access_providers}
    legacy = tuple(provider for provider in profile.credential_providers if provider.name not in names)
    return profile.access_providers + legacy


def find_provider(profile: ClusterProfile, name: str) -> AccessProvider | None:
    for provider in effective_providers(profile):
        if provider.name == name:
            return provider
    return None


def secret_reader_reference(profile: ClusterProfile) -> SecretReference | None:
    """The Secret key the ``kubeconfig-secretreader`` provider names, or None without that provider.

    Raises ValueError, quoting the offending value, when the extension is missing or malformed.
    """
    provider = find_provider(profile, SECRET_READER_PROVIDER)
    if provider is None:
        return None
    if EXEC_EXTENSION not in provider.cluster.extensions:
        raise ValueError(f"provider {SECRET_READER_PROVIDER!r} has no {EXEC_EXTENSION!r} cluster extension")
    config = _json_object(provider.cluster.extensions[EXEC_EXTENSION])
    return SecretReference(
        namespace=_string_field(config, "namespace", required=False) or profile.namespace,
        name=_string_field(config, "name", required=True),
        key=_string_field(config, "key", required=True),
    )


def _string_field(config: dict[str, Any], field: str, *, required: bool) -> str:
    value = config.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ValueError(
            f"{SECRET_READER_PROVIDER} extension {EXEC_EXTENSION!r}: {field!r} must be a "
            f"{'non-empty ' if required else ''}string, got {value!r}"
        )
    return value


def _json_object(extension: Any) -> dict[str, Any]:
    """The extension as a JSON object; a JSON string holding an object is accepted too."""
    value = extension
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise ValueError(
                f"{SECRET_READER_PROVIDER} extension {EXEC_EXTENSION!r} is not valid JSON: {err}"
            ) from None
    if isinstance(value, dict):
        return value
    raise ValueError(
        f"{SECRET_READER_PROVIDER} extension {EXEC_EXTENSION!r} must be a JSON object "
        f'like {{"name": ..., "key": ...}}, got {value!r}'
    )
