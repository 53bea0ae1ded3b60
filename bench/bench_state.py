"""How the state backend grows over scheduled runs: N no-op `up`s of one stack.

    python bench/bench_state.py --size 200 --runs 4                 # plain `pulumi up`
    python bench/bench_state.py --size 200 --runs 4 --entry driver  # python -m inventory deploy up
    python bench/bench_state.py --size 200 --env PULUMI_DIY_BACKEND_GZIP=true

The fleet is bench_deploy's (N CAPI Clusters x C consumers + N ClusterProfiles). After the cold
`up` and after each no-op `up` it prints the file backend's size: the state file (and its
`.bak`), `.pulumi/backups` and `.pulumi/history` (update records and checkpoint copies).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_deploy import STACK, Bench, log
from bench.fleet import Fleet, applier, delete_namespaces, inventory_manifests
from tests.integration.controlplane import KUBECONFIG


def sizes(state: Path) -> dict[str, int]:
    """Bytes under the file backend, by part."""
    parts = {"state": 0, "backups": 0, "history": 0, "other": 0}
    for path in state.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(state).parts
        part = relative[1] if len(relative) > 1 and relative[1] in ("backups", "history") else None
        if part is None and path.name.startswith(f"{STACK}.json"):
            part = "state"
        parts[part or "other"] += path.stat().st_size
    return parts


def row(name: str, parts: dict[str, int]) -> str:
    total = sum(parts.values())
    return (f"| {name} | {total / 1e6:.1f} | {parts['state'] / 1e6:.1f} | {parts['backups'] / 1e6:.1f} "
            f"| {parts['history'] / 1e6:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200, help="CAPI Clusters (default 200)")
    parser.add_argument("--consumers", type=int, default=3, help="consumer namespaces (default 3)")
    parser.add_argument("--runs", type=int, default=4, help="no-op ups after the cold one (default 4)")
    parser.add_argument("--entry", choices=("pulumi", "driver"), default="pulumi")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for every command (repeatable)")
    parser.add_argument("--save-state", type=Path, help="copy the stack's state file here before the destroy")
    args = parser.parse_args()
    if not KUBECONFIG.exists():
        raise SystemExit("no local control plane: run `make cluster-up` first")
    random.seed(4322)
    fleet = Fleet(args.size, args.consumers)
    delete_namespaces(fleet)
    namespaces, inventory = inventory_manifests(fleet)
    applier("apply", namespaces)
    applier("apply", inventory)
    lines = [f"{fleet.objects} objects, entry {args.entry}, env {' '.join(args.env) or '-'}",
             "| after | total MB | state + .bak MB | backups MB | history MB |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        bench = Bench(fleet, Path(tmp), args.entry)
        bench.env.update(dict(item.split("=", 1) for item in args.env))
        if args.entry == "pulumi":
            subprocess.run(["pulumi", "stack", "init", STACK, "--secrets-provider", "passphrase", "--cwd", tmp],
                           env=bench.env, check=True, capture_output=True)
        state = Path(tmp) / "state"
        bench.deploy("cold up", "up")
        lines.append(row("cold up", sizes(state)))
        for run in range(1, args.runs + 1):
            bench.deploy(f"no-op up {run}", "up")
            lines.append(row(f"no-op up {run}", sizes(state)))
            log(lines[-1])
        if args.save_state:
            shutil.copy(next(state.rglob(f"{STACK}.json*")), args.save_state)
        bench.deploy("destroy", "destroy")
    delete_namespaces(fleet)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
