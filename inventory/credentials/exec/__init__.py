"""Exec credential plugins (SPEC §3 B.2): the provider file, one profile's invocation, running
the plugin, reading what it printed, and reusing stored credentials while no refresh is due.

The one side effect is ``run.run_plugin``; everything else decides before or after it.
Public surface: ``resolve_exec_credentials`` (every profile's result, or a diagnostic),
``ProviderFileError`` (the provider file does not parse) and ``REFRESH_AT_ANNOTATION`` (where a
minted credential's refresh time is stored, read by sharding).
"""

from inventory.credentials.exec.resolve import ProviderFileError, resolve_exec_credentials
from inventory.credentials.exec.reuse import REFRESH_AT_ANNOTATION

__all__ = ["REFRESH_AT_ANNOTATION", "ProviderFileError", "resolve_exec_credentials"]
