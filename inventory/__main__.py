"""The command line: ``render`` (offline or live rendering), ``deploy`` (the stack through the
Automation API), ``reshard`` (a change of shardCount) and ``rbac`` (the roles a stack's identities
need); ``python -m inventory`` in a checkout,
``cluster-inventory`` where the package is installed."""

from __future__ import annotations

import sys

from inventory import __version__, invoked_as

COMMANDS = {
    "render": "print the objects the program would declare, from YAML files or a live cluster",
    "deploy": "run the Pulumi stack through the Automation API: preview, up, destroy, refresh, ...",
    "reshard": "move a sharded fleet's state to a new shardCount with no outage",
    "rbac": "print the least-privilege roles of a stack's preview and deploy identities",
}


def usage() -> str:
    name = invoked_as()
    commands = "\n".join(f"  {command:<9} {summary}" for command, summary in COMMANDS.items())
    return (f"usage: {name} [-h] [--version] {{{','.join(COMMANDS)}}} ...\n\n"
            f"Turns a management cluster's cluster inventory into the objects its consumers read (README.md).\n\n"
            f"commands:\n{commands}\n\n"
            f"options:\n  -h, --help  show this help and exit\n  --version   print the version and exit\n\n"
            f"`{name} COMMAND --help` shows a command's own options.\n")


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(usage())
        return 0
    if argv and argv[0] == "--version":
        print(f"cluster-inventory {__version__}")
        return 0
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write(usage())
        if argv:
            sys.stderr.write(f"\n{invoked_as()}: error: unknown command {argv[0]!r}\n")
        return 2
    if argv[0] == "render":
        from inventory.render import main as render

        return render(argv[1:])
    if argv[0] == "reshard":
        from inventory.stack import reshard

        return reshard(argv[1:])
    if argv[0] == "rbac":
        from inventory.rbac import main as rbac

        return rbac(argv[1:])
    from inventory.stack import deploy

    return deploy(argv[1:])


def console_script() -> int:
    """The ``cluster-inventory`` entry point of the installed package."""
    return main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
