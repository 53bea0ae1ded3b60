"""What a plugin prints is bounded, and its stderr excerpt never carries a secret (SPEC §9)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from inventory.credentials.exec.run import STDERR_LIMIT_BYTES, run_plugin
from tests.unit.execplugin_support import (
    error_of,
    plugin,
    plugin_python,  # noqa: F401 (fixture)
    profile,
    provider_entry,
    resolve_one,
    write_providers,
)

pytestmark = pytest.mark.usefixtures("plugin_python")


def failure(tmp_path: Path, plugin_name: str, **entry: object) -> str:
    provider_file = write_providers(tmp_path, provider_entry(plugin(plugin_name), **entry))  # type: ignore[arg-type]
    return error_of(resolve_one(provider_file, profile(), timeout=20.0))


def test_a_plugin_printing_without_end_on_stdout_is_stopped_and_named(tmp_path: Path) -> None:
    started = time.monotonic()

    message = failure(tmp_path, "flood_stdout.py")

    assert time.monotonic() - started < 10
    assert message.startswith(f"exec provider 'fleet-token' command {plugin('flood_stdout.py')!r} printed more "
                              "than 1 MiB on stdout, more than any ExecCredential, and was stopped")


def test_stderr_is_kept_up_to_64_kib_however_much_the_plugin_prints() -> None:
    env = {"PLUGIN_STDERR": "x" * 1023 + "\n", "PLUGIN_STDERR_REPEAT": str(10 * 1024)}  # 10 MiB

    output = run_plugin([sys.executable, plugin("fail_with_stderr.py")], env, 20.0)

    assert output.returncode == 3
    assert len(output.stderr) == STDERR_LIMIT_BYTES == 64 * 1024


def test_an_ordinary_credential_is_read_whole() -> None:
    output = run_plugin([sys.executable, plugin("token.py")], {}, 20.0)

    assert (output.returncode, output.stdout_too_large) == (0, False)
    assert output.stdout.endswith(b"}}\n")


def test_a_deploy_job_variable_echoed_on_stderr_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", "job-secret-5d1e")

    message = failure(tmp_path, "echo_env_to_stderr.py", env={"PLUGIN_ECHO_ENV": "REGISTRY_PASSWORD"})

    assert message.endswith("stderr: error: login rejected for <redacted>=<redacted>")
    assert "job-secret-5d1e" not in message


def test_a_withheld_deploy_variable_is_redacted_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The plugin does not inherit the stack passphrase, but may read it elsewhere (a file, its parent).
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "passphrase-91c2")
    monkeypatch.setenv("PLUGIN_STDERR", "")
    provider_file = write_providers(tmp_path, provider_entry(plugin("fail_with_stderr.py"),
                                                            env={"PLUGIN_STDERR": "using passphrase-91c2\n"}))

    message = error_of(resolve_one(provider_file, profile()))

    assert "passphrase-91c2" not in message


def test_short_deploy_job_values_are_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGION", "eu-west")

    message = failure(tmp_path, "echo_env_to_stderr.py", env={"PLUGIN_ECHO_ENV": "REGION"})

    assert message.endswith("stderr: error: login rejected for <redacted>=eu-west")


def test_bearer_and_id_tokens_on_stderr_are_redacted(tmp_path: Path) -> None:
    message = failure(tmp_path, "leak_bearer_to_stderr.py")

    assert message.endswith("stderr: POST /token: 401 (Authorization: Bearer <redacted>) | id token <redacted> rejected")
