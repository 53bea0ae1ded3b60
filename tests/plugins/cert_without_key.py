#!/usr/bin/env python3
"""A client certificate without its key."""

from _plugin import CERT, emit

emit({"clientCertificateData": CERT})
