#!/usr/bin/env python3
"""Prints without end on stdout, as a plugin stuck in a loop would."""

import sys

chunk = "x" * 65536
while True:
    sys.stdout.write(chunk)
