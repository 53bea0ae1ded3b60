"""Exec providers serve only the ClusterProfiles stack config binds them to, and a profile hands
the plugin only the variables and flags the binding allows (SPEC §9, execProviderBindings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inventory.credentials.exec.reuse import ExecResult
from inventory.model.diagnostics import ObjectRef
from inventory.settings import ExecBinding, Settings, SettingsError, profile_env_refusal
from tests.unit.execplugin_support import (
    PROFILE_REF,
    PROVIDER,
    access,
    error_of,
    plugin,
    plugin_python,  # noqa: F401 (fixture)
    profile,
    provider_entry,
    recorded,
    resolve,
    resolve_one,
    stored_secret,
    write_providers,
)

pytestmark = pytest.mark.usefixtures("plugin_python")

ARGS_EXTENSION = "clusterprofiles.multicluster.x-k8s.io/exec/additional-args"
ENVS_EXTENSION = "clusterprofiles.multicluster.x-k8s.io/exec/additional-envs"
TENANT_REF = ObjectRef("ClusterProfile", "tenant-a", "prod")
# Listed in the binding below, yet never accepted from a profile.
NEVER_FROM_A_PROFILE = [
    "PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "PYTHONPATH", "PYTHONSTARTUP", "BASH_ENV",
    "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "BASH_FUNC_login", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB",
    "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "GCONV_PATH",
    "GLIBC_TUNABLES", "LOCPATH", "HOSTALIASES", "RES_OPTIONS", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
    "NO_PROXY", "https_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE", "KUBERNETES_EXEC_INFO", "KUBECONFIG", "HOME", "TMPDIR", "GIT_SSH_COMMAND",
    "PULUMI_CONFIG_PASSPHRASE",
]


def recording_provider(tmp_path: Path, **entry: object) -> tuple[Path, Path]:
    record = tmp_path / "record.json"
    env = {"PLUGIN_RECORD": str(record)}
    return write_providers(tmp_path, provider_entry(plugin("token.py"), env=env, **entry)), record  # type: ignore[arg-type]


def only(results: dict[ObjectRef, ExecResult], ref: ObjectRef) -> ExecResult:
    assert list(results) == [ref]
    return results[ref]


# --- which profiles a provider serves ----------------------------------------------------


def test_a_provider_without_a_binding_serves_no_profile(tmp_path: Path) -> None:
    provider_file, record = recording_provider(tmp_path)

    result = resolve_one(provider_file, profile(), bindings={})

    assert error_of(result) == (
        "no exec provider the profile lists serves it: exec provider 'fleet-token' refused: it serves no "
        "ClusterProfile until stack config execProviderBindings['fleet-token'] binds it"
    )
    assert not record.exists()


def test_a_profile_outside_the_bound_namespaces_is_refused_and_the_plugin_does_not_run(tmp_path: Path) -> None:
    provider_file, record = recording_provider(tmp_path)
    bindings = {PROVIDER: ExecBinding(namespaces=("fleet",))}

    result = only(resolve(provider_file, profile(namespace="tenant-a"), bindings=bindings), TENANT_REF)

    assert error_of(result) == (
        "no exec provider the profile lists serves it: exec provider 'fleet-token' refused: stack config "
        "execProviderBindings['fleet-token'] does not bind namespace tenant-a with this profile's labels "
        "(add the namespace, or the labels to its matchLabels, there to bind it)"
    )
    assert not record.exists()


def test_a_tenant_naming_the_operators_provider_and_its_own_server_gets_nothing(tmp_path: Path) -> None:
    provider_file, record = recording_provider(tmp_path, provide_cluster_info=True)
    tenant = profile(access(server="https://attacker.example:6443",
                            extensions={"client.authentication.k8s.io/exec": {"audience": "prod-us-1"}}),
                     namespace="tenant-a")

    result = only(resolve(provider_file, tenant, bindings={PROVIDER: ExecBinding(namespaces=("fleet",))}), TENANT_REF)

    assert result.kubeconfig is None and result.error is not None
    assert not record.exists()


def test_a_profile_in_a_bound_namespace_is_served(tmp_path: Path) -> None:
    provider_file, _ = recording_provider(tmp_path)

    result = resolve_one(provider_file, profile(), bindings={PROVIDER: ExecBinding(namespaces=("team-a",))})

    assert result.error is None and result.warning is None


def test_any_namespace_is_an_explicit_star(tmp_path: Path) -> None:
    provider_file, _ = recording_provider(tmp_path)

    result = only(resolve(provider_file, profile(namespace="tenant-a"),
                          bindings={PROVIDER: ExecBinding(namespaces=("*",))}), TENANT_REF)

    assert result.error is None


def test_a_profile_matching_every_label_of_the_selector_is_served(tmp_path: Path) -> None:
    provider_file, _ = recording_provider(tmp_path)
    bindings = {PROVIDER: ExecBinding(match_labels={"fleet.example.com/tier": "prod", "region": "eu"})}

    result = resolve_one(provider_file, profile(labels={"fleet.example.com/tier": "prod", "region": "eu"}),
                         bindings=bindings)

    assert result.error is None


def test_a_profile_matching_only_part_of_the_selector_is_refused(tmp_path: Path) -> None:
    provider_file, _ = recording_provider(tmp_path)
    bindings = {PROVIDER: ExecBinding(match_labels={"fleet.example.com/tier": "prod", "region": "eu"})}

    result = resolve_one(provider_file, profile(labels={"fleet.example.com/tier": "prod"}), bindings=bindings)

    assert "does not bind namespace team-a with this profile's labels" in error_of(result)


def test_the_first_bound_provider_in_file_order_is_used_and_the_refused_one_is_reported(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    provider_file = write_providers(
        tmp_path,
        provider_entry(plugin("token.py"), name="operator", args=["--operator"], env={"PLUGIN_RECORD": str(record)}),
        provider_entry(plugin("token.py"), name="team", args=["--team"], env={"PLUGIN_RECORD": str(record)}),
    )
    bindings = {"operator": ExecBinding(namespaces=("fleet",)), "team": ExecBinding(namespaces=("team-a",))}

    result = resolve_one(provider_file, profile(access("operator"), access("team")), bindings=bindings)

    assert result.error is None
    assert recorded(record)["argv"] == ["--team"]
    assert result.warning is not None
    assert result.warning.startswith("used a later provider the profile lists: exec provider 'operator' refused:")


def test_a_profile_refused_every_provider_names_each_of_them(tmp_path: Path) -> None:
    provider_file = write_providers(
        tmp_path, provider_entry(plugin("token.py"), name="one"), provider_entry(plugin("token.py"), name="two")
    )

    message = error_of(resolve_one(provider_file, profile(access("two"), access("one")), bindings={}))

    assert "exec provider 'one' refused" in message and "exec provider 'two' refused" in message
    assert message.index("'one'") < message.index("'two'")


def test_a_profile_listing_no_provider_of_the_file_gets_no_entry_even_when_unbound(tmp_path: Path) -> None:
    provider_file, _ = recording_provider(tmp_path)

    assert resolve(provider_file, profile(access("elsewhere")), bindings={}) == {}


def test_a_stored_credential_is_not_reused_once_the_binding_is_gone(tmp_path: Path) -> None:
    provider_file, _ = recording_provider(tmp_path)
    first = resolve_one(provider_file, profile())

    again = resolve_one(provider_file, profile(), secrets=[stored_secret(first)], bindings={})

    assert again.kubeconfig is None and again.error is not None


# --- what a profile may hand the plugin -----------------------------------------------------


def test_a_profile_variable_the_binding_lists_reaches_the_plugin(tmp_path: Path) -> None:
    provider_file, record = recording_provider(tmp_path, envs_policy="Replace")

    resolve_one(provider_file, profile(access(extensions={ENVS_EXTENSION: {"FLEET_TENANT": "t-1"}})),
                allowed=ExecBinding(profile_env=("FLEET_TENANT",)))

    assert recorded(record)["env"]["FLEET_TENANT"] == "t-1"


def test_a_profile_variable_the_binding_does_not_list_is_refused_by_name_not_value(tmp_path: Path) -> None:
    provider_file, record = recording_provider(tmp_path, envs_policy="Replace")

    result = resolve_one(provider_file, profile(access(extensions={ENVS_EXTENSION: {"AWS_ROLE_ARN": "arn:secret-role"}})),
                         allowed=ExecBinding(profile_env=("FLEET_TENANT",)))

    assert error_of(result) == (
        f"access provider 'fleet-token': extension {ENVS_EXTENSION}: variable 'AWS_ROLE_ARN' is not in stack config "
        "execProviderBindings['fleet-token'].profileEnv"
    )
    assert not record.exists()


@pytest.mark.parametrize("name", NEVER_FROM_A_PROFILE)
def test_a_profile_may_never_set_interpreter_loader_shell_proxy_or_job_variables_even_when_listed(
    tmp_path: Path, name: str
) -> None:
    provider_file, record = recording_provider(tmp_path, envs_policy="Replace")

    result = resolve_one(provider_file, profile(access(extensions={ENVS_EXTENSION: {name: "/tmp/evil"}})),
                         allowed=ExecBinding(profile_env=(name,)))

    assert error_of(result).startswith(f"access provider 'fleet-token': extension {ENVS_EXTENSION}: "
                                       f"a ClusterProfile may never set {name} (")
    assert "/tmp/evil" not in error_of(result)
    assert not record.exists()


@pytest.mark.parametrize("key", ["TOKEN=tk-7f3a9c", "BASH_FUNC_login%%"])
def test_a_profile_key_that_is_not_a_variable_name_is_refused_without_quoting_it(tmp_path: Path, key: str) -> None:
    provider_file, record = recording_provider(tmp_path, envs_policy="Replace")

    result = resolve_one(provider_file, profile(access(extensions={ENVS_EXTENSION: {key: "x"}})),
                         allowed=ExecBinding(profile_env=("TOKEN",)))

    assert error_of(result) == (f"access provider 'fleet-token': extension {ENVS_EXTENSION}: key #1 is not an "
                                "environment variable name (letters, digits and '_', not starting with a digit)")
    assert not record.exists()


def test_ignore_policy_drops_profile_variables_without_checking_them(tmp_path: Path) -> None:
    provider_file, record = recording_provider(tmp_path, envs_policy="Ignore")

    result = resolve_one(provider_file, profile(access(extensions={ENVS_EXTENSION: {"BASH_ENV": "/tmp/evil"}})))

    assert result.error is None
    assert "BASH_ENV" not in recorded(record)["env"]


def test_bash_env_from_a_profile_never_reaches_a_shell_script_plugin(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    startup = tmp_path / "startup.sh"
    startup.write_text(f"touch {marker}\n")
    ran = tmp_path / "ran"
    provider_file = write_providers(
        tmp_path, provider_entry(plugin("token.sh"), env={"PLUGIN_RECORD": str(ran)}, envs_policy="Replace"))

    result = resolve_one(provider_file, profile(access(extensions={ENVS_EXTENSION: {"BASH_ENV": str(startup)}})),
                         allowed=ExecBinding(profile_env=("BASH_ENV",)))

    assert "a ClusterProfile may never set BASH_ENV" in error_of(result)
    assert not ran.exists() and not marker.exists()


def test_bash_env_set_by_the_provider_file_does_run_so_the_refusal_above_is_what_stops_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    startup = tmp_path / "startup.sh"
    startup.write_text(f"touch {marker}\n")
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.sh"), env={"BASH_ENV": str(startup)}))

    assert resolve_one(provider_file, profile()).error is None
    assert marker.exists()


def test_a_profile_flag_with_its_value_after_an_equals_sign_passes_when_listed(tmp_path: Path) -> None:
    provider_file, record = recording_provider(tmp_path, args_policy="Append")

    resolve_one(provider_file, profile(access(extensions={ARGS_EXTENSION: ["--cluster=prod-1", "--verbose"]})),
                allowed=ExecBinding(profile_args=("--cluster", "--verbose")))

    assert recorded(record)["argv"] == ["--cluster=prod-1", "--verbose"]


def test_a_profile_flag_the_binding_does_not_list_is_refused_by_name_not_value(tmp_path: Path) -> None:
    provider_file, record = recording_provider(tmp_path, args_policy="Append")

    result = resolve_one(provider_file, profile(access(extensions={ARGS_EXTENSION: ["--cluster=a", "--role=arn:x"]})),
                         allowed=ExecBinding(profile_args=("--cluster",)))

    assert error_of(result) == (
        f"access provider 'fleet-token': extension {ARGS_EXTENSION}: argument #2: flag '--role' is not in stack "
        "config execProviderBindings['fleet-token'].profileArgs"
    )
    assert not record.exists()


def test_a_value_in_an_argument_of_its_own_is_refused_without_quoting_it(tmp_path: Path) -> None:
    provider_file, record = recording_provider(tmp_path, args_policy="Append")

    result = resolve_one(provider_file, profile(access(extensions={ARGS_EXTENSION: ["--cluster", "prod-us-1"]})),
                         allowed=ExecBinding(profile_args=("--cluster",)))

    assert error_of(result) == (
        f"access provider 'fleet-token': extension {ARGS_EXTENSION}: argument #2 is not of the form --flag or "
        "--flag=value (a value goes with its flag after '=', never in an argument of its own)"
    )
    assert not record.exists()


def test_a_short_flag_is_refused(tmp_path: Path) -> None:
    provider_file, _ = recording_provider(tmp_path, args_policy="Append")

    result = resolve_one(provider_file, profile(access(extensions={ARGS_EXTENSION: ["-c=prod"]})),
                         allowed=ExecBinding(profile_args=("--cluster",)))

    assert "argument #1 is not of the form --flag or --flag=value" in error_of(result)


# --- the bindings in stack config ------------------------------------------------------------


def bindings_config(**binding: object) -> dict[str, object]:
    return {"execProviderBindings": {"fleet-token": {"namespaces": ["fleet"], **binding}}}


def test_bindings_are_read_from_stack_config() -> None:
    settings = Settings.from_mapping(bindings_config(matchLabels={"tier": "prod"}, profileEnv=["FLEET_TENANT"],
                                                     profileArgs=["--cluster"]))

    assert settings.exec_provider_bindings == {"fleet-token": ExecBinding(
        namespaces=("fleet",), match_labels={"tier": "prod"}, profile_env=("FLEET_TENANT",),
        profile_args=("--cluster",))}


@pytest.mark.parametrize("name", ["BASH_ENV", "LD_PRELOAD", "https_proxy", "KUBECONFIG"])
def test_a_binding_listing_a_variable_no_profile_may_set_is_refused_with_the_reason(name: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_mapping(bindings_config(profileEnv=[name]))

    assert str(raised.value) == (f"execProviderBindings['fleet-token'].profileEnv: {name} can never come from a "
                                 f"ClusterProfile: {profile_env_refusal(name)}")


def test_a_binding_listing_something_that_is_not_a_variable_name_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"profileEnv: 'FLEET-TENANT' is not an environment variable name"):
        Settings.from_mapping(bindings_config(profileEnv=["FLEET-TENANT"]))


@pytest.mark.parametrize("flag", ["cluster", "-c", "--cluster=prod", "--"])
def test_a_binding_flag_must_be_a_long_flag_name(flag: str) -> None:
    with pytest.raises(SettingsError, match=r"profileArgs: .* is not a flag name of the form --name"):
        Settings.from_mapping(bindings_config(profileArgs=[flag]))


def test_every_denied_variable_has_a_reason() -> None:
    assert all(profile_env_refusal(name) for name in NEVER_FROM_A_PROFILE)
    assert profile_env_refusal("FLEET_TENANT") is None


def test_results_of_refused_profiles_are_keyed_by_the_profile_ref(tmp_path: Path) -> None:
    provider_file, _ = recording_provider(tmp_path)

    assert list(resolve(provider_file, profile(), bindings={})) == [PROFILE_REF]
