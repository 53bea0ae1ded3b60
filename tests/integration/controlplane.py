"""Test support: the real toolchain and the local control plane (SPEC §7).

Tests that use these never skip for a missing tool: the tools are built first
(tools/build-tools.sh is a few seconds when warm) and the control plane is
started if it is not running (and stopped again at the end if the tests started it).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KUBECONFIG = REPO / ".local" / "kubeconfig"
NAMESPACED_TEST_KINDS = (
    ("cluster.x-k8s.io", "v1beta2", "clusters"),
    ("multicluster.x-k8s.io", "v1alpha1", "clusterprofiles"),
    ("lib.projectsveltos.io", "v1beta1", "sveltosclusters"),
)


@functools.cache
def _tools_env() -> dict[str, str]:
    exported = subprocess.run(["bash", "-c", 'eval "$(tools/env.sh)" && env -0'], cwd=REPO,
                              capture_output=True, check=True).stdout.decode()
    return dict(entry.split("=", 1) for entry in exported.split("\0") if "=" in entry)


def tools_env() -> dict[str, str]:
    """This process's environment as tools/env.sh sets it up (built tools first on PATH,
    no plugin downloads): the one definition, shared with the Makefile and users' shells."""
    return dict(_tools_env())  # a copy: callers add their own variables


def ensure_tools() -> None:
    subprocess.run(["bash", str(REPO / "tools" / "build-tools.sh")], check=True, env=tools_env())


def cluster(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "tools" / "cluster.py"), command],
                          check=False, env=tools_env(), text=True, capture_output=command == "status")


@dataclass
class ControlPlane:
    kubeconfig: Path
    api: Any  # kubernetes.client.ApiClient

    def new_namespace(self, prefix: str = "t") -> str:
        from kubernetes import client

        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        client.CoreV1Api(self.api).create_namespace({"metadata": {"name": name}})
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace and what tests put in it, at once.

        The namespace controller would get there too, a few seconds later; until then
        a Terminating namespace's contents are still listed by later tests.
        """
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        core, custom = client.CoreV1Api(self.api), client.CustomObjectsApi(self.api)
        try:
            core.delete_collection_namespaced_secret(name)
            core.delete_collection_namespaced_config_map(name)
            for group, version, plural in NAMESPACED_TEST_KINDS:
                custom.delete_collection_namespaced_custom_object(group, version, name, plural)
            core.delete_namespace(name)
            core.replace_namespace_finalize(name, {"metadata": {"name": name}, "spec": {"finalizers": []}})
        except ApiException as err:
            if err.status != 404:
                raise


def wait_for(check: Callable[[], bool], what: str, timeout: float, interval: float = 0.2) -> None:
    """Poll ``check`` until it holds; past ``timeout`` seconds the test fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(interval)


def api_server_process() -> tuple[int, list[str]]:
    """The management kube-apiserver's PID and command line (tools/cluster.py started it; the
    workload clusters' servers are not it)."""
    state = json.loads((REPO / ".local" / "cluster.json").read_text())
    workload_pids = {workload["pid"] for workload in state.get("workloads", [])}
    for pid in (pid for pid in state["pids"] if pid not in workload_pids):
        comm = Path(f"/proc/{pid}/comm")
        if comm.exists() and comm.read_text().strip() == "kube-apiserver":
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            return pid, [arg.decode() for arg in argv]
    raise AssertionError("no kube-apiserver among the local control plane's processes")


def start_control_plane() -> Iterator[ControlPlane]:
    """Session-wide control plane; started here (and stopped at the end) unless already running."""
    from kubernetes import config

    ensure_tools()
    started = cluster("status").returncode != 0
    subprocess.run([sys.executable, str(REPO / "tools" / "cluster.py"), "up"], check=True, env=tools_env(),
                   stdout=subprocess.DEVNULL)
    try:
        yield ControlPlane(KUBECONFIG, config.new_client_from_config(str(KUBECONFIG)))
    finally:
        if started:
            cluster("down")
