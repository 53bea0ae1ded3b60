"""Token expiry: when a refresh is due, and reusing stored credentials until then (SPEC §3 B)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inventory.credentials.exec.reuse import (
    EXPIRES_AT_ANNOTATION,
    ISSUED_AT_ANNOTATION,
    REFRESH_AT_ANNOTATION,
    SOURCE_ANNOTATION,
    ExecResult,
    refresh_due_at,
)
from inventory.model.diagnostics import Severity
from inventory.model.inventory import Inventory, Secret
from inventory.plan.compose import Plan, build_plan
from inventory.settings import Settings
from tests.unit.execplugin_support import (
    NOW,
    PROFILE_REF,
    access,
    error_of,
    plugin,
    plugin_python,  # noqa: F401 (fixture)
    profile,
    provider_entry,
    resolve_one,
    stored_secret,
    write_providers,
)
from tests.unit.inventory_support import kubeconfig

pytestmark = pytest.mark.usefixtures("plugin_python")

ISSUED = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
EXPIRES = "2025-03-01T13:00:00Z"  # one hour after NOW: refresh due at 12:48
REFRESH = datetime(2025, 3, 1, 12, 48, 0, tzinfo=UTC)
PLUGIN_FAILURE = "exited with status 3; stderr: error: role arn:aws:iam::123456789012:role/fleet cannot be assumed"


def expiring_provider_file(tmp_path: Path, *, record: Path | None = None, args: list[str] | None = None) -> Path:
    env = {"PLUGIN_EXPIRES_AT": EXPIRES}
    if record is not None:
        env["PLUGIN_RECORD"] = str(record)
    return write_providers(tmp_path, provider_entry(plugin("token.py"), env=env, args=args or []))


def replaceable_plugin(tmp_path: Path, name: str) -> Path:
    """A plugin command whose program a test can replace, so the provider configuration stays the same."""
    command = tmp_path / "fleet-plugin"
    command.symlink_to(plugin(name))
    return command


def replace_plugin(command: Path, name: str) -> None:
    command.unlink()
    command.symlink_to(plugin(name))


def plan_with(result: ExecResult, *secrets: Secret, now: datetime) -> Plan:
    inventory = Inventory(profiles=(profile(),), secrets=secrets)
    return build_plan(inventory, Settings(), {PROFILE_REF: result}, now)


def test_refresh_is_due_at_80_percent_of_the_lifetime() -> None:
    assert refresh_due_at(ISSUED, ISSUED + timedelta(hours=10)) == ISSUED + timedelta(hours=8)


def test_refresh_is_never_sooner_than_one_minute_after_issue() -> None:
    assert refresh_due_at(ISSUED, ISSUED + timedelta(seconds=30)) == ISSUED + timedelta(minutes=1)


def test_already_expired_credential_is_refreshed_one_minute_after_issue() -> None:
    assert refresh_due_at(ISSUED, ISSUED - timedelta(hours=1)) == ISSUED + timedelta(minutes=1)


def test_expiry_is_stored_in_annotations_with_the_refresh_time(tmp_path: Path) -> None:
    result = resolve_one(expiring_provider_file(tmp_path), profile())

    assert result.refresh_at == REFRESH
    assert result.annotations[ISSUED_AT_ANNOTATION] == "2025-03-01T12:00:00Z"
    assert result.annotations[EXPIRES_AT_ANNOTATION] == EXPIRES
    assert result.annotations[REFRESH_AT_ANNOTATION] == "2025-03-01T12:48:00Z"
    assert result.annotations[SOURCE_ANNOTATION].startswith("sha256:")


def test_credential_without_expiry_has_no_refresh_time(tmp_path: Path) -> None:
    result = resolve_one(write_providers(tmp_path, provider_entry(plugin("token.py"))), profile())

    assert result.refresh_at is None
    assert set(result.annotations) == {SOURCE_ANNOTATION, ISSUED_AT_ANNOTATION}


def test_stored_credential_is_reused_unchanged_while_no_refresh_is_due(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    provider_file = expiring_provider_file(tmp_path, record=record)
    first = resolve_one(provider_file, profile())
    record.unlink()

    again = resolve_one(provider_file, profile(), secrets=[stored_secret(first)], now=REFRESH - timedelta(seconds=1))

    assert again.reused
    assert (again.kubeconfig, dict(again.annotations), again.refresh_at) == (
        first.kubeconfig,
        dict(first.annotations),
        first.refresh_at,
    )
    assert not record.exists()


def test_stored_credential_is_reminted_once_the_refresh_is_due(tmp_path: Path) -> None:
    first = resolve_one(expiring_provider_file(tmp_path), profile())

    again = resolve_one(expiring_provider_file(tmp_path), profile(), secrets=[stored_secret(first)], now=REFRESH)

    assert not again.reused
    assert again.annotations[ISSUED_AT_ANNOTATION] == "2025-03-01T12:48:00Z"


def test_changed_provider_args_force_a_remint(tmp_path: Path) -> None:
    first = resolve_one(expiring_provider_file(tmp_path), profile())

    again = resolve_one(expiring_provider_file(tmp_path, args=["--audience", "new"]), profile(), secrets=[stored_secret(first)])

    assert not again.reused
    assert again.annotations[SOURCE_ANNOTATION] != first.annotations[SOURCE_ANNOTATION]


def test_changed_cluster_server_forces_a_remint(tmp_path: Path) -> None:
    provider_file = expiring_provider_file(tmp_path)
    first = resolve_one(provider_file, profile())

    again = resolve_one(provider_file, profile(access(server="https://moved.example.com")), secrets=[stored_secret(first)])

    assert not again.reused


def test_credential_without_expiry_is_reused_while_the_configuration_is_unchanged(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("cert_key.py")))
    first = resolve_one(provider_file, profile())

    again = resolve_one(provider_file, profile(), secrets=[stored_secret(first)], now=NOW + timedelta(days=365))

    assert again.reused
    assert again.kubeconfig == first.kubeconfig


def test_secret_not_managed_by_this_program_is_not_reused(tmp_path: Path) -> None:
    provider_file = expiring_provider_file(tmp_path)
    first = resolve_one(provider_file, profile())

    again = resolve_one(provider_file, profile(), secrets=[stored_secret(first, managed=False)])

    assert not again.reused


def test_fingerprint_holds_no_environment_values(tmp_path: Path) -> None:
    secret_value = "client-secret-0d9e8f7a6b"
    (tmp_path / "one").mkdir()
    (tmp_path / "other").mkdir()
    provider_file = write_providers(tmp_path / "one", provider_entry(plugin("token.py"), env={"CLIENT_SECRET": secret_value}))
    other_file = write_providers(tmp_path / "other", provider_entry(plugin("token.py"), env={"CLIENT_SECRET": "other"}))

    fingerprint = resolve_one(provider_file, profile()).annotations[SOURCE_ANNOTATION]

    assert resolve_one(other_file, profile()).annotations[SOURCE_ANNOTATION] == fingerprint


# --- a due refresh that fails ------------------------------------------------------------


def test_failed_refresh_keeps_the_stored_credential_until_it_expires(tmp_path: Path) -> None:
    command = replaceable_plugin(tmp_path, "token.py")
    provider_file = write_providers(tmp_path, provider_entry(str(command), env={"PLUGIN_EXPIRES_AT": EXPIRES}))
    first = resolve_one(provider_file, profile())
    replace_plugin(command, "fail_with_stderr.py")

    again = resolve_one(provider_file, profile(), secrets=[stored_secret(first)], now=REFRESH + timedelta(minutes=5))

    assert again.reused and again.error is None
    assert (again.kubeconfig, dict(again.annotations), again.refresh_at) == (
        first.kubeconfig,
        dict(first.annotations),
        first.refresh_at,
    )
    assert again.warning == (
        f"credential refresh failed, the stored credential is kept until it expires at {EXPIRES}: "
        f"exec provider 'fleet-token' command {str(command)!r} {PLUGIN_FAILURE}"
    )


def test_failed_refresh_that_keeps_the_stored_credential_plans_it_with_a_warning(tmp_path: Path) -> None:
    command = replaceable_plugin(tmp_path, "token.py")
    provider_file = write_providers(tmp_path, provider_entry(str(command), env={"PLUGIN_EXPIRES_AT": EXPIRES}))
    stored = stored_secret(resolve_one(provider_file, profile()))
    replace_plugin(command, "fail_with_stderr.py")
    now = REFRESH + timedelta(minutes=5)

    plan = plan_with(resolve_one(provider_file, profile(), secrets=[stored], now=now), stored, now=now)

    planned = {(obj.kind, obj.name): obj for obj in plan.objects}
    assert set(planned) == {("Secret", "prod-sveltos-kubeconfig"), ("SveltosCluster", "prod")}
    assert planned["Secret", "prod-sveltos-kubeconfig"].secret_data == stored.data
    assert planned["Secret", "prod-sveltos-kubeconfig"].annotations == stored.annotations
    (diagnostic,) = plan.diagnostics
    assert (diagnostic.subject, diagnostic.severity) == (PROFILE_REF, Severity.WARNING)
    assert str(diagnostic).count("ClusterProfile team-a/prod") == 1
    assert f"kept until it expires at {EXPIRES}: exec provider 'fleet-token' command" in diagnostic.reason
    assert diagnostic.reason.endswith(PLUGIN_FAILURE)


def test_failed_refresh_after_expiry_is_an_error(tmp_path: Path) -> None:
    command = replaceable_plugin(tmp_path, "token.py")
    provider_file = write_providers(tmp_path, provider_entry(str(command), env={"PLUGIN_EXPIRES_AT": EXPIRES}))
    first = resolve_one(provider_file, profile())
    replace_plugin(command, "fail_with_stderr.py")

    again = resolve_one(
        provider_file, profile(), secrets=[stored_secret(first)], now=datetime(2025, 3, 1, 13, tzinfo=UTC)
    )

    assert not again.reused and again.warning is None
    assert error_of(again) == f"exec provider 'fleet-token' command {str(command)!r} {PLUGIN_FAILURE}"


def test_failed_refresh_after_expiry_falls_through_to_the_next_credential_source(tmp_path: Path) -> None:
    command = replaceable_plugin(tmp_path, "token.py")
    provider_file = write_providers(tmp_path, provider_entry(str(command), env={"PLUGIN_EXPIRES_AT": EXPIRES}))
    stored = stored_secret(resolve_one(provider_file, profile()))
    labelled_data = {"kubeconfig": kubeconfig("labelled")}
    labelled = Secret(
        namespace="team-a", name="prod-admin", labels={"x-k8s.io/cluster-profile": "prod"}, data=labelled_data
    )
    replace_plugin(command, "fail_with_stderr.py")
    now = datetime(2025, 3, 1, 13, tzinfo=UTC)

    plan = plan_with(resolve_one(provider_file, profile(), secrets=[stored], now=now), stored, labelled, now=now)

    secret_object = next(obj for obj in plan.objects if obj.kind == "Secret")
    assert (secret_object.secret_data, secret_object.annotations) == (labelled_data, {})
    (diagnostic,) = plan.diagnostics
    assert str(diagnostic) == (
        f"warning: ClusterProfile team-a/prod: exec plugin: exec provider 'fleet-token' command {str(command)!r} "
        f"{PLUGIN_FAILURE}; using the next credential source instead"
    )


def test_failed_mint_after_a_configuration_change_is_an_error_even_before_expiry(tmp_path: Path) -> None:
    command = replaceable_plugin(tmp_path, "token.py")
    env = {"PLUGIN_EXPIRES_AT": EXPIRES}
    first = resolve_one(write_providers(tmp_path, provider_entry(str(command), env=env)), profile())
    replace_plugin(command, "fail_with_stderr.py")
    changed = write_providers(tmp_path, provider_entry(str(command), env=env, args=["--audience", "new"]))

    again = resolve_one(changed, profile(), secrets=[stored_secret(first)], now=REFRESH + timedelta(minutes=5))

    assert not again.reused and again.warning is None
    assert PLUGIN_FAILURE in error_of(again)
