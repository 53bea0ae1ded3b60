#!/usr/bin/env python3
"""Prints a token and a client certificate with its key."""

from _plugin import CERT, KEY, TOKEN, emit

emit({"token": TOKEN, "clientCertificateData": CERT, "clientKeyData": KEY})
