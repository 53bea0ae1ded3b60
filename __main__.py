"""Entry point of the Pulumi program (`pulumi up` / `pulumi preview`): see inventory/stack/program.py."""

import sys

import pulumi

from inventory.stack import run

try:
    run()
except pulumi.RunError as err:
    # A guard refused or an input is wrong: the message is the whole story. Show it once as a
    # Pulumi error and exit with the code that tells the language host it has been shown (the
    # CLI then adds neither a traceback nor "program exited with non-zero exit code").
    pulumi.log.error(str(err))
    sys.exit(32)
