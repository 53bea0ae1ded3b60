#!/usr/bin/env python3
"""Dies from a signal, as a plugin hit by the OOM killer would."""

import os
import signal
import sys

sys.stderr.write("allocating...\n")
sys.stderr.flush()
os.kill(os.getpid(), signal.SIGKILL)
