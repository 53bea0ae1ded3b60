"""Shared by the test plugins: record how the plugin was called, print an ExecCredential.

The credential strings are fixed so that tests can assert they never reach a message.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

API_VERSION = "client.authentication.k8s.io/v1"
TOKEN = os.environ.get("PLUGIN_TOKEN", "plugin-token-7f3a9c1e5b2d")
CERT = "-----BEGIN CERTIFICATE-----\nZmFrZS1jZXJ0LTRkMmU4YTFi\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN EC PRIVATE KEY-----\nZmFrZS1rZXktOWMzZjZlMmE=\n-----END EC PRIVATE KEY-----\n"


def record() -> None:
    """Write argv, environment and KUBERNETES_EXEC_INFO to the file named by PLUGIN_RECORD."""
    path = os.environ.get("PLUGIN_RECORD")
    if not path:
        return
    exec_info = os.environ.get("KUBERNETES_EXEC_INFO")
    with open(path, "w", encoding="utf-8") as out:
        json.dump(
            {
                "argv": sys.argv[1:],
                "env": dict(os.environ),
                "execInfo": json.loads(exec_info) if exec_info else None,
            },
            out,
        )


def emit(status: dict[str, Any], *, api_version: str = API_VERSION, kind: str = "ExecCredential") -> None:
    json.dump({"apiVersion": api_version, "kind": kind, "status": status}, sys.stdout)
    sys.stdout.write("\n")
