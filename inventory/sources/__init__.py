"""Where the inventory comes from: a live management cluster or a directory of manifests.

Both sources parse through ``inventory.parse`` and keep the same objects
(``inventory.sources.select``), so identical objects give an identical ``Inventory``.
"""

from __future__ import annotations


class InventoryReadError(RuntimeError):
    """Reading the inventory failed; the message names what failed and what to do.

    Raised instead of returning a partial or empty inventory: planning on one would
    delete every object the missing inputs produced.
    """
