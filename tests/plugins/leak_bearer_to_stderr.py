#!/usr/bin/env python3
"""Fails, logging a request with its bearer token and an ID token on stderr, as a debug mode would."""

import sys

sys.stderr.write("POST /token: 401 (Authorization: Bearer sk-live-5e8d2c7a9b1f)\n")
sys.stderr.write("id token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZWFtLWEiLCJhdWQiOiJmbGVldCJ9.c2lnbmF0dXJl rejected\n")
sys.exit(1)
