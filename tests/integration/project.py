"""Test support: the project's own Pulumi program as a stack, driven by the real CLI.

Each stack gets its own work directory laid out as the project (a copy of Pulumi.yaml;
__main__.py, inventory/, provider/ and .venv linked from the repository), a local file backend and
the passphrase secrets provider. The program runs as `pulumi up` runs it: the CLI starts
the Python language host, which runs __main__.py in the project's virtualenv (the
Automation API only drives the CLI here; the program is not inline). Everything the CLI
prints is kept so tests can look for leaked credentials in it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from tests.integration.controlplane import REPO
from tests.integration.pulumi_stack import local_backend_env, workspace_options
from tests.seed_routes import SEED_ROUTES_CONFIG


def project_dir(workdir: Path) -> Path:
    """``workdir`` made into this project's directory, with its own (empty) stacks/."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Pulumi.yaml", workdir / "Pulumi.yaml")
    for name in ("__main__.py", "inventory", "provider", ".venv"):
        if not (workdir / name).exists():
            (workdir / name).symlink_to(REPO / name)
    (workdir / "stacks").mkdir(exist_ok=True)
    return workdir


class ProjectStack:
    """The project as a stack. ``routes``: the trust routes it starts with; the feature tests describe
    the behaviour before SPEC §9 and start with ``SEED_ROUTES_CONFIG`` (tests/seed_routes.py)."""

    def __init__(self, workdir: Path, name: str = "test", routes: dict[str, Any] | None = None) -> None:
        self.workdir, self.name = workdir, name
        project_dir(workdir)
        self.env = local_backend_env(workdir)
        self.output: list[str] = []
        self.stack = auto.create_or_select_stack(stack_name=name, work_dir=str(workdir),
                                                 opts=workspace_options(workdir, self.env))
        self.configure(**(SEED_ROUTES_CONFIG if routes is None else routes))

    def configure(self, **values: Any) -> None:
        """Set config keys (camelCase, without the project prefix); None removes a key.

        Written straight into the stack's config file so lists and maps keep their
        YAML types, as `pulumi config set --path` would store them.
        """
        path = self.workdir / "stacks" / f"Pulumi.{self.name}.yaml"
        document = yaml.safe_load(path.read_text()) if path.exists() else None
        document = document or {}
        config = document.setdefault("config", {})
        for key, value in values.items():
            if value is None:
                config.pop(f"cluster-inventory:{key}", None)
            else:
                config[f"cluster-inventory:{key}"] = value
        path.write_text(yaml.safe_dump(document))

    def configure_secret(self, key: str, value: Any) -> None:
        """Set a config key as a Pulumi secret (encrypted in the stack's config file)."""
        text = value if isinstance(value, str) else json.dumps(value)
        self.stack.set_config(f"cluster-inventory:{key}", auto.ConfigValue(value=text, secret=True))

    def _echo(self, line: str) -> None:
        self.output.append(line)

    def up(self) -> auto.UpResult:
        return self.stack.up(on_output=self._echo, color="never")

    def preview(self) -> auto.PreviewResult:
        return self.stack.preview(on_output=self._echo, diff=True, color="never")

    def destroy(self) -> None:
        self.stack.destroy(on_output=self._echo, color="never")

    def state_text(self) -> str:
        """What `pulumi stack export` prints, plus the state file at rest.

        (The Automation API's export_stack adds --show-secrets, so it is not used here.)
        """
        exported = subprocess.run(
            [self.stack.workspace.pulumi_command.command, "stack", "export", "--stack", self.name],
            cwd=self.workdir, env={**os.environ, **self.env}, capture_output=True, text=True, check=True,
        ).stdout
        at_rest = "".join(p.read_text() for p in (self.workdir / "state").rglob("*.json"))
        return exported + at_rest

    def managed_resources(self) -> set[str]:
        """``Kind/namespace/name`` of every kubernetes object in the stack's state."""
        resources = self.stack.export_stack().deployment.get("resources", [])
        names = set()
        for resource in resources:
            if resource["type"].startswith("kubernetes:") and resource["type"] != "pulumi:providers:kubernetes":
                names.add(resource["urn"].rsplit("::", 1)[1])
        return names
