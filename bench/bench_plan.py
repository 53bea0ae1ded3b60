"""Benchmark planning: 1,000 and 10,000 CAPI Clusters x 10 consumer namespaces, plus as many ClusterProfiles.

Each size runs in a fresh process so peak RSS is its own. Printed per size: objects
planned, wall time of ``build_plan`` (best and median of a few runs), peak RSS of the
process (inventory included) and the growth of the high-water mark during planning.
Targets (2-core machine): 10,000 x 10 in under 2 s and under 1 GiB.

    python bench/bench_plan.py            # both sizes
    python bench/bench_plan.py --size N   # one size, in this process
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import KUBECONFIG_TEMPLATE
from inventory.model import (
    AccessProvider,
    CapiCluster,
    ClusterAccess,
    ClusterProfile,
    Inventory,
    Namespace,
    Secret,
)
from inventory.plan import build_plan
from inventory.settings import Settings

SIZES = (1_000, 10_000)
CONSUMER_NAMESPACES = 10
RUNS = 3
TARGET_SECONDS = 2.0
TARGET_RSS_BYTES = 1 << 30

def _random_b64(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode("ascii")


def synthetic_inventory(clusters: int) -> Inventory:
    """``clusters`` CAPI Clusters with kubeconfig Secrets, 10 consumer namespaces, and one
    ClusterProfile per Cluster reading that Secret through ``kubeconfig-secretreader``."""
    namespaces = [
        Namespace(f"consumer-{i:02d}", {"x-k8s.io/cluster-inventory-consumer": "true"})
        for i in range(CONSUMER_NAMESPACES)
    ]
    namespaces += [Namespace(f"set-{i}", {"clusterset.multicluster.x-k8s.io": f"set-{i}"}) for i in range(10)]
    capi_clusters = []
    secrets = []
    profiles = []
    for i in range(clusters):
        name = f"cluster-{i:05d}"
        capi_namespace = f"capi-{i % 20:02d}"
        labels = {"clusterprofile-name": name, "clusterset.k8s.io": f"set-{i % 10}"}
        if i % 2:
            labels["clusterprofile-namespace"] = "fleet"
        capi_clusters.append(CapiCluster(capi_namespace, name, labels))
        kubeconfig = KUBECONFIG_TEMPLATE.format(name=name, ca=_random_b64(1100), cert=_random_b64(1150), key=_random_b64(1700))
        secrets.append(
            Secret(
                capi_namespace,
                f"{name}-kubeconfig",
                "cluster.x-k8s.io/secret",
                {"cluster.x-k8s.io/cluster-name": name},
                {},
                {"value": kubeconfig.encode()},
            )
        )
        extension = {"name": f"{name}-kubeconfig", "key": "value", "namespace": capi_namespace}
        provider = AccessProvider(
            "kubeconfig-secretreader",
            ClusterAccess(
                server=f"https://{name}.clusters.example:6443",
                extensions={"client.authentication.k8s.io/exec": extension},
            ),
        )
        profiles.append(
            ClusterProfile("fleet", name, {"env": "prod", "region": f"r{i % 7}"}, f"Cluster {i}", (provider,))
        )
    return Inventory(tuple(capi_clusters), tuple(secrets), tuple(namespaces), tuple(profiles))


def _peak_rss_bytes() -> int:
    """VmHWM: the process's resident-set high-water mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def run_size(clusters: int) -> None:
    inventory = synthetic_inventory(clusters)
    settings = Settings()
    now = datetime(2025, 1, 1, tzinfo=UTC)
    times = []
    growth = 0
    for _ in range(RUNS):
        _reset_peak_rss()
        before = _peak_rss_bytes()
        start = time.perf_counter()
        plan = build_plan(inventory, settings, {}, now)
        times.append(time.perf_counter() - start)
        growth = max(growth, _peak_rss_bytes() - before)
        assert not plan.diagnostics, plan.diagnostics[:3]
        del plan
    _reset_peak_rss()
    plan = build_plan(inventory, settings, {}, now)
    peak = _peak_rss_bytes()
    expected = clusters * CONSUMER_NAMESPACES + 2 * clusters
    assert len(plan.objects) == expected, (len(plan.objects), expected)
    print(
        f"{clusters:>6} clusters x {CONSUMER_NAMESPACES} namespaces + {clusters} profiles: "
        f"{len(plan.objects):>7} objects  "
        f"best {min(times):6.3f} s  median {statistics.median(times):6.3f} s  "
        f"peak RSS {peak / 2**20:7.1f} MiB (planning +{growth / 2**20:6.1f} MiB)"
    )
    ok = min(times) < TARGET_SECONDS and peak < TARGET_RSS_BYTES
    if clusters == max(SIZES):
        print(f"target (< {TARGET_SECONDS:.0f} s, < 1 GiB): {'met' if ok else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, help="run one size in this process")
    args = parser.parse_args()
    if args.size:
        run_size(args.size)
        return 0
    for size in SIZES:
        # A fresh process per size: peak RSS must not carry over from the previous one.
        result = subprocess.run([sys.executable, __file__, "--size", str(size)], check=False)
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
