"""Running exec plugins: the request they get, the credentials they return, and how they fail."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from inventory.credentials.exec.run import PluginOutput, run_plugin
from inventory.model.diagnostics import ObjectRef
from inventory.settings import ExecBinding
from tests.unit.execplugin_support import (
    CA,
    PLUGIN_CERT_BODY,
    PLUGIN_KEY_BODY,
    PLUGIN_TOKEN,
    SERVER,
    access,
    error_of,
    kubeconfig_of,
    plugin,
    plugin_python,  # noqa: F401 (fixture)
    profile,
    provider_entry,
    recorded,
    resolve,
    resolve_one,
    user_of,
    write_providers,
)

pytestmark = pytest.mark.usefixtures("plugin_python")

ARGS_EXTENSION = "clusterprofiles.multicluster.x-k8s.io/exec/additional-args"
ENVS_EXTENSION = "clusterprofiles.multicluster.x-k8s.io/exec/additional-envs"
EXEC_EXTENSION = "client.authentication.k8s.io/exec"


def run_recorded(
    tmp_path: Path, extensions: dict[str, Any] | None = None, allowed: ExecBinding | None = None, **entry: Any
) -> dict[str, Any]:
    """Run tests/plugins/token.py for one profile and return what it recorded."""
    record = tmp_path / "record.json"
    env = {"PLUGIN_RECORD": str(record), **entry.pop("env", {})}
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py"), env=env, **entry))
    result = resolve_one(provider_file, profile(access(extensions=extensions)), allowed=allowed)
    assert result.error is None, result.error
    return recorded(record)


# --- credentials -----------------------------------------------------------------------


def test_token_becomes_a_plain_kubeconfig_for_the_access_provider_cluster(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))

    kubeconfig = kubeconfig_of(resolve_one(provider_file, profile()))

    assert kubeconfig["clusters"][0]["cluster"] == {
        "server": SERVER,
        "certificate-authority-data": base64.b64encode(CA).decode(),
    }
    assert kubeconfig["users"][0]["user"] == {"token": PLUGIN_TOKEN}


def test_certificate_and_key_become_client_certificate_data(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("cert_key.py")))

    user = user_of(resolve_one(provider_file, profile()))

    assert set(user) == {"client-certificate-data", "client-key-data"}
    assert PLUGIN_CERT_BODY in base64.b64decode(user["client-certificate-data"]).decode()
    assert PLUGIN_KEY_BODY in base64.b64decode(user["client-key-data"]).decode()


def test_token_and_certificate_are_both_written(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token_and_cert.py")))

    user = user_of(resolve_one(provider_file, profile()))

    assert set(user) == {"token", "client-certificate-data", "client-key-data"}


def test_every_profile_gets_its_own_credentials_when_many_run_in_parallel(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))
    profiles = [profile(access(server=f"https://c{i}.example.com"), name=f"c{i}") for i in range(9)]

    results = resolve(provider_file, *profiles)

    assert list(results) == sorted(ObjectRef("ClusterProfile", "team-a", f"c{i}") for i in range(9))
    for i in range(9):
        assert kubeconfig_of(results[ObjectRef("ClusterProfile", "team-a", f"c{i}")])["clusters"][0]["cluster"][
            "server"
        ] == f"https://c{i}.example.com"


# --- how the plugin is called ----------------------------------------------------------


def test_cluster_info_is_passed_when_provide_cluster_info_is_set(tmp_path: Path) -> None:
    exec_config = {"audience": "fleet", "region": "eu-west-1"}

    seen = run_recorded(tmp_path, extensions={EXEC_EXTENSION: exec_config}, provide_cluster_info=True)

    assert seen["execInfo"] == {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {
            "interactive": False,
            "cluster": {
                "server": SERVER,
                "certificate-authority-data": base64.b64encode(CA).decode(),
                "config": exec_config,
            },
        },
    }


def test_cluster_info_is_left_out_without_provide_cluster_info(tmp_path: Path) -> None:
    seen = run_recorded(tmp_path, extensions={EXEC_EXTENSION: {"audience": "fleet"}}, provide_cluster_info=False)

    assert seen["execInfo"]["spec"] == {"interactive": False}


def test_plugin_inherits_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INHERITED_FROM_RUNNER", "yes")

    seen = run_recorded(tmp_path)

    assert seen["env"]["INHERITED_FROM_RUNNER"] == "yes"


def test_provider_file_env_reaches_the_plugin(tmp_path: Path) -> None:
    seen = run_recorded(tmp_path, env={"FLEET_REGION": "eu-west-1"})

    assert seen["env"]["FLEET_REGION"] == "eu-west-1"


@pytest.mark.parametrize("name", ["PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "KUBECONFIG"])
def test_plugin_does_not_inherit_the_deploy_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "deploy-secret-value")

    seen = run_recorded(tmp_path)

    assert name not in seen["env"]


def test_provider_file_may_still_hand_pulumi_variables_and_kubeconfig_to_the_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "deploy-secret-value")
    explicit = {"PULUMI_ACCESS_TOKEN": "for-the-plugin", "KUBECONFIG": "/etc/fleet/kubeconfig"}

    seen = run_recorded(tmp_path, env=explicit)

    assert {name: seen["env"][name] for name in explicit} == explicit


def test_provider_file_may_set_path_and_loader_variables(tmp_path: Path) -> None:
    operator_env = {"PATH": os.environ["PATH"], "LD_LIBRARY_PATH": "/opt/fleet/lib", "PYTHONNOUSERSITE": "1"}

    seen = run_recorded(tmp_path, env=operator_env)

    assert {name: seen["env"][name] for name in operator_env} == operator_env


def test_plugin_runs_without_a_shell(tmp_path: Path) -> None:
    literal_args = ["$(CLUSTER_NAME)", "; touch pwned", "*"]

    seen = run_recorded(tmp_path, args=literal_args)

    assert seen["argv"] == literal_args
    assert not (Path.cwd() / "pwned").exists()


def test_append_policy_puts_profile_args_after_file_args(tmp_path: Path) -> None:
    seen = run_recorded(
        tmp_path, extensions={ARGS_EXTENSION: ["--cluster=prod", "--verbose"]}, args=["--audience", "fleet"],
        args_policy="Append", allowed=ExecBinding(profile_args=("--cluster", "--verbose")),
    )

    assert seen["argv"] == ["--audience", "fleet", "--cluster=prod", "--verbose"]


def test_args_extension_may_be_a_string_holding_yaml(tmp_path: Path) -> None:
    seen = run_recorded(tmp_path, extensions={ARGS_EXTENSION: "- --cluster=prod\n- --version=1.10\n"}, args_policy="Append",
                        allowed=ExecBinding(profile_args=("--cluster", "--version")))

    assert seen["argv"] == ["--cluster=prod", "--version=1.10"]


def test_ignore_args_policy_drops_profile_args(tmp_path: Path) -> None:
    seen = run_recorded(tmp_path, extensions={ARGS_EXTENSION: ["--cluster", "prod"]}, args=["--audience"], args_policy="Ignore")

    assert seen["argv"] == ["--audience"]


def test_append_if_not_exists_keeps_the_file_value_on_a_clash(tmp_path: Path) -> None:
    seen = run_recorded(
        tmp_path,
        extensions={ENVS_EXTENSION: {"REGION": "from-profile", "TENANT": "t-1"}},
        env={"REGION": "from-file"},
        envs_policy="AppendIfNotExists",
        allowed=ExecBinding(profile_env=("REGION", "TENANT")),
    )

    assert (seen["env"]["REGION"], seen["env"]["TENANT"]) == ("from-file", "t-1")


def test_replace_policy_lets_the_profile_value_win(tmp_path: Path) -> None:
    seen = run_recorded(
        tmp_path,
        extensions={ENVS_EXTENSION: "REGION: from-profile\nTENANT: t-1\n"},
        env={"REGION": "from-file"},
        envs_policy="Replace",
        allowed=ExecBinding(profile_env=("REGION", "TENANT")),
    )

    assert (seen["env"]["REGION"], seen["env"]["TENANT"]) == ("from-profile", "t-1")


def test_ignore_envs_policy_drops_profile_envs(tmp_path: Path) -> None:
    seen = run_recorded(tmp_path, extensions={ENVS_EXTENSION: {"TENANT": "t-1"}}, envs_policy="Ignore")

    assert "TENANT" not in seen["env"]


def test_invalid_args_extension_is_an_error_naming_the_provider(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py"), args_policy="Append"))

    result = resolve_one(provider_file, profile(access(extensions={ARGS_EXTENSION: {"not": "a list"}})))

    assert error_of(result).startswith("access provider 'fleet-token': extension")
    assert "additional-args must be a YAML list of strings" in error_of(result)


def test_invalid_envs_extension_is_an_error_naming_the_provider(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py"), envs_policy="Replace"))

    result = resolve_one(provider_file, profile(access(extensions={ENVS_EXTENSION: "[unclosed"})))

    assert error_of(result).startswith("access provider 'fleet-token'")
    assert "additional-envs must be a YAML map" in error_of(result)


def test_profile_without_a_server_is_an_error_and_the_plugin_does_not_run(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py"), env={"PLUGIN_RECORD": str(record)}))

    result = resolve_one(provider_file, profile(access(server="")))

    assert error_of(result).startswith("access provider 'fleet-token': status lists no cluster server")
    assert not record.exists()


# --- failures --------------------------------------------------------------------------


def failure(tmp_path: Path, plugin_name: str, *, timeout: float = 10.0, **entry: Any) -> str:
    provider_file = write_providers(tmp_path, provider_entry(plugin(plugin_name), **entry))
    return error_of(resolve_one(provider_file, profile(), timeout=timeout))


def test_non_zero_exit_names_command_status_and_stderr(tmp_path: Path) -> None:
    message = failure(tmp_path, "fail_with_stderr.py")

    assert message == (
        f"exec provider 'fleet-token' command {plugin('fail_with_stderr.py')!r} "
        "exited with status 3; stderr: error: role arn:aws:iam::123456789012:role/fleet cannot be assumed"
    )


def test_timeout_is_reported_with_the_limit_and_does_not_wait_for_the_plugin(tmp_path: Path) -> None:
    started = time.monotonic()

    message = failure(tmp_path, "sleep_forever.py", timeout=1.0)

    assert time.monotonic() - started < 10
    assert message.startswith("exec provider 'fleet-token' command")
    assert "timed out after 1s; stderr: waiting for the identity provider..." in message


def test_plugin_killed_by_a_signal_is_reported_with_the_signal(tmp_path: Path) -> None:
    assert "was killed by signal 9; stderr: allocating..." in failure(tmp_path, "killed.py")


def test_every_call_gets_the_configured_time_limit(tmp_path: Path) -> None:
    limits: list[float] = []

    def runner(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> PluginOutput:
        limits.append(timeout)
        return run_plugin(argv, env, timeout)

    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))
    resolve(provider_file, profile(name="a"), profile(name="b"), timeout=7.5, runner=runner)

    assert limits == [7.5, 7.5]


def test_garbage_output_is_an_error(tmp_path: Path) -> None:
    assert "exited with status 0 but its output is not JSON" in failure(tmp_path, "garbage.py")


def test_empty_status_is_an_error(tmp_path: Path) -> None:
    assert "status has neither a token nor clientCertificateData and clientKeyData" in failure(tmp_path, "empty_status.py")


def test_certificate_without_key_is_an_error(tmp_path: Path) -> None:
    assert "status has clientCertificateData but no clientKeyData" in failure(tmp_path, "cert_without_key.py")


def test_wrong_api_version_is_an_error(tmp_path: Path) -> None:
    assert "is not apiVersion client.authentication.k8s.io/v1" in failure(tmp_path, "wrong_api_version.py")


def test_wrong_kind_is_an_error(tmp_path: Path) -> None:
    assert "its output is not of kind ExecCredential" in failure(tmp_path, "wrong_kind.py")


def test_unparseable_expiry_is_an_error(tmp_path: Path) -> None:
    message = failure(tmp_path, "token.py", env={"PLUGIN_EXPIRES_AT": "tomorrow"})

    assert "status.expirationTimestamp is not an RFC 3339 time" in message


def test_command_not_found_is_an_error_naming_the_command(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(str(tmp_path / "no-such-plugin")))

    message = error_of(resolve_one(provider_file, profile()))

    assert message.startswith("exec provider 'fleet-token' command")
    assert "no-such-plugin' could not be started: No such file or directory" in message


def test_stderr_is_trimmed_to_500_characters_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Inherited and short, so not redacted; the plugin repeats it.
    monkeypatch.setenv("PLUGIN_STDERR", "line\n")
    monkeypatch.setenv("PLUGIN_STDERR_REPEAT", "400")

    message = failure(tmp_path, "fail_with_stderr.py")

    excerpt = message.split("; stderr: ", 1)[1]
    assert len(excerpt) == 500
    assert "\n" not in message


def test_secret_the_plugin_echoes_on_stderr_is_redacted(tmp_path: Path) -> None:
    message = failure(tmp_path, "wrong_api_version.py")

    assert "stderr: debug: minted <redacted>" in message


def test_provider_file_env_value_echoed_on_stderr_is_redacted(tmp_path: Path) -> None:
    message = failure(
        tmp_path, "echo_env_to_stderr.py", env={"PLUGIN_ECHO_ENV": "FLEET_PASSWORD", "FLEET_PASSWORD": "hunter2x"}
    )

    assert message.endswith("exited with status 1; stderr: error: login rejected for <redacted>=<redacted>")
    assert "hunter2x" not in message


def test_profile_env_value_echoed_on_stderr_is_redacted(tmp_path: Path) -> None:
    provider_file = write_providers(
        tmp_path,
        provider_entry(plugin("echo_env_to_stderr.py"), env={"PLUGIN_ECHO_ENV": "TENANT_KEY"}, envs_policy="Replace"),
    )

    result = resolve_one(provider_file, profile(access(extensions={ENVS_EXTENSION: {"TENANT_KEY": "tk-91"}})),
                         allowed=ExecBinding(profile_env=("TENANT_KEY",)))

    assert error_of(result).endswith("stderr: error: login rejected for <redacted>=<redacted>")
    assert "tk-91" not in error_of(result)


def test_env_values_shorter_than_four_characters_are_not_redacted(tmp_path: Path) -> None:
    message = failure(tmp_path, "echo_env_to_stderr.py", env={"PLUGIN_ECHO_ENV": "DEBUG", "DEBUG": "on"})

    assert message.endswith("stderr: error: login rejected for <redacted>=on")


@pytest.mark.parametrize(
    "plugin_name",
    ["fail_with_stderr.py", "garbage.py", "cert_without_key.py", "wrong_api_version.py", "wrong_kind.py"],
)
def test_plugin_credentials_never_appear_in_an_error(tmp_path: Path, plugin_name: str) -> None:
    message = failure(tmp_path, plugin_name)

    for secret in (PLUGIN_TOKEN, PLUGIN_CERT_BODY, PLUGIN_KEY_BODY):
        assert secret not in message


def test_a_failing_profile_does_not_affect_the_others(tmp_path: Path) -> None:
    provider_file = write_providers(
        tmp_path,
        provider_entry(plugin("fail_with_stderr.py"), name="broken"),
        provider_entry(plugin("token.py"), name="working"),
    )

    results = resolve(provider_file, profile(access("broken"), name="a"), profile(access("working"), name="b"))

    assert results[ObjectRef("ClusterProfile", "team-a", "a")].error is not None
    assert results[ObjectRef("ClusterProfile", "team-a", "b")].error is None


def test_result_repr_never_shows_the_kubeconfig(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))

    assert PLUGIN_TOKEN not in repr(resolve(provider_file, profile()))
