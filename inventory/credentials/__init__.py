"""Credentials: kubeconfig bytes, ClusterProfile access providers, exec plugins (``exec/``) and
the kubeconfig -> Argo CD ``config`` conversion.

Imports the model and settings only. Sources use it to know which Secrets a profile points
at; planning uses it to turn what was read into credentials.
"""

from inventory.credentials.access_providers import (
    EXEC_EXTENSION,
    SECRET_READER_PROVIDER,
    TOKEN_READER_KEY,
    TOKEN_READER_PROVIDER,
    SecretReference,
    secret_reader_reference,
)
from inventory.credentials.argocd import ConversionError, argocd_cluster
from inventory.credentials.exec import REFRESH_AT_ANNOTATION, ProviderFileError, resolve_exec_credentials
from inventory.credentials.kubeconfig import (
    RUNNABLE_FIELDS,
    RUNNABLE_FIELDS_LOWER,
    EndpointError,
    endpoint_entry,
    kubeconfig_endpoint,
    runnable_credential_problem,
    token_kubeconfig,
    validate_kubeconfig,
)

__all__ = [
    "EXEC_EXTENSION",
    "REFRESH_AT_ANNOTATION",
    "RUNNABLE_FIELDS",
    "RUNNABLE_FIELDS_LOWER",
    "SECRET_READER_PROVIDER",
    "TOKEN_READER_KEY",
    "TOKEN_READER_PROVIDER",
    "ConversionError",
    "EndpointError",
    "ProviderFileError",
    "SecretReference",
    "argocd_cluster",
    "endpoint_entry",
    "kubeconfig_endpoint",
    "resolve_exec_credentials",
    "runnable_credential_problem",
    "secret_reader_reference",
    "token_kubeconfig",
    "validate_kubeconfig",
]
