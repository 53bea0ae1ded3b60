"""``python -m inventory render ...`` (offline or live rendering), ``python -m inventory deploy ...``
(the stack through the Automation API), ``python -m inventory reshard ...`` (a change of shardCount)
and ``python -m inventory rbac ...`` (the roles a stack's identities need)."""

from __future__ import annotations

import sys

USAGE = "usage: python -m inventory {render,deploy,reshard,rbac} ...\n"
COMMANDS = ("render", "deploy", "reshard", "rbac")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write(USAGE)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
