"""Benchmark deploying a synthetic fleet on the local control plane, with the floor beside it.

    python bench/bench_deploy.py                 # 200 and 1,000 CAPI Clusters (make bench-deploy)
    python bench/bench_deploy.py --size 500      # your own fleet size
    python bench/bench_deploy.py --size 2000 --consumers 8
    python bench/bench_deploy.py --size 200 --parallel-diff   # also no-op preview/up with PULUMI_PARALLEL_DIFF
    python bench/bench_deploy.py --size 2000 --consumers 8 --shards 4   # four shard stacks, one after the other
    python bench/bench_deploy.py --size 1000 --cluster-manager   # feature E publishes the profiles
    python bench/bench_deploy.py --size 1000 --shards 3 --default-memory-budget   # the memory guard as users get it
    python bench/bench_deploy.py --grants --size 1000 --consumers 3   # a ConsumerGrant per cluster and consumer

Per size: N CAPI Clusters (5.5 KB certificate kubeconfigs) x C consumer namespaces, plus N
ClusterProfiles reading those kubeconfigs through ``kubeconfig-secretreader``: N*C push
Secrets + N Sveltos Secrets + N SveltosClusters. The inventory is written into namespaces of
its own, and the stack reads only those (its consumer label is the size's own), so the
cluster may hold other things.

First the floor: the project's concurrent server-side applier (tools/go/applier, client-go,
8 connections, no client-side rate limit) applies exactly the objects `render` prints
(create), again as a dry run, then deletes them. Then the program, through the commands users
run (plain `pulumi` in a project directory, with the PULUMI_SKIP_CHECKPOINTS=true the program
asks for at this size; `--entry driver` for `python -m inventory deploy`), in this order: cold
preview, cold up, no-op preview, no-op up, rotate 10% of the CAPI kubeconfigs then up,
remove 10% of the clusters then up, destroy. For each: wall time, ratio to the floor, peak
RSS and CPU seconds of every process (python, pulumi, the provider), API requests by verb
(the API server's own apiserver_request_total) and the size of the state file.

Then the Pulumi floor (bench/pulumi_floor.py: the shortest Pulumi program declaring the same
rendered objects, one pulumi-kubernetes resource each, credentials as secrets, the same provider
settings) runs the same steps on the same inventory with plain `pulumi`, so every step shows
its ratio to both floors. `--no-pulumi-floor` skips it.

`--cluster-manager` deploys the fleet with feature E on (bench/fleet.py's cluster-manager variant):
no hand-written ClusterProfiles; the CAPI Clusters (v1beta2) carry healthy status conditions, and the
stack, with `clusterProfileMode: direct` and `requireHealthyControlPlane: true`, publishes a
ClusterProfile per Cluster (spec through pulumi-kubernetes, status through the project's provider plugin)
that feature B reads in the same run: N*C push Secrets + N ClusterProfiles + N Sveltos Secrets +
N SveltosClusters. The API-server floor applies each rendered profile and then its status to the
status subresource (tools/go/applier does so for every object with a `status`); the Pulumi floor
declares the profile's metadata and spec only, since a status has no pulumi-kubernetes form.

`--shards N` runs N shard stacks (shardCount N) one after the other instead of one stack: cold
up, no-op preview, no-op up and destroy of each, each one's time and peak RSS, and the wall time
a CI matrix of N runners would take (the slowest shard of each step). Then each shard's Pulumi
floor (that shard's rendered objects in the plain program, a stack of its own) runs the same steps,
so every shard's figure shows its ratio to both floors (`--no-pulumi-floor` skips it).

`--grants` (`make bench-deploy GRANTS=1 [SIZE=N] [CONSUMERS=n] [WORKLOADS=W]`) runs the grants
scenario (docs/security.md, "Grants"): N CAPI Clusters spread over the test bed's W workload API
servers (default 2, started if they are not running), stack config `grants` for every consumer (a
ClusterRole of its own, 24-hour tokens) and a 30-minute schedule, so each (Cluster, consumer) pair
is a ConsumerGrant of the project's provider with its own ServiceAccount and token, beside N*C push
Secrets. Steps: cold preview, cold up, no-op preview, no-op up, destroy. The API server's floor adds
to the management cluster's applier what the grants need on the workload servers: their
ServiceAccount, ClusterRole and binding (an applier per server, the same objects once per grant) and,
for `apply`, one TokenRequest per grant. The Pulumi floor declares the rendered push Secrets only
(pulumi-kubernetes has no TokenRequest, and a Provider per workload cluster is the design the grants
replace), so a step's excess over it, per grant, is what a grant costs. TokenRequests are counted by
the workload API servers themselves (apiserver_request_total, serviceaccounts/token), and the peak
RSS is shown for the pulumi CLI, the language host, the program, the project's provider plugin and
the kubernetes provider.

Results: a table on stdout and JSON in bench/results/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.fleet import (
    GRANT_TOKEN_LIFETIME_S,
    Fleet,
    applier,
    delete_namespaces,
    descendants,
    fleet_workload_servers,
    grant_floor_objects,
    inventory_manifests,
    kubeconfig_secret,
    removed_clusters,
)
from tests.integration.controlplane import KUBECONFIG, tools_env
from tests.integration.workloads import WorkloadServer, workload_servers

RESULTS = REPO / "bench" / "results"
SIZES = (200, 1_000)
CONSUMERS = 3
GRANT_WORKLOADS = 2  # --grants: the test bed's workload API servers the Clusters are spread over
PASSPHRASE = "cluster-inventory-bench-only"  # protects nothing: a throw-away stack in a temp dir
STACK = "bench"
SAMPLE_INTERVAL_S = 0.1
# The processes whose peak RSS and CPU the table shows, by the name the kernel gives them.
PROCESS_GROUPS = {
    "python": "python",
    "pulumi": "pulumi",
    # The kernel cuts a command's name to 15 characters: pulumi-resource-kubernetes.
    "pulumi-resource": "provider",
    "pulumi-language": "language host",
}

def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- measuring


# The key request_counts gives TokenRequests (a create of serviceaccounts/token; also counted under its verb).
TOKEN_REQUESTS = "TokenRequest"


def request_counts(kubeconfig: Path = KUBECONFIG) -> Counter[str]:
    """apiserver_request_total summed by verb, resource requests only, and TokenRequests."""
    from kubernetes import config

    api = config.new_client_from_config(str(kubeconfig))
    try:
        response = api.call_api("GET", f"{api.configuration.host}/metrics")
        text = response.read().decode()
    finally:
        api.close()
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if labels.get("resource"):
            counts[labels["verb"]] += int(float(line.rsplit(" ", 1)[1]))
            if labels["resource"] == "serviceaccounts" and labels.get("subresource") == "token":
                counts[TOKEN_REQUESTS] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def workload_request_counts(fleet: Fleet) -> Counter[str]:
    """request_counts summed over the grants variant's workload API servers."""
    counts: Counter[str] = Counter()
    for server in fleet_workload_servers(fleet):
        counts.update(request_counts(server.kubeconfig_path))
    return counts


# The project's own provider plugin (provider/pulumi-resource-cluster-inventory) is a Python process.
OWN_PROVIDER_MODULE = b"inventory.stack.status_provider"


def _group(comm: str, pid: int) -> str | None:
    if comm.startswith("python"):
        try:
            if OWN_PROVIDER_MODULE in Path(f"/proc/{pid}/cmdline").read_bytes():
                return "own provider"
        except OSError:
            return None
    for prefix, group in PROCESS_GROUPS.items():
        if comm == prefix:
            return group
    return "python" if comm.startswith("python") else None


@dataclass
class ProcessTree:
    """Samples a process and its descendants: peak RSS and CPU seconds per process group."""

    root: int
    peak_rss: dict[str, int] = field(default_factory=dict)
    cpu: dict[int, tuple[str, float]] = field(default_factory=dict)

    def sample(self) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        for pid in descendants(self.root):
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                status = Path(f"/proc/{pid}/status").read_text()
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            group = _group(comm, pid)
            if group is None:
                continue
            rss = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            self.peak_rss[group] = max(self.peak_rss.get(group, 0), rss)
            self.cpu[pid] = (group, (int(stat[11]) + int(stat[12])) / ticks)

    def cpu_seconds(self) -> dict[str, float]:
        totals: Counter[str] = Counter()
        for group, seconds in self.cpu.values():
            totals[group] += seconds
        return dict(totals)


@dataclass
class Step:
    name: str
    seconds: float
    floor: str | None = None
    ratio: float | None = None
    peak_rss: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    state_bytes: int | None = None
    changes: str = ""
    pulumi_floor: float | None = None  # the Pulumi floor's time for the same step
    load: float | None = None  # the machine's 1-minute load average when the step ended
    workload_requests: dict[str, int] = field(default_factory=dict)  # grants: on the workload API servers


# The Pulumi floor's project: the same language host and virtualenv as the program.
FLOOR_PROJECT = """name: pulumi-floor
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: .venv
"""

# How users run it: plain `pulumi` in the project directory (through the project's language
# host; PULUMI_SKIP_CHECKPOINTS=true, which the program demands of a stack this large in a
# self-managed backend, and --skip-preview as automation runs `up`), or the driver.
ENTRIES = ("pulumi", "driver")


class Bench:
    def __init__(self, fleet: Fleet, workdir: Path, entry: str, stack: str = STACK,
                 config: dict[str, Any] | None = None) -> None:
        self.fleet, self.workdir, self.entry, self.stack = fleet, workdir, entry, stack
        self.config = dict(config or {})  # stack config on top of the fleet's (a shard's count and index)
        self.steps: list[Step] = []
        self.floor: dict[str, float] = {}
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = {**tools_env(), "PULUMI_BACKEND_URL": f"file://{workdir / 'state'}",
                    "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
        (workdir / "state").mkdir(exist_ok=True)
        if entry in ("pulumi", "floor"):
            self.env["PULUMI_SKIP_CHECKPOINTS"] = "true"
            (workdir / ".venv").symlink_to(REPO / ".venv")
        if entry == "floor":
            (workdir / "Pulumi.yaml").write_text(FLOOR_PROJECT)
            shutil.copy(REPO / "bench" / "pulumi_floor.py", workdir / "__main__.py")
            self.env["BENCH_FLOOR_INPUT"] = str(workdir / "objects.json")
            return
        shutil.copy(REPO / "Pulumi.yaml", workdir / "Pulumi.yaml")
        (workdir / "provider").symlink_to(REPO / "provider")  # Pulumi.yaml's plugins.providers path
        if entry == "pulumi":
            for name in ("__main__.py", "inventory"):
                (workdir / name).symlink_to(REPO / name)
        (workdir / "stacks").mkdir(exist_ok=True)
        import yaml

        # The bench measures stacks of any size, past the memory budget too (docs/sizing.md, Memory),
        # unless --default-memory-budget keeps the guard as a user gets it.
        config = {**fleet.stack_config(), **({} if DEFAULT_MEMORY_BUDGET else
                                              {"cluster-inventory:allowOverMemoryBudget": True}), **(config or {})}
        (workdir / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))

    def init(self) -> None:
        if self.entry != "driver":
            subprocess.run(["pulumi", "stack", "init", self.stack, "--secrets-provider", "passphrase",
                            "--cwd", str(self.workdir)], env=self.env, check=True, capture_output=True)

    def declare(self, objects: list[dict[str, Any]]) -> None:
        """The objects the Pulumi floor declares (entry "floor" only)."""
        from inventory.settings import Settings
        from inventory.sources import cluster_identity

        values = {key.split(":", 1)[1]: value for key, value in self.fleet.stack_config().items()}
        given = {"kubeconfig": str(KUBECONFIG), "clusterIdentifier": cluster_identity(Settings.from_mapping(values)),
                 "objects": objects}
        (self.workdir / "objects.json").write_text(json.dumps(given))

    def state_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.workdir / "state").rglob(f"{self.stack}.json"))

    def command(self, action: str) -> list[str]:
        if self.entry == "driver":
            return [sys.executable, "-m", "inventory", "deploy", action, "--stack", self.stack,
                    "--cwd", str(self.workdir)]
        flags = {"preview": [], "up": ["--yes", "--skip-preview"], "destroy": ["--yes", "--skip-preview"]}[action]
        return ["pulumi", action, "--stack", self.stack, "--cwd", str(self.workdir), "--non-interactive", *flags]

    def deploy(self, name: str, action: str, floor: str | None = None, env: dict[str, str] | None = None) -> Step:
        command = self.command(action)
        before, workload_before = request_counts(), workload_request_counts(self.fleet)
        log(f"{self.fleet.clusters} clusters, {self.entry} {self.stack}: {name} ...")
        start = time.perf_counter()
        output = self.workdir / f"{name.replace(' ', '-')}.log"
        with output.open("w") as sink:
            process = subprocess.Popen(command, cwd=REPO, env={**self.env, **(env or {})}, stdout=sink,
                                       stderr=subprocess.STDOUT)
            tree = ProcessTree(process.pid)
            last_report = start
            while process.poll() is None:
                tree.sample()
                time.sleep(SAMPLE_INTERVAL_S)
                if time.perf_counter() - last_report > 15:
                    last_report = time.perf_counter()
                    rss = ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sorted(tree.peak_rss.items()))
                    log(f"  ... {last_report - start:.0f} s, peak RSS so far: {rss}")
        seconds = time.perf_counter() - start
        if process.returncode != 0:
            tail = output.read_text().splitlines()[-15:]
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n" + "\n".join(tail))
        after, workload_after = request_counts(), workload_request_counts(self.fleet)
        step = Step(name, seconds, floor=floor, peak_rss=tree.peak_rss, cpu=tree.cpu_seconds(),
                    requests={verb: after[verb] - before[verb] for verb in after if after[verb] - before[verb]},
                    state_bytes=self.state_bytes(), changes=_summary(output.read_text()), load=os.getloadavg()[0],
                    workload_requests={verb: workload_after[verb] - workload_before[verb] for verb in workload_after
                                       if workload_after[verb] - workload_before[verb]})
        if floor:
            step.ratio = seconds / self.floor[floor]
        self.steps.append(step)
        log(f"  {name}: {seconds:.1f} s{_ratio_text(step)} ({step.changes or 'no summary'}); "
            + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sorted(step.peak_rss.items())))
        return step

    def floor_step(self, mode: str, manifests: list[dict[str, Any]]) -> None:
        before = request_counts()
        result = applier(mode, manifests)
        after = request_counts()
        self.floor[mode] = result["seconds"]
        self.steps.append(Step(f"floor: {mode}", result["seconds"], load=os.getloadavg()[0],
                               requests={v: after[v] - before[v] for v in after if after[v] - before[v]}))
        log(f"{self.fleet.clusters} clusters: floor {mode} of {result['objects']} objects: {result['seconds']:.2f} s")


def _ratio_text(step: Step) -> str:
    return f" = {step.ratio:.1f}x floor {step.floor}" if step.ratio else ""


def _summary(output: str) -> str:
    """The CLI's resource summary, e.g. '+ 5000 to create'."""
    lines = [line.strip() for line in output.splitlines()
             if re.match(r"^\s*[-+~]*\s*\d+ (to |)(create|update|delete|replace|unchanged|created|updated|deleted|"
                         r"replaced)", line)]
    return "; ".join(lines)


def rendered_objects(fleet: Fleet, expected: int | None = None,
                     config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Exactly what `render` prints for the bench stack's config (and ``config`` on top: a shard's
    shardCount and shardIndex, whose object count is not checked), credentials included."""
    from inventory.pipeline import compute_plan
    from inventory.settings import Settings

    values = {key.split(":", 1)[1]: value for key, value in {**fleet.stack_config(), **(config or {})}.items()}
    plan = compute_plan(Settings.from_mapping(values), datetime.now(UTC))
    expected = fleet.objects if expected is None else expected
    if config is None and len(plan.objects) != expected:
        raise SystemExit(f"the plan has {len(plan.objects)} objects, expected {expected}: "
                         + "; ".join(str(d) for d in plan.diagnostics[:3]))
    return [obj.manifest(show_secrets=True) for obj in plan.objects]


PARALLEL_DIFF = {"PULUMI_PARALLEL_DIFF": "true"}


def write_inventory(fleet: Fleet) -> None:
    namespaces, inventory = inventory_manifests(fleet)
    start = time.perf_counter()
    applier("apply", namespaces)
    applier("apply", inventory)
    log(f"inventory of {len(inventory)} objects written in {time.perf_counter() - start:.1f} s")


def floors(bench: Bench, fleet: Fleet) -> None:
    rendered = rendered_objects(fleet)
    bench.floor_step("apply", rendered)
    bench.floor_step("dry-run", rendered)
    bench.floor_step("delete", rendered)


def run_sequence(bench: Bench, fleet: Fleet, parallel_diff: bool = False,
                 declare: Callable[[int], None] | None = None) -> None:
    """Cold preview, cold up, no-op preview and up, rotate 10% + up, remove 10% + up, destroy.
    ``declare(expected objects)`` re-renders what the Pulumi floor declares after each inventory change."""
    if declare:
        declare(fleet.objects)
    bench.deploy("cold preview", "preview", floor="dry-run")
    bench.deploy("cold up", "up", floor="apply")
    bench.deploy("no-op preview", "preview", floor="dry-run")
    bench.deploy("no-op up", "up", floor="dry-run")
    if parallel_diff:
        bench.deploy("no-op preview, parallel diff", "preview", floor="dry-run", env=PARALLEL_DIFF)
        bench.deploy("no-op up, parallel diff", "up", floor="dry-run", env=PARALLEL_DIFF)
    rotated = [kubeconfig_secret(fleet, i, generation=1) for i in range(0, fleet.clusters, 10)]
    applier("apply", rotated)
    if declare:
        declare(fleet.objects)
    bench.deploy("rotate 10% + up", "up", floor="apply")
    removed = removed_clusters(fleet)
    applier("delete", removed)
    if declare:
        declare(fleet.objects_after_removal)
    bench.deploy("remove 10% + up", "up", floor="delete")
    bench.deploy("destroy", "destroy", floor="delete")


def run_fleet(fleet: Fleet, entry: str, pulumi_floor: bool = True, parallel_diff: bool = False) -> list[Step]:
    log(f"== {fleet.describe()} ==")
    delete_namespaces(fleet)  # leftovers of an interrupted run
    write_inventory(fleet)
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        bench = Bench(fleet, Path(tmp) / "program", entry)
        bench.init()
        floors(bench, fleet)
        run_sequence(bench, fleet, parallel_diff)
        steps = bench.steps
        if pulumi_floor:
            # The same inventory again (the sequence rotated and removed some), then the same steps.
            write_inventory(fleet)
            floor = Bench(fleet, Path(tmp) / "floor", "floor")
            floor.floor = bench.floor
            floor.init()
            run_sequence(floor, fleet, declare=lambda expected: floor.declare(rendered_objects(fleet, expected)))
            by_name = {step.name: step for step in floor.steps}
            for step in steps:
                if step.name.split(",")[0] in by_name:
                    step.pulumi_floor = by_name[step.name.split(",")[0]].seconds
            steps = [*steps, *(replace(step, name=f"Pulumi floor: {step.name}") for step in floor.steps)]
    delete_namespaces(fleet)
    return steps


# The grants scenario's steps: (name, action, the API server's floor it is set beside).
GRANT_STEPS = (("cold preview", "preview", "dry-run"), ("cold up", "up", "apply"),
               ("no-op preview", "preview", "dry-run"), ("no-op up", "up", "dry-run"), ("destroy", "destroy", "delete"))
GRANT_ACCOUNT_NAMESPACE = "cluster-inventory-grants"  # grantServiceAccountNamespace's default
FLOOR_WORKERS = 8  # the applier's connections (tools/go/applier), per API server


def mint_floor_tokens(fleet: Fleet, servers: Sequence[WorkloadServer]) -> float:
    """One TokenRequest per grant (24-hour tokens, as the grants ask), FLOOR_WORKERS at a time on
    each workload server; the wall time. The response is not parsed (the floor keeps no token)."""
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import client

    apis = [client.CoreV1Api(server.api()) for server in servers]
    for api in apis:
        api.api_client.configuration.connection_pool_maxsize = FLOOR_WORKERS
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": GRANT_TOKEN_LIFETIME_S}}
    jobs = [(apis[i % len(apis)], f"{fleet.prefix}-consumer-{c}")
            for i in range(fleet.clusters) for c in range(fleet.consumers)]

    def mint(job: tuple[Any, str]) -> None:
        job[0].create_namespaced_service_account_token(job[1], GRANT_ACCOUNT_NAMESPACE, body, _preload_content=False)

    start = time.perf_counter()
    with ThreadPoolExecutor(FLOOR_WORKERS * len(apis)) as pool:
        list(pool.map(mint, jobs))
    return time.perf_counter() - start


def grant_floors(bench: Bench, fleet: Fleet) -> None:
    """The API server's floor of the grants scenario, per mode: the management cluster's part (the
    applier on the rendered push Secrets, as for every fleet), then on the workload API servers at
    once (an applier each) what every grant writes there (its ServiceAccount, ClusterRole and
    binding: the same objects, once per grant, as the grants apply them), then for `apply` one
    TokenRequest per grant. The floor is the sum of the three phases."""
    from concurrent.futures import ThreadPoolExecutor

    rendered = rendered_objects(fleet)
    servers = fleet_workload_servers(fleet)
    per_server = [grant_floor_objects(fleet, index) for index in range(len(servers))]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": GRANT_ACCOUNT_NAMESPACE}}
    for server in servers:
        applier("apply", [namespace], server.kubeconfig_path)
    for mode in ("apply", "dry-run", "delete"):
        bench.floor_step(mode, rendered)
        bench.steps[-1].name = f"floor: {mode}, management cluster"
        management = bench.floor[mode]
        before = workload_request_counts(fleet)
        with ThreadPoolExecutor(len(servers)) as pool:
            futures = [pool.submit(applier, mode, objects, server.kubeconfig_path)
                       for server, objects in zip(servers, per_server, strict=True)]
            results = [future.result() for future in futures]
        workload = max(result["seconds"] for result in results)
        tokens = mint_floor_tokens(fleet, servers) if mode == "apply" else 0.0
        after = workload_request_counts(fleet)
        bench.floor[mode] = management + workload + tokens
        bench.steps.append(Step(f"floor: {mode}, workload servers", workload + tokens, load=os.getloadavg()[0],
                                workload_requests={v: after[v] - before[v] for v in after if after[v] - before[v]},
                                changes=f"objects {workload:.2f} s" + (f", tokens {tokens:.2f} s" if tokens else "")))
        bench.steps.append(Step(f"floor: {mode}, total", bench.floor[mode]))
        log(f"{fleet.clusters} clusters: grants floor {mode}: workload objects {workload:.2f} s"
            + (f", {fleet.grants} TokenRequests {tokens:.2f} s" if tokens else "") + f"; total {bench.floor[mode]:.2f} s")


def run_grants(fleet: Fleet, entry: str, pulumi_floor: bool = True) -> list[Step]:
    """The grants scenario: the API server's floor, the program's GRANT_STEPS, then the Pulumi floor's.
    The Pulumi floor declares the rendered push Secrets (what pulumi-kubernetes can express: it has
    no TokenRequest, and a Provider per workload cluster is the design docs/security.md rules out),
    so a step's excess over it is what its grants cost."""
    log(f"== {fleet.describe()} ==")
    delete_namespaces(fleet)
    write_inventory(fleet)
    with tempfile.TemporaryDirectory(prefix="bench-grants-") as tmp:
        bench = Bench(fleet, Path(tmp) / "program", entry)
        bench.init()
        grant_floors(bench, fleet)
        for name, action, floor in GRANT_STEPS:
            bench.deploy(name, action, floor=floor)
        steps = bench.steps
        if pulumi_floor:
            floor_bench = Bench(fleet, Path(tmp) / "floor", "floor")
            floor_bench.floor = bench.floor
            floor_bench.init()
            floor_bench.declare(rendered_objects(fleet))
            for name, action, floor in GRANT_STEPS:
                floor_bench.deploy(name, action, floor=floor)
            by_name = {step.name: step.seconds for step in floor_bench.steps}
            for step in steps:
                step.pulumi_floor = by_name.get(step.name) if not step.name.startswith("floor") else None
            steps = [*steps, *(replace(step, name=f"Pulumi floor: {step.name}") for step in floor_bench.steps)]
    delete_namespaces(fleet)
    return steps


# --default-memory-budget: the stacks keep the memory guard (memoryBudgetMib's default, no override).
DEFAULT_MEMORY_BUDGET = False

SHARD_STEPS = (("cold up", "up", "apply"), ("no-op preview", "preview", "dry-run"), ("no-op up", "up", "dry-run"),
               ("destroy", "destroy", "delete"))


def run_shards(fleet: Fleet, entry: str, shards: int, parallel_diff: bool = False,
               pulumi_floor: bool = True) -> list[Step]:
    """The N shard stacks one after the other, step by step; then what a matrix of N runners takes."""
    log(f"== {fleet.objects} objects as {shards} shard stacks ==")
    delete_namespaces(fleet)
    write_inventory(fleet)
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        benches = [Bench(fleet, Path(tmp) / f"shard-{i}", entry, stack=f"{STACK}-{i}",
                         config={"cluster-inventory:shardCount": shards, "cluster-inventory:shardIndex": i})
                   for i in range(shards)]
        floors(benches[0], fleet)
        steps: list[Step] = list(benches[0].steps)
        plan = [*SHARD_STEPS[:3],
                *((f"{name}, parallel diff", action, floor) for name, action, floor in SHARD_STEPS[1:3]
                  if parallel_diff), SHARD_STEPS[3]]
        for bench in benches:
            bench.floor = benches[0].floor
            bench.init()
        for name, action, floor in plan:
            taken = [bench.deploy(name, action, floor=floor, env=PARALLEL_DIFF if "parallel" in name else None)
                     for bench in benches]
            for index, step in enumerate(taken):
                steps.append(replace(step, name=f"shard {index}: {name}"))
            slowest = max(taken, key=lambda step: step.seconds)
            peaks = {g: max(step.peak_rss.get(g, 0) for step in taken) for g in slowest.peak_rss}
            steps.append(replace(slowest, name=f"matrix of {shards}: {name}", peak_rss=peaks, cpu={}, requests={},
                                 changes=f"serial {sum(step.seconds for step in taken):.1f} s"))
        if pulumi_floor:
            steps = shard_pulumi_floor(fleet, benches, steps, Path(tmp))
    delete_namespaces(fleet)
    return steps


def shard_pulumi_floor(fleet: Fleet, benches: Sequence[Bench], steps: list[Step], tmp: Path) -> list[Step]:
    """The Pulumi floor of each shard: the shortest Pulumi program declaring exactly that shard's
    rendered objects, in a stack of its own, through the same steps; each shard's step (and the
    matrix's) gets its ratio to it."""
    floors_ = []
    for index, bench in enumerate(benches):
        floor = Bench(fleet, tmp / f"floor-{index}", "floor", stack=f"floor-{index}")
        floor.floor = bench.floor
        floor.init()
        floor.declare(rendered_objects(fleet, config=bench.config))
        floors_.append(floor)
    by_name: dict[str, float] = {}
    for name, action, kind in SHARD_STEPS:
        taken = [floor.deploy(name, action, floor=kind) for floor in floors_]
        for index, step in enumerate(taken):
            by_name[f"shard {index}: {name}"] = step.seconds
        by_name[f"matrix of {len(benches)}: {name}"] = max(step.seconds for step in taken)
    for step in steps:
        step.pulumi_floor = by_name.get(step.name.split(",")[0])
    return [*steps, *(replace(step, name=f"Pulumi floor: shard {index}: {step.name}")
                      for index, floor in enumerate(floors_) for step in floor.steps)]


def grants_table(fleet: Fleet, steps: Sequence[Step]) -> Iterator[str]:
    """The grants scenario's table: both floors, the cost per grant over the Pulumi floor, the
    TokenRequests the workload API servers counted, and the peak RSS of every process."""
    groups = ("pulumi", "language host", "python", "own provider", "provider")
    yield f"\n{fleet.describe()}\n"
    yield ("| step | wall s | x API floor | x Pulumi floor | ms per grant over Pulumi floor | TokenRequests "
           "| workload API requests | peak RSS MiB pulumi / language host / program / own provider / "
           "kubernetes provider | management API requests | state MB | load |")
    yield "|---|---|---|---|---|---|---|---|---|---|---|"
    for step in steps:
        rss = " / ".join(f"{step.peak_rss[g] / 2**20:.0f}" if g in step.peak_rss else "-" for g in groups)
        ratio = f"{step.ratio:.1f}" if step.ratio else "-"
        pulumi_ratio = f"{step.seconds / step.pulumi_floor:.2f}" if step.pulumi_floor else "-"
        # None where the Pulumi floor is the slower (its destroy waits for the garbage collector).
        per_grant = (f"{(step.seconds - step.pulumi_floor) * 1000 / fleet.grants:.1f}"
                     if step.pulumi_floor and fleet.grants and step.seconds > step.pulumi_floor else "-")
        tokens = str(step.workload_requests.get(TOKEN_REQUESTS, 0)) if not step.name.startswith("floor: ") or \
            "workload" in step.name else "-"
        workload = ", ".join(f"{verb} {n}" for verb, n in sorted(step.workload_requests.items())
                             if verb != TOKEN_REQUESTS)
        requests = ", ".join(f"{verb} {n}" for verb, n in sorted(step.requests.items()) if verb != TOKEN_REQUESTS)
        state = f"{step.state_bytes / 1e6:.1f}" if step.state_bytes is not None else "-"
        load = f"{step.load:.1f}" if step.load is not None else "-"
        yield (f"| {step.name} | {step.seconds:.1f} | {ratio} | {pulumi_ratio} | {per_grant} | {tokens} "
               f"| {workload}{f' ({step.changes})' if step.name.startswith('floor: ') and step.changes else ''} | {rss} | {requests} | {state} | {load} |")


def table(fleet: Fleet, steps: Sequence[Step]) -> Iterator[str]:
    # The project's provider plugin (feature E's statuses) has a column when it ran.
    own = ("own provider",) if any("own provider" in step.peak_rss for step in steps) else ()
    groups = ("python", "pulumi", "provider", *own)
    names = " / ".join(groups)
    yield f"\n{fleet.describe()}\n"
    yield (f"| step | wall s | x API floor | x Pulumi floor | peak RSS MiB {names} "
           f"| CPU s {names} | API requests | state MB | load |")
    yield "|---|---|---|---|---|---|---|---|---|"
    for step in steps:
        rss = " / ".join(f"{step.peak_rss[g] / 2**20:.0f}" if g in step.peak_rss else "-" for g in groups)
        cpu = " / ".join(f"{step.cpu[g]:.1f}" if g in step.cpu else "-" for g in groups)
        requests = ", ".join(f"{verb} {n}" for verb, n in sorted(step.requests.items()))
        state = f"{step.state_bytes / 1e6:.1f}" if step.state_bytes is not None else "-"
        ratio = f"{step.ratio:.1f}" if step.ratio else "-"
        pulumi_ratio = f"{step.seconds / step.pulumi_floor:.2f}" if step.pulumi_floor else "-"
        requests = requests or step.changes if step.name.startswith("matrix") else requests
        load = f"{step.load:.1f}" if step.load is not None else "-"
        yield (f"| {step.name} | {step.seconds:.1f} | {ratio} | {pulumi_ratio} | {rss} | {cpu} | {requests} "
               f"| {state} | {load} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, action="append", help="CAPI Clusters (repeatable); default 200 and 1000")
    parser.add_argument("--consumers", type=int, default=CONSUMERS, help="consumer namespaces (default 3)")
    parser.add_argument("--entry", choices=ENTRIES, default="pulumi",
                        help="plain `pulumi` (default) or `python -m inventory deploy`")
    parser.add_argument("--shards", type=int, default=1, metavar="N",
                        help="run N shard stacks one after the other instead of one stack")
    parser.add_argument("--parallel-diff", action="store_true",
                        help="also run the no-op preview and up with PULUMI_PARALLEL_DIFF=true")
    parser.add_argument("--cluster-manager", action="store_true",
                        help="feature E on: the stack publishes the ClusterProfiles (no hand-written ones)")
    parser.add_argument("--default-memory-budget", action="store_true",
                        help="keep the memory guard as users get it (otherwise the bench allows any stack size)")
    parser.add_argument("--no-pulumi-floor", action="store_true", help="skip the Pulumi floor's steps")
    parser.add_argument("--grants", action="store_true",
                        help="the grants scenario: Clusters on the test bed's workload API servers, a ConsumerGrant "
                             "per (Cluster, consumer)")
    parser.add_argument("--workloads", type=int, default=GRANT_WORKLOADS, metavar="W",
                        help=f"--grants: workload API servers the Clusters are spread over (default {GRANT_WORKLOADS})")
    args = parser.parse_args()
    if args.grants and (args.cluster_manager or args.shards > 1 or args.parallel_diff or args.entry != "pulumi"):
        parser.error("--grants runs one stack through plain `pulumi`: no --cluster-manager, --shards, "
                     "--parallel-diff or --entry")
    global DEFAULT_MEMORY_BUDGET
    DEFAULT_MEMORY_BUDGET = args.default_memory_budget
    if not KUBECONFIG.exists():
        raise SystemExit("no local control plane: run `make cluster-up` first (make bench-deploy does)")
    random.seed(4322)
    if args.grants:
        workload_servers(args.workloads)  # starts the ones that are not running
    results = []
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [(f"bench-deploy {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {memory_gib:.0f} GiB, "
             f"entry: {args.entry}" + (f", {args.shards} shards" if args.shards > 1 else "")
             + (", feature E (clusterProfileMode: direct)" if args.cluster_manager else "")
             + (f", grants over {args.workloads} workload API servers" if args.grants else "")
             + ", load average {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg()))]
    for size in args.size or SIZES:
        fleet = Fleet(size, args.consumers, cluster_manager=args.cluster_manager,
                      workloads=args.workloads if args.grants else 0)
        if args.grants:
            steps = run_grants(fleet, args.entry, not args.no_pulumi_floor)
        elif args.shards > 1:
            steps = run_shards(fleet, args.entry, args.shards, args.parallel_diff, not args.no_pulumi_floor)
        else:
            steps = run_fleet(fleet, args.entry, not args.no_pulumi_floor, args.parallel_diff)
        lines.extend(grants_table(fleet, steps) if args.grants else table(fleet, steps))
        results.append({"clusters": size, "consumers": args.consumers, "objects": fleet.objects, "shards": args.shards,
                        "clusterManager": args.cluster_manager, "grants": fleet.grants, "workloads": fleet.workloads,
                        "steps": [step.__dict__ for step in steps]})
    lines.append("load average at the end: {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg()))
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"deploy-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2))
    log(f"results: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
