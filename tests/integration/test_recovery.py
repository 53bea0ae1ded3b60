"""Recovery at fleet size with the real CLI (issue 8): `python -m inventory deploy` writes the
state once per update (PULUMI_SKIP_CHECKPOINTS), so an update cut short must converge on the
next run. ~1,000 objects: the `pulumi` process killed in the middle of a cold `up`, the API
server killed in the middle of an `up` that rotates every credential, and two `up`s at once.
The steps share one stack and run in file order."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from bench.fleet import Fleet, applier, delete_namespaces, descendants, inventory_manifests, kubeconfig_secret
from inventory.stack.adoption import OWNER_ANNOTATION
from tests.integration.controlplane import REPO, ControlPlane, api_server_process, tools_env, wait_for

STACK = "recovery"
CLUSTERS = 200  # x (3 consumers + 2) = 1,000 objects
PASSPHRASE = "cluster-inventory-test-only"


@dataclass
class World:
    fleet: Fleet
    workdir: Path
    env: dict[str, str]
    core: client.CoreV1Api
    selector: str

    def deploy(self, action: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "inventory", "deploy", action, "--stack", STACK, "--cwd", str(self.workdir)],
            cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def run(self, action: str) -> tuple[int, str]:
        process = self.deploy(action)
        output, _ = process.communicate(timeout=600)
        return process.returncode, output

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pulumi", *args, "--stack", STACK], check=False, cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=120)

    def managed_secrets(self) -> dict[str, client.V1Secret]:
        items = self.core.list_secret_for_all_namespaces(label_selector=self.selector).items
        return {f"{s.metadata.namespace}/{s.metadata.name}": s for s in items}

    def expected_secrets(self) -> int:
        return self.fleet.clusters * (self.fleet.consumers + 1)


def _pulumi_process(root: int) -> int:
    for pid in descendants(root):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "pulumi":
                return pid
        except OSError:
            continue
    raise AssertionError("no pulumi process under the driver")


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    fleet = Fleet(CLUSTERS, 3, name=f"rec{uuid.uuid4().hex[:5]}")
    namespaces, inventory = inventory_manifests(fleet)
    applier("apply", namespaces)
    applier("apply", inventory)
    workdir = tmp_path_factory.mktemp("recovery")
    (workdir / "stacks").mkdir()
    (workdir / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (workdir / "provider").symlink_to(REPO / "provider")  # Pulumi.yaml's plugins.providers path
    config = {**fleet.stack_config(), "cluster-inventory:managedByValue": fleet.prefix,
              "cluster-inventory:kubeconfig": str(control_plane.kubeconfig)}
    # The consumer the last step adds is routed from the start (docs/security.md, receiving namespaces).
    config["cluster-inventory:consumerNamespaces"] = [*config["cluster-inventory:consumerNamespaces"],
                                                      f"{fleet.prefix}-consumer-extra"]
    (workdir / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": config}))
    env = {**tools_env(), "PULUMI_BACKEND_URL": f"file://{workdir / 'state'}",
           "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    (workdir / "state").mkdir()
    world = World(fleet, workdir, env, client.CoreV1Api(control_plane.api),
                  f"app.kubernetes.io/managed-by={fleet.prefix}")
    yield world
    world.pulumi("cancel", "--yes")  # a lock a failed step may have left
    world.run("destroy")
    delete_namespaces(fleet)


def test_killing_pulumi_in_a_cold_up_leaves_a_lock_that_names_the_fix(world: World) -> None:
    driver = world.deploy("up")
    wait_for(lambda: len(world.managed_secrets()) >= 250, "250 Secrets written", timeout=180)
    pulumi = _pulumi_process(driver.pid)
    plugins = [pid for pid in descendants(pulumi) if pid != pulumi]
    os.kill(pulumi, signal.SIGKILL)
    for pid in plugins:  # as when a CI runner is killed: the provider goes with the CLI
        os.kill(pid, signal.SIGKILL)
    output, _ = driver.communicate(timeout=120)
    assert driver.returncode != 0
    assert 0 < len(world.managed_secrets()) < world.expected_secrets()
    code, output = world.run("up")
    assert code != 0
    assert "the stack is currently locked" in output and "pulumi cancel" in output


def test_the_next_up_after_cancel_converges_with_nothing_lost_or_refused(world: World) -> None:
    assert world.pulumi("cancel", "--yes").returncode == 0
    code, output = world.run("up")
    assert code == 0, output[-3000:]
    assert "the name is taken" not in output  # its own objects: taken back, never skipped as another writer's
    secrets = world.managed_secrets()
    assert len(secrets) == world.expected_secrets()
    assert {s.metadata.annotations[OWNER_ANNOTATION] for s in secrets.values()} == {f"organization/cluster-inventory/{STACK}"}
    code, output = world.run("preview")
    assert code == 0 and re.search(r"^\s*1003 unchanged\s*$", output, re.MULTILINE), output[-2000:]


def _kill_and_restart_api_server(pause_s: float) -> None:
    state_file = REPO / ".local" / "cluster.json"
    state = json.loads(state_file.read_text())
    api_pid, argv = api_server_process()
    os.kill(api_pid, signal.SIGKILL)
    time.sleep(pause_s)
    log = open(Path(state["data"]) / "kube-apiserver.log", "ab")  # noqa: SIM115 (the server keeps it)
    restarted = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    state["pids"] = [restarted.pid if pid == api_pid else pid for pid in state["pids"]]
    state_file.write_text(json.dumps(state))


def test_killing_the_api_server_in_an_up_that_rotates_every_credential_converges_on_rerun(world: World) -> None:
    before = {name: s.metadata.uid for name, s in world.managed_secrets().items()}
    rotated = [kubeconfig_secret(world.fleet, i, generation=1) for i in range(world.fleet.clusters)]
    applier("apply", rotated)
    driver = world.deploy("up")
    updated = 0
    assert driver.stdout is not None
    for line in driver.stdout:
        updated += " updated (" in line
        if updated >= 100:
            break
    _kill_and_restart_api_server(pause_s=3)
    rest, _ = driver.communicate(timeout=600)
    assert driver.returncode != 0, "the update finished before the API server went away: nothing was tested"
    assert updated + rest.count(" updated (") < world.expected_secrets()
    wait_for(lambda: _healthy(world), "the API server back", timeout=180)
    code, output = world.run("up")
    assert code == 0, output[-3000:]
    secrets = world.managed_secrets()
    assert {name: s.metadata.uid for name, s in secrets.items()} == before  # updated in place, none recreated
    expected = {s["metadata"]["name"].removesuffix("-kubeconfig"): base64.b64decode(s["data"]["value"])
                for s in rotated}
    for name, secret in secrets.items():
        cluster = re.search(r"(cluster-\d{5})", name)
        assert cluster is not None
        key = "config" if "-sveltos-" not in name else "kubeconfig"
        assert base64.b64decode(secret.data[key]) == expected[cluster.group(1)], name


def _healthy(world: World) -> bool:
    try:
        world.core.list_namespace(limit=1, _request_timeout=2)
        return True
    except Exception:  # noqa: BLE001 (any failure means: not yet)
        return False


def test_two_ups_at_once_one_waits_out_with_the_lock_message_and_nothing_is_done_twice(world: World) -> None:
    extra = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": f"{world.fleet.prefix}-consumer-extra",
                          "labels": {world.fleet.consumer_label: "extra"}}}
    applier("apply", [extra])
    first = world.deploy("up")
    # The second starts once the first holds the lock (two that start in the same instant
    # may each see the other's lock and both stop, which is safe but proves less).
    wait_for(lambda: any((world.workdir / "state").rglob("locks/**/*.json")), "the first up's lock", timeout=180)
    second = world.deploy("up")
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    codes = sorted([first.returncode, second.returncode])
    assert codes[0] == 0 and codes[1] != 0, outputs
    loser = outputs[[first.returncode, second.returncode].index(codes[1])]
    assert "the stack is currently locked" in loser and " created (" not in loser
    assert len(world.managed_secrets()) == world.expected_secrets() + world.fleet.clusters
    code, output = world.run("preview")
    assert code == 0 and re.search(r"^\s*1203 unchanged\s*$", output, re.MULTILINE), output[-2000:]
    world.core.delete_namespace(extra["metadata"]["name"])
