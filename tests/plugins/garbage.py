#!/usr/bin/env python3
"""Exits 0 after printing something that is not JSON (but contains the token)."""

from _plugin import TOKEN

print(f"Your token is {TOKEN}. Have a nice day!")
