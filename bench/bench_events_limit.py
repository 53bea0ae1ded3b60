"""How large a fleet events mode handles with the real Sveltos controllers (issue 10).

    python bench/bench_events_limit.py                          # make bench-events-limit
    python bench/bench_events_limit.py --clusters 100,200 --consumers 10 --timeout 3600

The default points (300 and 2,000 cluster x consumer pairs) take about 20 minutes: Sveltos
writes about 25 push Secrets a minute on two shared cores, and a point whose EventReport
cannot be written fails at once (then STALL_S passes before the bench gives up on it).

Needs the control plane with Sveltos (`make cluster-up SVELTOS=1`): event-manager and
addon-controller v1.5.0, and eventreporter in sveltos-agent's place.

Per point (N clusters x C consumer namespaces): N CAPI Clusters with realistic ~2.6 KiB
kubeconfigs (server, CA, token) in namespaces of their own, C consumer namespaces, then
`pulumi up` of the project with `pushMode: events` (real CLI, real provider). It then waits
until Sveltos has written every one of the N x C push Secrets with the source kubeconfig
byte for byte, and records: the time from `up` to the last Secret, the EventReport's size,
the count and the largest size of what event-manager and addon-controller create per target
(ClusterProfiles, ClusterSummaries, instantiated ConfigMaps), the size of addon-controller's
ClusterConfiguration of the management cluster, and on failure what failed
first (error lines of eventreporter, event-manager and addon-controller since the point
started). Then `pulumi destroy`, wait for Sveltos to withdraw, delete the namespaces.

Results: a table on stdout and JSON in bench/results/ (not committed).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from bench.fleet import applier
from tests.integration.controlplane import KUBECONFIG
from tests.integration.project import ProjectStack

RESULTS = REPO / "bench" / "results"
STATE = REPO / ".local" / "cluster.json"
# Where eventreporter (agent in the management cluster) writes the EventReports.
MGMT_NAMESPACE = "mgmt"
REPORT_NAMESPACE = "projectsveltos"
TRIGGER_LABEL = "eventtrigger.lib.projectsveltos.io/eventtriggername"
SVELTOS_LOGS = ("eventreporter", "event-manager", "addon-controller")
# Log lines worth showing when a point fails (controller-runtime JSON or klog text).
ERROR_LINE = re.compile(r'"level":"error"|"error"|too large|exceeds|Error|failed', re.IGNORECASE)
DEFAULT_CLUSTERS = "30,200"
DEFAULT_CONSUMERS = 10
# A point has failed when no further Secret arrived for this long (Sveltos writes them at
# a steady pace once it has started; a report that cannot be written writes none).
STALL_S = 180

# A CAPI-style kubeconfig with a server, CA and a service-account token: ~2.6 KiB of text,
# the size the report-size figures in docs/modes.md are quoted for.
KUBECONFIG_TEMPLATE = """apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: https://{name}.clusters.example:6443
    certificate-authority-data: {ca}
users:
- name: {name}-reader
  user:
    token: {token}
contexts:
- name: {name}
  context:
    cluster: {name}
    user: {name}-reader
current-context: {name}
"""


@dataclass
class Point:
    clusters: int
    consumers: int
    pairs: int = 0
    kubeconfig_bytes: int = 0
    up_s: float = 0.0
    converged: bool = False
    converge_s: float = 0.0
    secrets_written: int = 0
    secrets_matching: int = 0
    report_bytes: int = 0
    report_matching: int = 0
    cluster_profiles: int = 0
    cluster_profile_max_bytes: int = 0
    cluster_summaries: int = 0
    cluster_summary_max_bytes: int = 0
    instantiated_config_maps: int = 0
    instantiated_config_map_max_bytes: int = 0
    # addon-controller's one ClusterConfiguration per cluster lists every ClusterProfile
    # deployed to it (an ownerReference and a status entry each): the next object to grow.
    cluster_configuration_bytes: int = 0
    first_errors: dict[str, list[str]] = field(default_factory=dict)
    withdraw_s: float = 0.0


def _stored_bytes(obj: Any) -> int:
    """Size of ``obj`` as compact JSON, as the API server stores a custom resource in etcd
    (whose request limit, 1.5 MiB by default, is what an object outgrows first)."""
    return len(json.dumps(obj, separators=(",", ":")))


def _kubeconfig(name: str) -> str:
    ca = base64.b64encode(random.randbytes(1100)).decode()
    token = base64.b64encode(random.randbytes(620)).decode()
    return KUBECONFIG_TEMPLATE.format(name=name, ca=ca, token=token)


class Bench:
    def __init__(self, consumers: int, timeout: float) -> None:
        api = config.new_client_from_config(str(KUBECONFIG))
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.api = api
        self.consumers = consumers
        self.timeout = timeout
        self.data_dir = Path(json.loads(STATE.read_text())["data"])

    def run(self, clusters: int) -> Point:
        run_id = uuid.uuid4().hex[:5]
        point = Point(clusters, self.consumers, pairs=clusters * self.consumers)
        capi_ns, fleet_ns = f"evl-{run_id}-capi", f"evl-{run_id}-fleet"
        consumers = [f"evl-{run_id}-c{i}" for i in range(self.consumers)]
        consumer_label = f"bench.cluster-inventory.io/evl-{run_id}"
        managed = f"bench-{run_id}"
        prefix = f"evl-{run_id}"
        namespaces = [capi_ns, fleet_ns, *consumers]
        manifests, sources = self._inventory(capi_ns, consumers, consumer_label, clusters)
        point.kubeconfig_bytes = max(len(base64.b64decode(v)) for v in sources.values())
        applier("apply", [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                           for ns in namespaces if ns not in consumers])
        applier("apply", manifests)
        log_offsets = {name: self._log(name).stat().st_size for name in SVELTOS_LOGS}
        with tempfile.TemporaryDirectory(prefix="bench-events-limit-") as tmp:
            stack = ProjectStack(Path(tmp) / "project")
            stack.configure(kubeconfig=str(KUBECONFIG), capiNamespaces=[capi_ns], profileNamespaces=[fleet_ns],
                            consumerNamespaceLabel=consumer_label, managedByValue=managed,
                            # The routes the fleet needs (docs/security.md): its own consumers, and
                            # its Clusters' profiles in the default namespace.
                            consumerNamespaces=consumers, clusterPlacementRoutes={capi_ns: ["default"]},
                            eventsNamePrefix=prefix, eventsNamespace=fleet_ns, scheduleIntervalMinutes=0,
                            pushMode="events", sveltosMode="off")
            try:
                started = time.monotonic()
                stack.up()
                point.up_s = round(time.monotonic() - started, 1)
                self._wait_for_secrets(point, started, managed, sources, fleet_ns)
                self._measure_sveltos_objects(point, prefix)
                if not point.converged:
                    point.first_errors = self._errors(log_offsets)
            finally:
                started = time.monotonic()
                stack.destroy()
                self._wait(lambda: not self._secrets(managed), "Sveltos withdraws the push Secrets")
                point.withdraw_s = round(time.monotonic() - started, 1)
                self._delete_namespaces(namespaces)
        return point

    def _inventory(self, capi_ns: str, consumers: list[str], consumer_label: str,
                   clusters: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Manifests (consumer Namespaces, Clusters, kubeconfig Secrets) and, per Cluster
        name, the base64 kubeconfig its push Secrets must carry."""
        manifests: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {consumer_label: ""}}}
            for ns in consumers]
        sources: dict[str, str] = {}
        for i in range(clusters):
            name = f"cluster-{i:05d}"
            value = base64.b64encode(_kubeconfig(name).encode()).decode()
            sources[name] = value
            manifests.append({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
                              "metadata": {"name": name, "namespace": capi_ns,
                                           "labels": {"clusterprofile-name": name}}, "spec": {}})
            manifests.append({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                              "metadata": {"name": f"{name}-kubeconfig", "namespace": capi_ns,
                                           "labels": {"cluster.x-k8s.io/cluster-name": name}},
                              "data": {"value": value}})
        return manifests, sources

    def _secrets(self, managed: str) -> list[Any]:
        selector = f"app.kubernetes.io/managed-by={managed}"
        return list(self.core.list_secret_for_all_namespaces(label_selector=selector).items)

    def _wait_for_secrets(self, point: Point, started: float, managed: str, sources: dict[str, str],
                          fleet_ns: str) -> None:
        """Until every push Secret carries its cluster's kubeconfig, or no progress for
        STALL_S, or the timeout."""
        del fleet_ns
        best, best_at = -1, started
        while True:
            secrets = self._secrets(managed)
            matching = 0
            for secret in secrets:
                cluster = secret.metadata.labels.get("x-k8s.io/cluster-profile", "")
                if (secret.data or {}).get("config") == sources.get(cluster):
                    matching += 1
            point.secrets_written, point.secrets_matching = len(secrets), matching
            elapsed = time.monotonic() - started
            if matching == point.pairs:
                point.converged, point.converge_s = True, round(elapsed, 1)
                return
            if matching > best:
                best, best_at = matching, time.monotonic()
            if elapsed > self.timeout or time.monotonic() - best_at > STALL_S:
                point.converge_s = round(elapsed, 1)
                return
            time.sleep(2)

    def _measure_sveltos_objects(self, point: Point, prefix: str) -> None:
        name = f"sveltos--{prefix}-push--mgmt"
        try:
            report = self.custom.get_namespaced_custom_object("lib.projectsveltos.io", "v1beta1", MGMT_NAMESPACE,
                                                              "eventreports", name)
            point.report_bytes = _stored_bytes(report)
            point.report_matching = len(report.get("spec", {}).get("matchingResources") or [])
        except ApiException as err:
            if err.status != 404:
                raise
        selector = f"{TRIGGER_LABEL}={prefix}-push"
        profiles = self.custom.list_cluster_custom_object("config.projectsveltos.io", "v1beta1", "clusterprofiles",
                                                          label_selector=selector)["items"]
        point.cluster_profiles = len(profiles)
        point.cluster_profile_max_bytes = max((_stored_bytes(p) for p in profiles), default=0)
        names = {p["metadata"]["name"] for p in profiles}
        summaries = [s for s in self.custom.list_namespaced_custom_object(
            "config.projectsveltos.io", "v1beta1", MGMT_NAMESPACE, "clustersummaries")["items"]
            if any(o.get("name") in names for o in s["metadata"].get("ownerReferences") or [])]
        point.cluster_summaries = len(summaries)
        point.cluster_summary_max_bytes = max((_stored_bytes(s) for s in summaries), default=0)
        maps = self.core.list_namespaced_config_map(REPORT_NAMESPACE, label_selector=selector).items
        point.cluster_configuration_bytes = max((_stored_bytes(c) for c in self.custom.list_namespaced_custom_object(
            "config.projectsveltos.io", "v1beta1", MGMT_NAMESPACE, "clusterconfigurations")["items"]), default=0)
        point.instantiated_config_maps = len(maps)
        point.instantiated_config_map_max_bytes = max(
            (_stored_bytes(self.api.sanitize_for_serialization(m)) for m in maps), default=0)

    def _log(self, name: str) -> Path:
        return self.data_dir / f"{name}.log"

    def _errors(self, offsets: dict[str, int]) -> dict[str, list[str]]:
        """The first few error lines each Sveltos process logged since the point started."""
        found: dict[str, list[str]] = {}
        for name, offset in offsets.items():
            with self._log(name).open("rb") as handle:
                handle.seek(offset)
                lines = handle.read().decode(errors="replace").splitlines()
            errors = [line[:400] for line in lines if ERROR_LINE.search(line)]
            if errors:
                found[name] = errors[:3]
        return found

    def _wait(self, check: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not check():
            if time.monotonic() > deadline:
                print(f"[bench] warning: {what}: not after {self.timeout:.0f} s", file=sys.stderr)
                return
            time.sleep(2)

    def _delete_namespaces(self, namespaces: list[str]) -> None:
        for name in namespaces:
            try:
                self.core.delete_namespace(name)
            except ApiException as err:
                if err.status != 404:
                    raise


def _table(points: list[Point]) -> str:
    rows = [("clusters x consumers | pairs | converged | up s | to last Secret s | Secrets ok | report KiB "
             "| ClusterProfiles | ClusterSummaries | ConfigMaps | largest CP/CS/CM KiB | ClusterConfiguration KiB")]
    for p in points:
        rows.append(
            f"{p.clusters} x {p.consumers} | {p.pairs} | {'yes' if p.converged else 'NO'} | {p.up_s} | "
            f"{p.converge_s} | {p.secrets_matching}/{p.pairs} | {p.report_bytes / 1024:.0f} | "
            f"{p.cluster_profiles} | {p.cluster_summaries} | {p.instantiated_config_maps} | "
            f"{p.cluster_profile_max_bytes / 1024:.1f}/{p.cluster_summary_max_bytes / 1024:.1f}/"
            f"{p.instantiated_config_map_max_bytes / 1024:.1f} | {p.cluster_configuration_bytes / 1024:.0f}")
        for name, lines in p.first_errors.items():
            rows.extend(f"    {name}: {line}" for line in lines)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", default=DEFAULT_CLUSTERS, help="comma-separated cluster counts to try")
    parser.add_argument("--consumers", type=int, default=DEFAULT_CONSUMERS, help="consumer namespaces")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for Sveltos per point")
    args = parser.parse_args()
    if not STATE.exists():
        raise SystemExit("no local control plane: run `make cluster-up SVELTOS=1` first")
    # A stopped bench still destroys its stack and deletes its namespaces (the finally above).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("[bench] stopped"))
    bench = Bench(args.consumers, args.timeout)
    points = []
    for clusters in (int(c) for c in args.clusters.split(",")):
        print(f"[bench] {clusters} clusters x {args.consumers} consumers ...", flush=True)
        point = bench.run(clusters)
        points.append(point)
        print(_table([point]).splitlines()[-1 - sum(len(v) for v in point.first_errors.values())], flush=True)
    print(_table(points))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"events-limit-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps([asdict(p) for p in points], indent=2))
    print(f"[bench] results in {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
