"""Sveltos' own library reaches a workload cluster with what this program writes for it.

The consumer is libsveltos v1.5.0's ``lib/clusterproxy`` (tools/go/sveltos/sveltos-consumer, built
by tools/build-go-helper.sh from the pinned Sveltos module set): given a SveltosCluster, it finds
the kubeconfig Secret the way Sveltos' controllers do (``spec.kubeconfigName`` and
``spec.kubeconfigKeyName``) and builds a rest.Config from it. The workload cluster is a real API
server of the test bed (tests/integration/workloads.py), separate from the management cluster.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import yaml

from tests.integration.consumers import RUN_TIMEOUT_SECONDS, build
from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import SVELTOS, Inventory, secret_reader_provider
from tests.integration.project import ProjectStack
from tests.integration.workloads import WorkloadServer


def _reach(consumer: Path, control_plane: ControlPlane, namespace: str, name: str, *checks: str) -> dict[str, object]:
    argv = [str(consumer), "-kubeconfig", str(control_plane.kubeconfig), "-namespace", namespace, "-name", name]
    for check in checks:
        argv += ["-can", check]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False)
    assert done.returncode == 0, f"sveltos-consumer: {done.stdout} {done.stderr}"
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_libsveltos_clusterproxy_reaches_the_workload_cluster_through_the_sveltos_secret(
        control_plane: ControlPlane, workloads: list[WorkloadServer], tmp_path: Path) -> None:
    consumer = build("sveltos-consumer")
    run_id = uuid.uuid4().hex[:6]
    fleet = f"fleet-{run_id}"
    inv = Inventory(control_plane.api)
    inv.namespace(fleet)
    first, second = workloads
    # The Secret a ClusterProfile's kubeconfig-secretreader entry names: workload-1's admin
    # kubeconfig as Cluster API writes it (key "value").
    inv.secret(fleet, "w1-kubeconfig", {"value": first.admin_kubeconfig("w1")})
    inv.cluster_profile(fleet, "w1", [secret_reader_provider(first.server, "w1-kubeconfig", "value")])
    stack = ProjectStack(tmp_path / "project")
    stack.configure(kubeconfig=str(control_plane.kubeconfig), profileNamespaces=[fleet], capiNamespaces=[],
                    consumerNamespaceLabel=f"consumer-{run_id}", managedByValue=f"ci-{run_id}",
                    scheduleIntervalMinutes=0)
    try:
        up = stack.up()
        assert inv.custom_object(SVELTOS, fleet, "w1")["spec"]["kubeconfigName"] == "w1-sveltos-kubeconfig"

        reached = _reach(consumer, control_plane, fleet, "w1", "create:pods:default", "delete:nodes")
        # workload-1 itself (not the management cluster, not workload-2), as its admin.
        assert reached["server"] == first.server != second.server
        assert reached["server"] != json.loads(control_plane.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        assert reached["username"] == "kubernetes-admin" and "system:masters" in reached["groups"]  # type: ignore[operator]
        assert reached["can"] == {"create:pods:default": True, "delete:nodes": True}

        # Nothing printed holds the credential.
        shown = "\n".join([json.dumps(reached), *stack.output, up.stdout])
        key_data = yaml.safe_load(first.admin_kubeconfig("w1"))["users"][0]["user"]["client-key-data"]
        assert key_data not in shown and first.admin_key_pem.strip().splitlines()[1] not in shown
    finally:
        stack.destroy()
        control_plane.delete_namespace(fleet)
