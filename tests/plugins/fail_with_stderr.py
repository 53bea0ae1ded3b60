#!/usr/bin/env python3
"""Prints a credential, then explains on stderr why it failed and exits 3 (PLUGIN_STDERR overrides the text)."""

import os
import sys

from _plugin import KEY, TOKEN, emit

emit({"token": TOKEN, "clientKeyData": KEY})
sys.stderr.write(os.environ.get("PLUGIN_STDERR", "error: role arn:aws:iam::123456789012:role/fleet cannot be assumed\n"))
sys.exit(3)
