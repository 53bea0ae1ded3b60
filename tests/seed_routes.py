"""The trust routes of a stack that keeps the behaviour of the program before SPEC §9 (docs/security.md).

Every labelled namespace is a consumer, Clusters and profiles may name any namespace, every source may
carry runnable credentials, every profile label is carried, every exec provider serves every profile.
The feature tests describe the seeds' behaviour and run with these; tests/unit/test_trust.py and
tests/integration/test_tenant_attacks.py cover the defaults and narrow routes.
"""

from __future__ import annotations

from typing import Any

SEED_ROUTES: dict[str, Any] = {
    "consumer_namespaces": ("*",),
    "cluster_placement_routes": {"*": ("*",)},
    "secret_reader_routes": {"*": ("*",)},
    "trusted_kubeconfig_namespaces": ("*",),
    "sveltos_cluster_labels": ("*",),
}
# The same as stack config keys (Pulumi.yaml, render --config).
SEED_ROUTES_CONFIG: dict[str, Any] = {
    "consumerNamespaces": ["*"],
    "clusterPlacementRoutes": {"*": ["*"]},
    "secretReaderRoutes": {"*": ["*"]},
    "trustedKubeconfigNamespaces": ["*"],
    "sveltosClusterLabels": ["*"],
}


def seed_stack_config() -> dict[str, Any]:
    """``SEED_ROUTES_CONFIG`` as ``cluster-inventory:``-prefixed stack config."""
    return {f"cluster-inventory:{key}": value for key, value in SEED_ROUTES_CONFIG.items()}
