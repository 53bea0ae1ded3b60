"""Where the inventory comes from: a live management cluster or a directory of manifests.

Both sources parse through ``sources/parse.py`` and keep the same objects (``sources/select.py``),
so identical objects give an identical ``Inventory``. A read that fails raises
``InventoryReadError``; it never returns a partial or empty inventory.
"""

from inventory.sources.errors import InventoryReadError
from inventory.sources.files import read_directory
from inventory.sources.live import api_client, cluster_identity, is_kubeconfig_content, read_cluster
from inventory.sources.select import is_mcr_lookalike, reads_profiles

__all__ = [
    "InventoryReadError",
    "api_client",
    "cluster_identity",
    "is_kubeconfig_content",
    "is_mcr_lookalike",
    "read_cluster",
    "read_directory",
    "reads_profiles",
]
