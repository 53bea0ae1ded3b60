"""SPEC §8 with the real CLI: pointing a stack at a *different* management cluster is refused
until the config names that cluster, is then counted by the deletion cap as the replacement of
every object, and, allowed, moves the objects: deleted where they were, created in the new one.

The second cluster is a second kube-apiserver on the local etcd under its own key prefix: its
own kube-system namespace (so its own identity) and none of the first one's objects."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from pulumi import automation as auto

from tests.integration.controlplane import REPO, ControlPlane, api_server_process, tools_env
from tests.integration.inventory_objects import kubeconfig_text
from tests.integration.project import ProjectStack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(port: int, pki: Path) -> bool:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=context, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def second_cluster(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The kubeconfig of another cluster: the local kube-apiserver's command line with its own
    port and etcd prefix."""
    state = json.loads((REPO / ".local" / "cluster.json").read_text())
    _, argv = api_server_process()
    port = _free_port()
    argv = [f"--secure-port={port}" if a.startswith("--secure-port=") else a for a in argv]
    argv.append(f"--etcd-prefix=/second-{uuid.uuid4().hex[:6]}")
    workdir = tmp_path_factory.mktemp("second-cluster")
    log = (workdir / "kube-apiserver.log").open("wb")
    server = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True, env=tools_env())
    try:
        deadline = time.monotonic() + 90
        while not _ready(port, Path(state["pki"])):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the second kube-apiserver did not start: "
                                     + (workdir / "kube-apiserver.log").read_text()[-2000:])
            time.sleep(0.5)
        document = yaml.safe_load(control_plane.kubeconfig.read_text())
        for entry in document["clusters"]:
            entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
        kubeconfig = workdir / "second.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(document))
        yield kubeconfig
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _uid(kubeconfig: Path) -> str:
    api = config.new_client_from_config(str(kubeconfig))
    return str(client.CoreV1Api(api).read_namespace("kube-system").metadata.uid)


def _secrets(kubeconfig: Path, namespace: str) -> set[str]:
    api = config.new_client_from_config(str(kubeconfig))
    return {s.metadata.name for s in client.CoreV1Api(api).list_namespaced_secret(namespace).items}


def test_a_stack_moves_to_another_cluster_only_when_named_and_allowed(
    control_plane: ControlPlane, second_cluster: Path, tmp_path: Path
) -> None:
    run_id = uuid.uuid4().hex[:6]
    consumer = f"team-{run_id}"
    for kubeconfig in (control_plane.kubeconfig, second_cluster):
        api = config.new_client_from_config(str(kubeconfig))
        client.CoreV1Api(api).create_namespace({"metadata": {"name": consumer}})
    # The same inventory whichever cluster the stack writes to: read from files.
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    documents = [{"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": consumer, "labels": {f"consumer-{run_id}": ""}}}]
    for name in ("one", "two"):
        documents.append({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
                          "metadata": {"name": name, "namespace": "capi", "labels": {"clusterprofile-name": name}}})
        documents.append({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                          "metadata": {"name": f"{name}-kubeconfig", "namespace": "capi",
                                       "labels": {"cluster.x-k8s.io/cluster-name": name}},
                          "stringData": {"value": kubeconfig_text(f"https://{name}.example:6443", f"T-{name}")}})
    (inventory / "inventory.yaml").write_text(yaml.safe_dump_all(documents))
    first, second = _uid(control_plane.kubeconfig), _uid(second_cluster)
    assert first != second

    stack = ProjectStack(tmp_path / "project")
    stack.configure(kubeconfig=str(control_plane.kubeconfig), inventoryDir=str(inventory), sveltosMode="off",
                    consumerNamespaceLabel=f"consumer-{run_id}", managedByValue=f"ci-{run_id}",
                    scheduleIntervalMinutes=0, maxDeletions=1)
    try:
        stack.up()
        expected = {"default-one-kubeconfig", "default-two-kubeconfig"}
        assert _secrets(control_plane.kubeconfig, consumer) == expected
        assert stack.stack.outputs()["managementCluster"].value == first

        stack.configure(kubeconfig=str(second_cluster))
        with pytest.raises(auto.CommandError, match=f"reaches another cluster \\({second}\\).*\\({first}\\)"):
            stack.up()
        assert _secrets(second_cluster, consumer) == set()

        stack.configure(managementClusterId=second)
        with pytest.raises(auto.CommandError,
                           match=f"would delete 2 managed objects.*2 replaced: the management cluster changed "
                                 f"from {first} to {second}"):
            stack.up()
        assert _secrets(control_plane.kubeconfig, consumer) == expected

        stack.configure(allowMassDeletion=True)
        preview = stack.preview()
        assert preview.change_summary.get("replace") == 3  # the provider and both Secrets
        stack.up()
        assert _secrets(second_cluster, consumer) == expected
        assert _secrets(control_plane.kubeconfig, consumer) == set()
        assert stack.stack.outputs()["managementCluster"].value == second
    finally:
        stack.destroy()
        for kubeconfig in (control_plane.kubeconfig, second_cluster):
            api = config.new_client_from_config(str(kubeconfig))
            client.CoreV1Api(api).delete_namespace(consumer)
