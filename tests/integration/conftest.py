from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.controlplane import ControlPlane, cluster, start_control_plane
from tests.integration.workloads import (
    WorkloadServer,
    running_workload_servers,
    stop_workload_servers,
    workload_servers,
)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    yield from start_control_plane()


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace per test: tests that stay inside it need no other reset."""
    name = control_plane.new_namespace()
    yield name
    control_plane.delete_namespace(name)


@pytest.fixture(scope="module")
def sveltos(control_plane: ControlPlane) -> Iterator[None]:
    """Sveltos on the control plane for one test module (tools/cluster.py sveltos-up), stopped
    after it, so no other test's Event Framework objects are acted on behind its back."""
    cluster("sveltos-up").check_returncode()
    try:
        yield
    finally:
        cluster("sveltos-down")


@pytest.fixture(scope="session")
def workloads(control_plane: ControlPlane) -> Iterator[list[WorkloadServer]]:
    """Two workload clusters (tools/cluster.py workloads-up 2), stopped at the end of the session
    if this fixture started them. Only the tests that ask for them pay for them."""
    already = {server.name for server in running_workload_servers()}
    servers = workload_servers(2)
    try:
        yield servers
    finally:
        if not {server.name for server in servers} <= already:
            stop_workload_servers()
