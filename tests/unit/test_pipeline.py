"""The shared path from settings to plan: which source is read, when exec plugins run, what joins the plan."""

from __future__ import annotations

from typing import Any

import pytest

from inventory import pipeline
from inventory.credentials.exec import resolve as execplugin
from inventory.settings import Mode, SettingsError
from inventory.sources import InventoryReadError
from tests.unit.inventory_support import FIXTURES, NOW, seeded


def test_inventory_dir_setting_selects_the_directory_source() -> None:
    inventory = pipeline.read_inventory(seeded(inventory_dir=str(FIXTURES / "basic")))
    assert len(inventory.profiles) == 2


def test_without_inventory_dir_the_live_cluster_is_read(tmp_path: Any) -> None:
    with pytest.raises(InventoryReadError, match="kubeconfig file .* does not exist"):
        pipeline.read_inventory(seeded(kubeconfig=str(tmp_path / "absent")))


def test_exec_plugins_do_not_run_when_the_inventory_has_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("exec plugins ran on a broken inventory")

    monkeypatch.setattr(execplugin, "resolve_exec_credentials", must_not_run)
    settings = seeded(inventory_dir=str(FIXTURES / "malformed-yaml"), exec_provider_file="providers.json")
    plan = pipeline.compute_plan(settings, NOW)
    assert plan.objects == () and plan.errors


def test_exec_plugins_do_not_run_when_sveltos_mode_is_not_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execplugin, "resolve_exec_credentials", lambda *a, **k: pytest.fail("exec plugins ran"))
    settings = seeded(inventory_dir=str(FIXTURES / "basic"), exec_provider_file="x.json", sveltos_mode=Mode.OFF)
    assert pipeline.compute_plan(settings, NOW).objects


def test_unusable_provider_file_is_a_settings_error() -> None:
    settings = seeded(
        inventory_dir=str(FIXTURES / "render-exec"), exec_provider_file=str(FIXTURES / "exec" / "not-json.json")
    )
    with pytest.raises(SettingsError, match="^execProviderFile: "):
        pipeline.compute_plan(settings, NOW)


def test_event_framework_objects_join_the_plan() -> None:
    settings = seeded(inventory_dir=str(FIXTURES / "basic"), sveltos_mode=Mode.EVENTS)
    kinds = {obj.kind for obj in pipeline.compute_plan(settings, NOW).objects}
    assert {"EventSource", "EventTrigger", "ConfigMap", "Secret"} <= kinds and "SveltosCluster" not in kinds
