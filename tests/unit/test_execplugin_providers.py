"""The exec-provider file, and which of its providers a ClusterProfile uses (SPEC §3 B.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inventory.credentials.exec.provider_file import (
    ArgsPolicy,
    EnvsPolicy,
    ProviderFileError,
    load_providers,
)
from inventory.credentials.exec.resolve import resolve_exec_credentials
from inventory.model.inventory import Inventory, Secret
from inventory.settings import Settings
from tests.unit.execplugin_support import (
    FIXTURES,
    NOW,
    PLUGINS,
    PROFILE_REF,
    access,
    plugin,
    plugin_python,  # noqa: F401 (fixture)
    profile,
    provider_entry,
    recorded,
    resolve,
    resolve_one,
    write_providers,
)

pytestmark = pytest.mark.usefixtures("plugin_python")


def test_provider_fields_are_read_from_the_file() -> None:
    fleet = load_providers(FIXTURES / "providers.json")[1]

    assert fleet.name == "fleet-token"
    assert fleet.api_version == "client.authentication.k8s.io/v1"
    assert fleet.args == ("--audience", "fleet")
    assert fleet.env == (("FLEET_REGION", "eu-west-1"),)
    assert fleet.provide_cluster_info is True
    assert fleet.args_policy is ArgsPolicy.APPEND
    assert fleet.envs_policy is EnvsPolicy.APPEND_IF_NOT_EXISTS


def test_policies_default_to_ignore() -> None:
    cloud_cli = load_providers(FIXTURES / "providers.json")[2]

    assert cloud_cli.args_policy is ArgsPolicy.IGNORE
    assert cloud_cli.envs_policy is EnvsPolicy.IGNORE
    assert cloud_cli.provide_cluster_info is False


def test_relative_command_is_resolved_against_the_provider_file_directory() -> None:
    fleet = load_providers(FIXTURES / "providers.json")[1]

    assert fleet.command == str(PLUGINS / "token.py")


def test_bare_command_is_left_for_a_path_lookup() -> None:
    cloud_cli = load_providers(FIXTURES / "providers.json")[2]

    assert cloud_cli.command == "cloud-cli"


def test_provider_file_that_is_not_json_is_an_error_naming_the_file() -> None:
    path = FIXTURES / "not-json.json"

    with pytest.raises(ProviderFileError, match=r"not valid JSON") as raised:
        load_providers(path)

    assert str(path) in str(raised.value)


def test_missing_provider_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ProviderFileError, match=r"absent\.json: cannot be read"):
        load_providers(tmp_path / "absent.json")


def test_unknown_args_policy_is_an_error_naming_the_provider() -> None:
    with pytest.raises(ProviderFileError, match=r"provider 'fleet-token': profileSourcedCLIArgsPolicy 'Prepend' is not one of Append, Ignore"):
        load_providers(FIXTURES / "unknown-args-policy.json")


def test_unknown_envs_policy_is_an_error_naming_the_provider() -> None:
    with pytest.raises(ProviderFileError, match=r"provider 'fleet-token': profileSourcedEnvVarsPolicy 'Merge' is not one of"):
        load_providers(FIXTURES / "unknown-envs-policy.json")


def test_missing_command_is_an_error_naming_the_file_and_provider() -> None:
    path = FIXTURES / "missing-command.json"

    with pytest.raises(ProviderFileError, match=r"provider 'fleet-token': execConfig.command is required") as raised:
        load_providers(path)

    assert str(path) in str(raised.value)


def test_unknown_api_version_is_an_error() -> None:
    with pytest.raises(ProviderFileError, match=r"execConfig.apiVersion 'client.authentication.k8s.io/v1alpha1'"):
        load_providers(FIXTURES / "unknown-api-version.json")


def test_interactive_mode_always_is_an_error_because_no_terminal_exists() -> None:
    with pytest.raises(ProviderFileError, match=r"interactiveMode 'Always'.*without a terminal"):
        load_providers(FIXTURES / "interactive-always.json")


def test_a_provider_listed_twice_is_an_error() -> None:
    with pytest.raises(ProviderFileError, match=r"provider 'fleet-token': listed twice"):
        load_providers(FIXTURES / "duplicate-names.json")


def test_resolving_with_a_bad_provider_file_raises() -> None:
    with pytest.raises(ProviderFileError):
        resolve(FIXTURES / "unknown-args-policy.json", profile())


def test_without_a_provider_file_nothing_is_resolved() -> None:
    inventory = Inventory(profiles=(profile(),))

    assert resolve_exec_credentials(inventory, Settings(), NOW) == {}


def test_first_provider_in_file_order_is_used(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    provider_file = write_providers(
        tmp_path,
        provider_entry(plugin("token.py"), name="first", args=["--from-first"], env={"PLUGIN_RECORD": str(record)}),
        provider_entry(plugin("token.py"), name="second", args=["--from-second"], env={"PLUGIN_RECORD": str(record)}),
    )

    resolve_one(provider_file, profile(access("second"), access("first")))

    assert recorded(record)["argv"] == ["--from-first"]


def test_access_providers_win_over_credential_providers(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))
    cluster_profile = profile(
        access(server="https://current.example.com"),
        credential_providers=[access(server="https://deprecated.example.com")],
    )

    result = resolve_one(provider_file, cluster_profile)

    assert result.kubeconfig is not None
    assert b"https://current.example.com" in result.kubeconfig


def test_credential_providers_are_used_when_access_providers_lack_the_name(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))
    cluster_profile = profile(
        access("unrelated-provider"),
        credential_providers=[access(server="https://deprecated.example.com")],
    )

    result = resolve_one(provider_file, cluster_profile)

    assert result.kubeconfig is not None
    assert b"https://deprecated.example.com" in result.kubeconfig


def test_kubeconfig_secretreader_in_the_file_is_never_run(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    provider_file = write_providers(
        tmp_path,
        provider_entry(plugin("token.py"), name="kubeconfig-secretreader", env={"PLUGIN_RECORD": str(record)}),
    )

    results = resolve(provider_file, profile(access("kubeconfig-secretreader")))

    assert results == {}
    assert not record.exists()


def test_profile_with_a_usable_secretreader_gets_no_entry(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))
    reader = access("kubeconfig-secretreader", extensions={"client.authentication.k8s.io/exec": {"name": "src", "key": "value"}})
    source = Secret(namespace="team-a", name="src", data={"value": b"apiVersion: v1\nkind: Config\n"})

    results = resolve(provider_file, profile(reader, access()), secrets=[source])

    assert results == {}


def test_profile_whose_secretreader_source_is_missing_still_runs_its_plugin(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))
    reader = access("kubeconfig-secretreader", extensions={"client.authentication.k8s.io/exec": {"name": "src", "key": "value"}})

    result = resolve_one(provider_file, profile(reader, access()))

    assert result.error is None


def test_profile_whose_secretreader_source_is_refused_still_runs_its_plugin(tmp_path: Path) -> None:
    # The planner refuses a Secret of another namespace without a route, and one with runnable
    # credentials: the exec provider must have run for the profile to get credentials at all.
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))
    elsewhere = access("kubeconfig-secretreader", extensions={
        "client.authentication.k8s.io/exec": {"namespace": "capi", "name": "src", "key": "value"}})
    runnable = access("kubeconfig-secretreader", extensions={
        "client.authentication.k8s.io/exec": {"name": "exec-src", "key": "value"}})
    sources = [Secret(namespace="capi", name="src", data={"value": b"apiVersion: v1\nkind: Config\n"}),
               Secret(namespace="team-a", name="exec-src",
                      data={"value": b"users:\n- name: u\n  user:\n    exec: {command: /bin/sh}\n"})]

    for reader in (elsewhere, runnable):
        assert resolve_one(provider_file, profile(reader, access()), secrets=sources).error is None


def test_profile_listing_no_provider_of_the_file_gets_no_entry(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))

    assert resolve(provider_file, profile(access("some-other-provider"))) == {}


def test_results_are_keyed_by_the_profile_ref(tmp_path: Path) -> None:
    provider_file = write_providers(tmp_path, provider_entry(plugin("token.py")))

    assert list(resolve(provider_file, profile())) == [PROFILE_REF]
