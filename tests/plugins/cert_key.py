#!/usr/bin/env python3
"""Prints a client certificate and key, no token."""

from _plugin import CERT, KEY, emit, record

record()
emit({"clientCertificateData": CERT, "clientKeyData": KEY})
