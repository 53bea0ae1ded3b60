#!/usr/bin/env python3
"""Echoes the value of the variable named by PLUGIN_ECHO_ENV on stderr, as a careless plugin would, and exits 1."""

import os
import sys

name = os.environ.get("PLUGIN_ECHO_ENV", "")
sys.stderr.write(f"error: login rejected for {name}={os.environ.get(name, '')}\n")
sys.exit(1)
