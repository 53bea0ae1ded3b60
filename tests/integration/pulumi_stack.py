"""Test support: run a Pulumi program through the real CLI with a local file backend.

The Python program runs inline (Automation API): the SDK serves the language
runtime itself and the real `pulumi` CLI drives the real kubernetes provider.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pulumi import automation as auto

from inventory.stack.driver import pulumi_command
from tests.integration.controlplane import tools_env

PASSPHRASE = "test-passphrase-not-a-secret"


def local_backend_env(workdir: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The Pulumi variables of the tools environment, plus a file backend under ``workdir``."""
    state = workdir / "state"
    state.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in tools_env().items() if k.startswith("PULUMI_")}
    env.update({"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE, "PULUMI_BACKEND_URL": f"file://{state}"})
    env.update(extra_env or {})
    return env


def workspace_options(workdir: Path, env: dict[str, str], **settings: object) -> auto.LocalWorkspaceOptions:
    return auto.LocalWorkspaceOptions(
        work_dir=str(workdir),
        pulumi_home=env["PULUMI_HOME"],
        env_vars=env,
        pulumi_command=pulumi_command(tools_env()["PATH"]),
        secrets_provider="passphrase",
        **settings,  # type: ignore[arg-type]
    )


def inline_stack(
    workdir: Path, project: str, stack: str, program: Callable[[], None], extra_env: dict[str, str] | None = None
) -> auto.Stack:
    env = local_backend_env(workdir, extra_env)
    settings = auto.ProjectSettings(name=project, runtime="python",
                                    backend=auto.ProjectBackend(url=env["PULUMI_BACKEND_URL"]))
    opts = workspace_options(workdir, env, project_settings=settings)
    return auto.create_or_select_stack(stack_name=stack, project_name=project, program=program, opts=opts)


def resource_changes(result: auto.UpResult | auto.PreviewResult) -> dict[str, int]:
    """What a preview or an update did, by kind of change ("same", "update", "create" ...)."""
    if isinstance(result, auto.PreviewResult):
        return dict(result.change_summary)
    return dict(result.summary.resource_changes or {})
