"""cluster-inventory: turn a management cluster's cluster inventory into credentials.

Data flows one way:

    sources (live cluster | YAML dir) -> model -> plan (pure) -> stack (Pulumi) | render (CLI)
"""

import os
import sys

# The one place the version is written: pyproject.toml reads it (dynamic version), `--version`
# prints it and every stack records it in its `programVersion` output. CHANGELOG.md says what
# an existing stack must do to move to it.
__version__ = "0.1.0"


def invoked_as() -> str:
    """How the user started the CLI, for usage lines: the installed `cluster-inventory` script or
    `python -m inventory` in a checkout."""
    return "cluster-inventory" if os.path.basename(sys.argv[0]) == "cluster-inventory" else "python -m inventory"
