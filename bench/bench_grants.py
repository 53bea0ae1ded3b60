"""Grants at size (docs/security.md, "Grants"): N CAPI Clusters spread over the test bed's workload
API servers, each with the consumers' identities, through the real CLI and the project's provider.

    eval "$(tools/env.sh)"; python tools/cluster.py up --workloads 2
    PULUMI_SKIP_CHECKPOINTS=true python -m bench.bench_grants --clusters 100 --consumers 3

Prints the cold ``up`` (every grant created: a TokenRequest each), a no-op ``preview`` and ``up``
(no TokenRequest), their wall times, the peak RSS of the provider plugin process (one for every
grant) and the number of plugin processes named cluster-inventory, then destroys the stack.
The test bed has two or three workload API servers, so many CAPI Clusters share one: their grants
apply the same ServiceAccount, which costs each grant the same calls as on a cluster of its own.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Self

from kubernetes import client, config

from tests.integration.controlplane import KUBECONFIG, REPO
from tests.integration.project import ProjectStack
from tests.integration.pulumi_stack import resource_changes
from tests.integration.workloads import register_capi_cluster, running_workload_servers

PROVIDER_MODULE = b"inventory.stack.status_provider"
# provider/pulumi-resource-cluster-inventory sets PYTHONPATH to the checkout it serves.
OWN_PYTHONPATH = b"PYTHONPATH=" + str(REPO).encode()


class ProviderSampler:
    """Peak RSS and count of the provider plugin processes while a step runs."""

    def __init__(self) -> None:
        self.peak_rss = 0
        self.processes: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    if PROVIDER_MODULE not in (proc / "cmdline").read_bytes():
                        continue
                    if OWN_PYTHONPATH not in (proc / "environ").read_bytes().split(b"\0"):
                        continue  # another checkout's plugin (the machine is shared)
                    status = (proc / "status").read_text()
                except OSError:
                    continue
                self.processes.add(int(proc.name))
                rss = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
                self.peak_rss = max(self.peak_rss, rss)


def step(name: str, run: Any) -> Any:
    with ProviderSampler() as sampler:
        start = time.monotonic()
        result = run()
        elapsed = time.monotonic() - start
    changes = resource_changes(result) if hasattr(result, "summary") or hasattr(result, "change_summary") else {}
    print(f"{name:>14}: {elapsed:6.1f} s  provider peak RSS {sampler.peak_rss / 2**20:5.0f} MiB  "
          f"provider processes {len(sampler.processes)}  changes {dict(changes)}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--consumers", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/bench-grants")
    parser.add_argument("--no-grants", action="store_true",
                        help="the same fleet without grants (admin kubeconfigs): the baseline a grant's cost is read from")
    args = parser.parse_args()
    workloads = running_workload_servers()
    if not workloads:
        raise SystemExit("no workload clusters: run `python tools/cluster.py up --workloads 2` first")
    mgmt = config.new_client_from_config(str(KUBECONFIG))
    core = client.CoreV1Api(mgmt)
    run_id = uuid.uuid4().hex[:6]
    capi_ns = f"bench-grants-{run_id}"
    consumers = [f"consumer-{index}-{run_id}" for index in range(args.consumers)]
    for name, labels in [(capi_ns, {}), *((c, {"x-k8s.io/cluster-inventory-consumer": "true"}) for c in consumers)]:
        core.create_namespace({"metadata": {"name": name, "labels": labels}})
    for index in range(args.clusters):
        name = f"c{index:04d}"
        register_capi_cluster(mgmt, capi_ns, name, workloads[index % len(workloads)],
                              labels={"clusterprofile-name": name, "clusterprofile-namespace": capi_ns})
    stack = ProjectStack(Path(args.workdir) / run_id, routes={})
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
    stack.configure(capiNamespaces=[capi_ns], profileNamespaces=[capi_ns], sveltosMode="off",
                    consumerNamespaces=consumers, scheduleIntervalMinutes=30, allowOverMemoryBudget=True,
                    grants=None if args.no_grants else {c: {"access": [{"rules": [rule]}]} for c in consumers})
    stack.configure_secret("kubeconfig", Path(KUBECONFIG).read_text())
    pairs = args.clusters * args.consumers
    print(f"{args.clusters} CAPI Clusters over {len(workloads)} workload API servers x {args.consumers} consumers: "
          + (f"{pairs} push Secrets, no grants" if args.no_grants else f"{pairs} grants (+ {pairs} push Secrets)"),
          flush=True)
    try:
        step("cold up", stack.up)
        step("no-op preview", stack.preview)
        step("no-op up", stack.up)
    finally:
        step("destroy", stack.destroy)
        for name in (capi_ns, *consumers):
            core.delete_namespace(name)


if __name__ == "__main__":
    main()
