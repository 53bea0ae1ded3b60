#!/usr/bin/env python3
"""Never answers; its child holds stdout open too, as a hung helper process would."""

import subprocess
import sys
import time

sys.stderr.write("waiting for the identity provider...\n")
sys.stderr.flush()
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
time.sleep(60)
