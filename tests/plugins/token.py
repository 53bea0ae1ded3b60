#!/usr/bin/env python3
"""Prints a token; with PLUGIN_EXPIRES_AT set, also that expirationTimestamp."""

import os

from _plugin import TOKEN, emit, record

record()
status = {"token": TOKEN}
if os.environ.get("PLUGIN_EXPIRES_AT"):
    status["expirationTimestamp"] = os.environ["PLUGIN_EXPIRES_AT"]
emit(status)
