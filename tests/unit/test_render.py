"""The render CLI (SPEC §5): apply-able output in plan order, redaction, diagnostics and exit status."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inventory.render import main
from tests.unit.inventory_support import FIXTURES

BASIC = str(FIXTURES / "basic")
# The routes an operator declares for BASIC: without them, nothing crosses a namespace (test_trust.py).
BASIC_ROUTES = FIXTURES / "basic-routes.yaml"
ROOT = Path(__file__).resolve().parent.parent.parent


def render(*argv: str) -> tuple[int, str, str]:
    """``render`` with ``argv``; BASIC without a config file gets its routes."""
    args = list(argv)
    if BASIC in args and "--config" not in args:
        args += ["--config", str(BASIC_ROUTES)]
    out, err = io.StringIO(), io.StringIO()
    status = main(args, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def write_config(tmp_path: Path, text: str) -> str:
    """A config file of BASIC's routes and ``text``."""
    path = tmp_path / "config.yaml"
    path.write_text(BASIC_ROUTES.read_text() + text)
    return str(path)


def test_render_prints_apply_able_yaml_in_plan_order() -> None:
    status, out, err = render("--from-dir", BASIC)
    assert (status, err) == (0, "")
    documents = list(yaml.safe_load_all(out))
    assert [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in documents] == [
        ("Secret", "fleet", "edge-1-sveltos-kubeconfig"),
        ("Secret", "fleet", "prod-1-sveltos-kubeconfig"),
        ("Secret", "team-a", "fleet-east-dev-1-kubeconfig"),
        ("Secret", "team-a", "fleet-prod-1-kubeconfig"),
        ("Secret", "team-b", "fleet-east-dev-1-kubeconfig"),
        ("Secret", "team-b", "fleet-prod-1-kubeconfig"),
        ("SveltosCluster", "fleet", "edge-1"),
        ("SveltosCluster", "fleet", "prod-1"),
    ]
    assert documents[6]["spec"] == {"kubeconfigName": "edge-1-sveltos-kubeconfig", "kubeconfigKeyName": "config"}


def test_credentials_are_redacted_by_default() -> None:
    _, out, _ = render("--from-dir", BASIC)
    assert "token-0123456789" not in out
    secrets = [d for d in yaml.safe_load_all(out) if d["kind"] == "Secret"]
    assert all(set(d["data"].values()) == {"<redacted>"} for d in secrets)


def test_show_secrets_prints_the_base64_credentials() -> None:
    _, out, _ = render("--from-dir", BASIC, "--show-secrets")
    push = next(d for d in yaml.safe_load_all(out) if d["metadata"]["name"] == "fleet-prod-1-kubeconfig")
    assert b"prod-1-token-0123456789" in base64.b64decode(push["data"]["config"])


def test_json_output_is_a_list_in_the_same_order() -> None:
    _, yaml_out, _ = render("--from-dir", BASIC)
    status, json_out, _ = render("--from-dir", BASIC, "-o", "json")
    listing = json.loads(json_out)
    assert status == 0 and (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    assert listing["items"] == list(yaml.safe_load_all(yaml_out))


def test_warnings_go_to_stderr_one_line_each_and_rendering_still_succeeds(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata: {name: c1, namespace: mgmt, labels: "
        "{clusterprofile-name: c1, clusterprofile-namespace: fleet}}\n---\napiVersion: multicluster.x-k8s.io/v1alpha1\n"
        "kind: ClusterProfile\n"
        "metadata: {name: p, namespace: fleet}\n"
    )
    status, out, err = render("--from-dir", str(tmp_path), "--config", str(BASIC_ROUTES))
    assert (status, out) == (0, "")
    assert err.splitlines() == [
        (
            "warning: Cluster mgmt/c1: skipped: no kubeconfig Secret in namespace mgmt "
            "(labelled cluster.x-k8s.io/cluster-name=c1, named *-kubeconfig)"
        ),
        (
            "warning: ClusterProfile fleet/p: skipped, no usable credentials: no kubeconfig-secretreader provider; "
            "no exec provider; no Secret labelled x-k8s.io/cluster-profile=p in namespace fleet"
        ),
    ]


def test_strict_fails_on_any_warning(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata: {name: c1, namespace: mgmt, labels: "
        "{clusterprofile-name: c1}}\n"
    )
    assert render("--from-dir", str(tmp_path), "--strict")[0] == 1
    assert render("--from-dir", BASIC, "--strict")[0] == 0


def test_malformed_input_file_exits_2_and_renders_nothing() -> None:
    status, out, err = render("--from-dir", str(FIXTURES / "malformed-yaml"))
    assert (status, out) == (2, "")
    assert err.startswith("error: File broken.yaml: document 2: not valid YAML")


def test_missing_directory_exits_2(tmp_path: Path) -> None:
    status, out, err = render("--from-dir", str(tmp_path / "missing"))
    assert (status, out) == (2, "")
    assert "does not exist" in err


def test_unreadable_kubeconfig_exits_2(tmp_path: Path) -> None:
    status, _, err = render("--kubeconfig", str(tmp_path / "no-such-kubeconfig"))
    assert status == 2
    assert err.startswith("error: kubeconfig file") and "does not exist" in err


def test_config_file_keys_apply(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sveltosMode: 'off'\npushSecretKey: kubeconfig\n")
    _, out, _ = render("--from-dir", BASIC, "--config", config)
    documents = list(yaml.safe_load_all(out))
    assert {d["kind"] for d in documents} == {"Secret"}
    assert all(list(d["data"]) == ["kubeconfig"] for d in documents)


def test_unknown_config_key_exits_2(tmp_path: Path) -> None:
    status, out, err = render("--from-dir", BASIC, "--config", write_config(tmp_path, "pushModes: direct\n"))
    assert (status, out, err) == (2, "", "error: config: unknown config key 'pushModes' (did you mean 'pushMode'?)\n")


def test_config_file_that_is_not_yaml_exits_2(tmp_path: Path) -> None:
    status, _, err = render("--from-dir", BASIC, "--config", write_config(tmp_path, "pushMode: [direct\n"))
    assert status == 2 and "not valid YAML" in err


def test_config_file_that_is_not_a_mapping_exits_2(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- pushMode\n")
    status, _, err = render("--from-dir", BASIC, "--config", str(tmp_path / "list.yaml"))
    assert status == 2 and "expected a mapping of config keys, got list" in err


def test_inventory_source_may_come_from_the_config_file(tmp_path: Path) -> None:
    assert render("--config", write_config(tmp_path, f"inventoryDir: {BASIC}\n")) == render("--from-dir", BASIC)


def test_from_dir_and_kubeconfig_exclude_each_other() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--from-dir", BASIC, "--kubeconfig", "k"], stderr=io.StringIO())
    assert exit_info.value.code == 2


def test_exec_provider_credentials_are_rendered(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"execProviderFile: {FIXTURES / 'exec' / 'providers.json'}\n"
                                    "execProviderBindings: {fleet-token: {namespaces: [fleet]}}\n")
    status, out, err = render("--from-dir", str(FIXTURES / "render-exec"), "--config", config, "--show-secrets",
                              "--run-exec-plugins")
    assert (status, err) == (0, "")
    secret = next(d for d in yaml.safe_load_all(out) if d["kind"] == "Secret")
    kubeconfig = yaml.safe_load(base64.b64decode(secret["data"]["kubeconfig"]))
    assert kubeconfig["users"][0]["user"]["token"] == "plugin-token-7f3a9c1e5b2d"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://edge-2.example:6443"


def test_render_runs_no_exec_plugin_by_default_and_reports_each_profile_it_would_serve(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    providers = tmp_path / "providers.json"
    (provider,) = [p for p in json.loads((FIXTURES / "exec" / "providers.json").read_text())["providers"]
                   if p["name"] == "fleet-token"]
    provider["execConfig"] = {**provider["execConfig"], "command": "/bin/sh",
                              "args": ["-c", f"touch {marker}; exit 1"]}
    providers.write_text(json.dumps({"providers": [provider]}))
    config = write_config(tmp_path, f"execProviderFile: {providers}\n"
                                    "execProviderBindings: {fleet-token: {namespaces: [fleet]}}\n")
    status, out, err = render("--from-dir", str(FIXTURES / "render-exec"), "--config", config, "--show-secrets")
    assert status == 0 and not marker.exists()
    assert not [d for d in yaml.safe_load_all(out) if d and d["kind"] in ("Secret", "SveltosCluster")]
    (line,) = err.splitlines()
    assert line.startswith("warning: ClusterProfile fleet/edge-2: ")
    assert "exec provider 'fleet-token' not run: render runs no plugin unless --run-exec-plugins" in line


def test_an_exec_profile_its_provider_is_not_bound_to_gets_nothing_and_is_reported(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"execProviderFile: {FIXTURES / 'exec' / 'providers.json'}\n"
                                    "execProviderBindings: {fleet-token: {namespaces: [platform]}}\n")
    status, out, err = render("--from-dir", str(FIXTURES / "render-exec"), "--config", config, "--show-secrets",
                              "--run-exec-plugins")
    assert status == 0
    assert not [d for d in yaml.safe_load_all(out) if d and d["kind"] in ("Secret", "SveltosCluster")]
    assert err.startswith("warning: ClusterProfile fleet/edge-2: skipped, no usable credentials:")
    assert ("exec provider 'fleet-token' refused: stack config execProviderBindings['fleet-token'] does not bind "
            "namespace fleet with this profile's labels") in err


def test_unusable_provider_file_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"execProviderFile: {FIXTURES / 'exec' / 'not-json.json'}\n")
    status, out, err = render("--from-dir", str(FIXTURES / "render-exec"), "--config", config)
    assert (status, out) == (2, "")
    assert err.startswith("error: config: execProviderFile:")


def test_events_mode_renders_event_framework_objects(tmp_path: Path) -> None:
    config = write_config(tmp_path, "pushMode: events\nsveltosMode: 'off'\n")
    status, out, _ = render("--from-dir", BASIC, "--config", config)
    kinds = {d["kind"] for d in yaml.safe_load_all(out)}
    assert status == 0 and {"EventSource", "EventTrigger", "ConfigMap"} <= kinds and "Secret" not in kinds


def test_python_dash_m_inventory_render_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "inventory", "render", "--from-dir", BASIC, "--config", str(BASIC_ROUTES), "-o", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["items"]) == 8


def test_python_dash_m_inventory_without_a_command_prints_usage() -> None:
    result = subprocess.run([sys.executable, "-m", "inventory"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and result.stderr.startswith("usage: python -m inventory [-h] [--version] {render,deploy,reshard,rbac}")


def test_render_shows_published_cluster_profiles_with_their_status(tmp_path: Path) -> None:
    config = write_config(tmp_path, "clusterProfileMode: direct\npushMode: 'off'\nsveltosMode: 'off'\n")
    status, out, err = render("--from-dir", BASIC, "--config", config)
    assert status == 0
    profiles = {d["metadata"]["name"]: d for d in yaml.safe_load_all(out) if d["kind"] == "ClusterProfile"}
    assert set(profiles) == {"dev-1"}  # prod-1's profile belongs to another cluster manager: left alone
    assert profiles["dev-1"]["status"]["conditions"][0]["type"] == "ControlPlaneHealthy"
    assert profiles["dev-1"]["status"]["accessProviders"][0]["name"] == "kubeconfig-secretreader"
    assert "Cluster mgmt/prod-1: skipped: ClusterProfile fleet/prod-1 exists and names cluster manager" in err


def test_a_config_key_given_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    # pulumi refuses such a stack file; PyYAML alone would keep the second value silently.
    (tmp_path / "twice.yaml").write_text("pushMode: direct\nsveltosMode: 'off'\npushMode: 'off'\n")
    status, _, err = render("--from-dir", BASIC, "--config", str(tmp_path / "twice.yaml"))
    assert status == 2 and "mapping key 'pushMode' is given twice at line 3, column 1" in err
