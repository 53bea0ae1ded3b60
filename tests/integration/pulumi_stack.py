"""Test support: run a Pulumi program through the real CLI with a local file backend.

The Python program runs inline (Automation API): the SDK serves the language
runtime itself and the real `pulumi` CLI drives the real kubernetes provider.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pulumi import automation as auto

from tests.integration.controlplane import CACHE, PULUMI_HOME, tools_env

PASSPHRASE = "test-passphrase-not-a-secret"


def pulumi_root() -> Path:
    return next((CACHE / "tools").glob("pulumi-3.*"))


def inline_stack(
    workdir: Path, project: str, stack: str, program: Callable[[], None], extra_env: dict[str, str] | None = None
) -> auto.Stack:
    state = workdir / "state"
    state.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in tools_env().items() if k.startswith("PULUMI_")}
    env.update({"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE, "PULUMI_BACKEND_URL": f"file://{state}"})
    env.update(extra_env or {})
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(workdir),
        pulumi_home=str(PULUMI_HOME),
        env_vars=env,
        pulumi_command=auto.PulumiCommand(root=str(pulumi_root()), skip_version_check=True),
        project_settings=auto.ProjectSettings(
            name=project, runtime="python", backend=auto.ProjectBackend(url=f"file://{state}")),
        secrets_provider="passphrase",
    )
    return auto.create_or_select_stack(stack_name=stack, project_name=project, program=program, opts=opts)
