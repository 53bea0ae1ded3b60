#!/usr/bin/env python3
"""Answers in v1beta1 when asked for v1, and leaks the token on stderr while at it."""

import sys

from _plugin import TOKEN, emit

emit({"token": TOKEN}, api_version="client.authentication.k8s.io/v1beta1")
sys.stderr.write(f"debug: minted {TOKEN}\n")
