#!/usr/bin/env python3
"""Prints a credential, then explains on stderr why it failed and exits 3.

PLUGIN_STDERR overrides the text, PLUGIN_STDERR_REPEAT prints it that many times.
"""

import os
import sys

from _plugin import KEY, TOKEN, emit

emit({"token": TOKEN, "clientKeyData": KEY})
text = os.environ.get("PLUGIN_STDERR", "error: role arn:aws:iam::123456789012:role/fleet cannot be assumed\n")
sys.stderr.write(text * int(os.environ.get("PLUGIN_STDERR_REPEAT", "1")))
sys.exit(3)
