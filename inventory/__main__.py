"""``python -m inventory render ...`` (offline or live rendering) and ``python -m inventory deploy ...``."""

from __future__ import annotations

import sys

USAGE = "usage: python -m inventory {render,deploy} ...\n"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("render", "deploy"):
        sys.stderr.write(USAGE)
        return 2
    if argv[0] == "render":
        from inventory.render import main as render

        return render(argv[1:])
    from inventory.stack import deploy

    return deploy(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
