#!/usr/bin/env python3
"""An ExecCredential whose status holds nothing."""

from _plugin import emit

emit({})
