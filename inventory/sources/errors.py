"""The one error a source raises: the read failed, and the message says what to do."""

from __future__ import annotations


class InventoryReadError(RuntimeError):
    """Reading the inventory failed; the message names what failed and what to do.

    Raised instead of returning a partial or empty inventory: planning on one would
    delete every object the missing inputs produced.
    """
