"""Where the inventory comes from: a live management cluster or a directory of manifests.

Both sources parse through ``sources/parse.py`` and keep the same objects (``sources/select.py``),
so identical objects give an identical ``Inventory``. A read that fails raises
``InventoryReadError``; it never returns a partial or empty inventory.

The live source's names load the Kubernetes client on first use, so planning (which needs
only ``select``'s rules) and offline rendering never import it.
"""

from typing import TYPE_CHECKING

from inventory.sources.errors import InventoryReadError
from inventory.sources.files import read_directory
from inventory.sources.select import is_mcr_lookalike, reads_capi, reads_profiles, uses_profile_credentials

if TYPE_CHECKING:
    from inventory.sources.live import api_client, cluster_identity, is_kubeconfig_content, read_cluster

_LIVE = frozenset({"api_client", "cluster_identity", "is_kubeconfig_content", "read_cluster"})


def __getattr__(name: str) -> object:
    if name in _LIVE:
        from inventory.sources import live

        return getattr(live, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "InventoryReadError",
    "api_client",
    "cluster_identity",
    "is_kubeconfig_content",
    "is_mcr_lookalike",
    "read_cluster",
    "read_directory",
    "reads_capi",
    "reads_profiles",
    "uses_profile_credentials",
]
