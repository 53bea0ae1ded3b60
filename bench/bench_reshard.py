"""What changing the shard count costs (docs/sizing.md, Changing shardCount):

    make bench-reshard [SIZE=1000] [CLUSTER_MANAGER=1]
    eval "$(tools/env.sh)"; .venv/bin/python bench/bench_reshard.py [--clusters 1000] [--consumers 3]
        [--from-count 2] [--to-count 3] [--cluster-manager]

On the local control plane (started if needed): the synthetic fleet of bench/fleet.py deployed as
``--from-count`` shard stacks, then `python -m inventory reshard` to ``--to-count`` and an `up` of
every stack, then back the same way, with a watch on the managed Secrets (and, with
``--cluster-manager``, on the ClusterProfiles feature E publishes, whose statuses move with them)
all along. Prints each step's time, how many objects changed stack, and the DELETE and ADDED
events seen (there must be none).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import Fleet, applier, delete_namespaces, inventory_manifests
from inventory.stack import reshard
from tests.integration.controlplane import KUBECONFIG, start_control_plane
from tests.integration.inventory_objects import PROFILES
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import local_backend_env
from tests.integration.watching import ObjectWatch

PREFIX = "shard-"


def log(message: str) -> None:
    print(f"[bench-reshard] {message}", flush=True)


def _config(fleet: Fleet, count: int, index: int) -> dict[str, Any]:
    config = {key.removeprefix("cluster-inventory:"): value for key, value in fleet.stack_config().items()}
    # The shards of the 5,000-object fleet pass the default memory budget (2 x 2,500 objects):
    # the benchmark measures them anyway.
    return {**config, "managedByValue": fleet.prefix, "maxDeletions": 0, "shardCount": count, "shardIndex": index,
            "allowOverMemoryBudget": True}


def _write_config(workdir: Path, stack: str, values: dict[str, Any]) -> None:
    path = workdir / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text()) if path.exists() else {}
    document = document or {}
    document.setdefault("config", {}).update({f"cluster-inventory:{k}": v for k, v in values.items()})
    path.write_text(yaml.safe_dump(document))


def _change(workdir: Path, stacks: dict[str, ProjectStack], fleet: Fleet, old: int, new: int) -> None:
    for index in range(new):
        _write_config(workdir, f"{PREFIX}{index}", _config(fleet, new, index))
    started = time.monotonic()
    if reshard(["--stack-prefix", PREFIX, "--from-count", str(old), "--to-count", str(new), "--cwd", str(workdir)]):
        raise SystemExit("reshard failed (see above)")
    log(f"reshard {old} -> {new}: {time.monotonic() - started:.1f} s")
    for index in range(new):
        name = f"{PREFIX}{index}"
        stacks.setdefault(name, ProjectStack(workdir, name=name))
        started = time.monotonic()
        result = stacks[name].up()
        log(f"up {name}: {time.monotonic() - started:.1f} s, {dict(result.summary.resource_changes or {})}")
    for index in range(new, old):
        stacks[f"{PREFIX}{index}"].destroy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--consumers", type=int, default=3)
    parser.add_argument("--from-count", type=int, default=2)
    parser.add_argument("--to-count", type=int, default=3)
    parser.add_argument("--cluster-manager", action="store_true",
                        help="feature E publishes the ClusterProfiles, spec and status (clusterProfileMode: direct)")
    args = parser.parse_args()
    fleet = Fleet(args.clusters, args.consumers, name="reshard", cluster_manager=args.cluster_manager)
    control_plane = start_control_plane()
    next(control_plane)
    os.environ["PULUMI_SKIP_CHECKPOINTS"] = "true"  # as `python -m inventory deploy` sets it (docs/sizing.md)
    delete_namespaces(fleet)
    namespaces, inventory = inventory_manifests(fleet)
    applier("apply", namespaces)
    applier("apply", inventory)
    log(f"{fleet.describe()} in {args.from_count} shard stacks")
    stacks: dict[str, ProjectStack] = {}
    from kubernetes import client, config

    api = config.new_client_from_config(str(KUBECONFIG))
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    selector = f"app.kubernetes.io/managed-by={fleet.prefix}"
    with tempfile.TemporaryDirectory(prefix="bench-reshard-") as tmp:
        workdir = Path(tmp) / "project"
        try:
            for index in range(args.from_count):
                name = f"{PREFIX}{index}"
                stacks[name] = ProjectStack(workdir, name=name)
                stacks[name].configure(**_config(fleet, args.from_count, index))
                started = time.monotonic()
                stacks[name].up()
                log(f"cold up {name}: {time.monotonic() - started:.1f} s")
            for key, value in local_backend_env(workdir).items():
                os.environ[key] = value
            with (ObjectWatch(core.list_secret_for_all_namespaces, selector) as seen,
                  ObjectWatch(lambda **kw: custom.list_cluster_custom_object(*PROFILES, **kw), selector) as profiles):
                _change(workdir, stacks, fleet, args.from_count, args.to_count)
                _change(workdir, stacks, fleet, args.to_count, args.from_count)
            log(f"DELETED events on managed Secrets: {len(seen.of('DELETED'))}; ADDED: {len(seen.of('ADDED'))}")
            if fleet.cluster_manager:
                log(f"DELETED events on published ClusterProfiles: {len(profiles.of('DELETED'))}; "
                    f"ADDED: {len(profiles.of('ADDED'))}")
        finally:
            for stack in stacks.values():
                stack.destroy()
            delete_namespaces(fleet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
