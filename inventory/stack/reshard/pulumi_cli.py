"""The plain `pulumi` CLI, for what the Automation API does not offer (`pulumi state move`) or
offers only through files (`pulumi stack export`/`import` of a whole state)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inventory.stack.driver import cli_environment, pulumi_command

# How the CLI says a stack is busy: a self-managed backend's lock file, Pulumi Cloud's update in progress.
LOCKED_MESSAGES = ("is currently locked", "currently in progress")


class PulumiCliError(Exception):
    """A `pulumi` command failed; the message quotes the command and what the CLI printed."""

    @property
    def locked(self) -> bool:
        """Whether it failed because another run holds the stack."""
        return any(message in str(self) for message in LOCKED_MESSAGES)


class Cli:
    """The `pulumi` CLI in the project directory, with the driver's environment."""

    def __init__(self, project_dir: Path, tmpdir: str) -> None:
        self.project_dir = project_dir
        self.binary = pulumi_command().command
        self.env = {**os.environ, **cli_environment(tmpdir)}

    def run(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run([self.binary, *args, "--non-interactive"], cwd=self.project_dir, env=self.env,
                                input=stdin, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            message = "\n".join(line for line in (result.stderr or result.stdout).splitlines() if line.strip())
            raise PulumiCliError(f"`pulumi {' '.join(args[:3])} ...` failed: {message}")
        return result.stdout

    def export(self, stack: str) -> dict[str, Any]:
        exported: dict[str, Any] = json.loads(self.run("stack", "export", "--stack", stack))
        return exported

    def import_(self, stack: str, exported: Mapping[str, Any]) -> None:
        self.run("stack", "import", "--stack", stack, stdin=json.dumps(exported))

    def move(self, source: str, dest: str, urns: list[str]) -> None:
        self.run("state", "move", "--source", source, "--dest", dest, "--yes", *urns)

    def stacks(self) -> set[str]:
        """The project's stacks in the backend, by name (`pulumi stack ls --json` names them
        ``organization/project/stack`` or just ``stack``)."""
        listed = json.loads(self.run("stack", "ls", "--json"))
        return {str(entry["name"]).rsplit("/", 1)[-1] for entry in listed}
