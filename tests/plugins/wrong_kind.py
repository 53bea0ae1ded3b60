#!/usr/bin/env python3
"""Prints a JSON object of another kind."""

from _plugin import TOKEN, emit

emit({"token": TOKEN}, kind="Status")
