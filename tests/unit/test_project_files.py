"""The project's own files agree with each other: config schema, settings, pins."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from inventory.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def _versions() -> dict[str, str]:
    pins = {}
    for line in (REPO / "tools" / "versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key] = value
    return pins


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)$", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_pulumi_yaml_declares_exactly_the_settings_keys() -> None:
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    keys = {key.split(":", 1)[1] for key in declared}
    assert keys == set(Settings.config_keys())


def test_pulumi_yaml_defaults_are_the_settings_defaults() -> None:
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    defaults = {key.split(":", 1)[1]: spec["default"] for key, spec in declared.items()}
    from_yaml = Settings.from_mapping({k: v for k, v in defaults.items() if v not in ("", None)})
    assert from_yaml == Settings()


def test_every_config_key_has_a_description() -> None:
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    assert all(spec.get("description") for spec in declared.values())


def test_python_sdks_match_the_built_cli_and_provider() -> None:
    versions, requirements = _versions(), _requirements()
    assert requirements["pulumi"] == versions["PULUMI_VERSION"]
    assert requirements["pulumi-kubernetes"] == versions["PULUMI_KUBERNETES_VERSION"]


def test_every_stack_file_holds_valid_settings() -> None:
    for path in (REPO / "stacks").glob("Pulumi.*.yaml"):
        config = yaml.safe_load(path.read_text())["config"]
        Settings.from_mapping({key.split(":", 1)[1]: value for key, value in config.items()})


def test_language_host_is_built_against_the_sdk_of_the_pinned_cli() -> None:
    go_mod = (REPO / "tools" / "go" / "language-python" / "go.mod").read_text()
    assert f"github.com/pulumi/pulumi/sdk/v3 v{_versions()['PULUMI_VERSION']}\n" in go_mod


def test_workflows_install_the_pinned_cli_with_the_official_action() -> None:
    for path in (REPO / ".github" / "workflows").glob("*.yml"):
        steps = [step for job in yaml.safe_load(path.read_text())["jobs"].values() for step in job["steps"]]
        pulumi_steps = [s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
        assert len(pulumi_steps) == 1, path.name
        assert pulumi_steps[0]["with"]["pulumi-version"] == _versions()["PULUMI_VERSION"], path.name


def test_pulumi_yaml_runs_the_program_in_the_makefiles_virtualenv() -> None:
    runtime = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["runtime"]
    venv = re.search(r"^VENV := (\S+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert runtime["name"] == "python" and venv is not None
    assert runtime["options"] == {"toolchain": "pip", "virtualenv": venv.group(1)}


def _go_requires(wrapper: str) -> dict[str, str]:
    text = (REPO / "tools" / "go" / wrapper / "go.mod").read_text()
    return dict(re.findall(r"^\s*(?:require\s+)?(github\.com/projectsveltos/[\w.-]+) (v\S+)", text, re.MULTILINE))


def test_sveltos_wrappers_pin_the_versions_of_versions_env() -> None:
    versions = _versions()
    sveltos, crds = _go_requires("sveltos"), _go_requires("crds")
    assert sveltos["github.com/projectsveltos/event-manager"] == versions["EVENT_MANAGER_VERSION"]
    assert sveltos["github.com/projectsveltos/addon-controller"] == versions["ADDON_CONTROLLER_VERSION"]
    assert sveltos["github.com/projectsveltos/libsveltos"] == versions["LIBSVELTOS_VERSION"]
    assert crds["github.com/projectsveltos/event-manager"] == versions["EVENT_MANAGER_VERSION"]
    assert crds["github.com/projectsveltos/libsveltos"] == versions["LIBSVELTOS_VERSION"]
    # The version the stand-in agent announces is the controllers' (tools/cluster.py).
    assert f'SVELTOS_VERSION = "{versions["EVENT_MANAGER_VERSION"]}"' in (REPO / "tools" / "cluster.py").read_text()


def test_clusterprofile_consumer_pins_the_versions_of_versions_env() -> None:
    """The consumer library and plugin are the cluster-inventory-api whose CRD is installed, and
    the engage rule cites the multicluster-runtime tag whose provider it follows."""
    versions = _versions()
    for wrapper in ("clusterprofile-consumer", "crds"):
        go_mod = (REPO / "tools" / "go" / wrapper / "go.mod").read_text()
        assert f"sigs.k8s.io/cluster-inventory-api {versions['CLUSTER_INVENTORY_API_VERSION']}\n" in go_mod, wrapper
    consumer = (REPO / "tools" / "go" / "clusterprofile-consumer" / "main.go").read_text()
    assert f"provider.go at {versions['MULTICLUSTER_RUNTIME_VERSION']})" in consumer


def _workflow(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    return document


def test_the_deploy_workflow_sets_what_a_fleet_sized_stack_needs() -> None:
    job = _workflow("deploy.yml")["jobs"]["deploy"]
    assert job["env"]["PULUMI_SKIP_CHECKPOINTS"] == "true"  # the program stops an update past 500 objects
    assert job["env"]["PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS"] == "true"
    names = [step.get("name") for step in job["steps"]]
    assert "No automatic CLI log" in names
    assert names[-1] == "Held-back deletions"


def test_both_workflows_run_one_job_per_shard_stack_with_a_tool_cache() -> None:
    for name, job_name in (("deploy.yml", "deploy"), ("preview.yml", "preview")):
        job = _workflow(name)["jobs"][job_name]
        assert "CLUSTER_INVENTORY_STACKS" in job["strategy"]["matrix"]["stack"], name
        assert job["strategy"]["fail-fast"] is False and "matrix.stack" in job["concurrency"]["group"], name
        caches = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache@")]
        assert caches and caches[0]["with"]["path"] == "~/.cache/cluster-inventory", name
        assert "AIR_GAPPED" in str(job["timeout-minutes"]), name
