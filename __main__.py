"""Entry point of the Pulumi program (`pulumi up` / `pulumi preview`): see inventory/program.py."""

from inventory.program import run

run()
