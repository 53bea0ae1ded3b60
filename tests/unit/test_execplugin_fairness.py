"""Exec-plugin time and slots are shared between ClusterProfile namespaces, so one team's slow or
hung plugins cost only that team's profiles (SPEC §9; inventory/credentials/exec/schedule.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from inventory.credentials.exec.invocation import Invocation, prepare
from inventory.credentials.exec.provider_file import ExecProvider
from inventory.credentials.exec.reuse import ExecResult
from inventory.credentials.exec.run import PluginOutput, run_plugin
from inventory.credentials.exec.schedule import run_fairly
from inventory.model.diagnostics import ObjectRef
from inventory.model.inventory import ClusterProfile
from inventory.settings import ExecBinding, Settings, SettingsError
from tests.unit.execplugin_support import (
    access,
    plugin,
    plugin_python,  # noqa: F401 (fixture)
    profile,
    provider_entry,
    resolve,
    write_providers,
)

pytestmark = pytest.mark.usefixtures("plugin_python")

BINDINGS = {"hangs": ExecBinding(namespaces=("team-a",)), "mints": ExecBinding(namespaces=("team-b",))}


class Timeline:
    """A runner around the real one that notes when each plugin ended, and how many ran at once."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.ended: list[tuple[str, float]] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> PluginOutput:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        output = run_plugin(argv, env, timeout)
        with self._lock:
            self.running -= 1
            self.ended.append((Path(argv[0]).name, time.monotonic() - self.started))
        return output

    def ends(self, plugin_name: str) -> list[float]:
        return sorted(at for name, at in self.ended if name == plugin_name)


def hung_and_quick(tmp_path: Path, hung: int, quick: int) -> tuple[Path, list[ClusterProfile]]:
    provider_file = write_providers(tmp_path, provider_entry(plugin("sleep_forever.py"), name="hangs"),
                                    provider_entry(plugin("token.py"), name="mints"))
    profiles = [profile(access("hangs"), namespace="team-a", name=f"hung-{i:02}") for i in range(hung)]
    profiles += [profile(access("mints"), namespace="team-b", name=f"quick-{i:02}") for i in range(quick)]
    return provider_file, profiles


def test_a_namespace_of_hung_plugins_does_not_delay_another_namespaces_profiles(tmp_path: Path) -> None:
    provider_file, profiles = hung_and_quick(tmp_path, hung=12, quick=8)
    timeline = Timeline()

    results = resolve(provider_file, *profiles, timeout=3.0, budget=9.0, runner=timeline, bindings=BINDINGS)

    quick = [result for ref, result in results.items() if ref.namespace == "team-b"]
    assert len(quick) == 8 and all(result.error is None for result in quick)
    assert max(timeline.ends("token.py")) < min(timeline.ends("sleep_forever.py"))


def test_a_namespace_over_its_budget_has_its_remaining_profiles_skipped_and_reported(tmp_path: Path) -> None:
    provider_file, profiles = hung_and_quick(tmp_path, hung=12, quick=2)
    timeline = Timeline()

    results = resolve(provider_file, *profiles, timeout=2.0, budget=4.0, runner=timeline, bindings=BINDINGS)

    hung = [result.error or "" for ref, result in results.items() if ref.namespace == "team-a"]
    timed_out = [error for error in hung if "timed out after 2s" in error]
    skipped = [error for error in hung if error.startswith("exec plugin not run: namespace team-a has used ")]
    assert (len(timed_out), len(skipped)) == (2, 10)
    assert "of its 4s of exec-plugin time for this run (stack config execNamespaceBudgetSeconds) and another call " \
           "may take 2s; other namespaces are not affected" in skipped[0]
    assert all(result.error is None for ref, result in results.items() if ref.namespace == "team-b")


def test_a_namespace_alone_uses_every_slot(tmp_path: Path) -> None:
    provider_file, profiles = hung_and_quick(tmp_path, hung=4, quick=0)
    timeline = Timeline()

    resolve(provider_file, *profiles, timeout=2.0, runner=timeline, bindings=BINDINGS)

    assert timeline.most_running == 4


def test_free_slots_go_round_robin_between_namespaces() -> None:
    order: list[ObjectRef] = []

    def mint(invocation: Invocation) -> ExecResult:
        order.append(invocation.profile.ref)
        return ExecResult(kubeconfig=None, annotations={}, refresh_at=None, error="not run")

    jobs = [invocation("team-a", "a1"), invocation("team-a", "a2"), invocation("team-a", "a3"),
            invocation("team-c", "c1"), invocation("team-b", "b1"), invocation("team-b", "b2")]

    run_fairly(jobs, mint, slots=1, timeout=1.0, budget=100.0)

    assert [ref.name for ref in order] == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_the_budget_must_fit_at_least_one_call() -> None:
    with pytest.raises(SettingsError, match=r"execNamespaceBudgetSeconds: 10\.0 must be at least execTimeoutSeconds"):
        Settings.from_mapping({"execTimeoutSeconds": 30, "execNamespaceBudgetSeconds": 10})


def invocation(namespace: str, name: str) -> Invocation:
    provider = ExecProvider(name="p", command="plugin", api_version="client.authentication.k8s.io/v1")
    return prepare(profile(access("p"), namespace=namespace, name=name), provider, access("p"), ExecBinding())
