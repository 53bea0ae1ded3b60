"""Run the program through the real `pulumi` CLI with the Automation API.

    python -m inventory deploy preview --stack dev [--diff]
    python -m inventory deploy up --stack dev [--yes]
    python -m inventory deploy destroy --stack dev
    python -m inventory deploy cancel --stack dev    # the lock a killed update left
    python -m inventory deploy outputs --stack dev
    python -m inventory deploy prune --stack dev     # old copies of the state (file backend)

The program runs inline in this process (the Pulumi Python SDK serves the
language runtime itself), so only the `pulumi` CLI and the kubernetes provider
plugin are needed (and, with feature E, the project's own provider plugin in provider/); plain `pulumi up`
in the project directory runs the same program through a language host. The driver sets
PULUMI_SKIP_CHECKPOINTS=true and PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS=true, and after an
update removes the copies of the state a file backend keeps beyond the newest few
(docs/sizing.md); plain `pulumi` users set those themselves and run `deploy prune`.
Backend and secrets provider come from the environment as for `pulumi` itself
(`PULUMI_BACKEND_URL` or `pulumi login`, `PULUMI_CONFIG_PASSPHRASE`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from inventory.stack.backend import KEEP_STATE_COPIES

if TYPE_CHECKING:
    from pulumi import automation as auto

PROJECT_NAME = "cluster-inventory"
# The directory that holds the `inventory` package: a checkout's root, or site-packages when
# installed. The plugins the CLI starts import the package from here (an inline program has no
# language host to tell them where it is), and a checkout keeps its provider/ plugin beside it.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIR = PACKAGE_ROOT / "provider"


def pulumi_command(path: str | None = None) -> auto.PulumiCommand:
    """The `pulumi` CLI found on ``path`` (default: this process's PATH), as the Automation API wants it."""
    from pulumi import automation as auto

    binary = shutil.which("pulumi", path=path)
    if binary is None:
        raise SystemExit("the `pulumi` CLI is not on PATH: run `make tools` and `eval \"$(tools/env.sh)\"`")
    # PulumiCommand wants the directory above bin/; follow the tools/bin symlink to it.
    return auto.PulumiCommand(root=str(Path(binary).resolve().parent.parent), skip_version_check=True)


def cli_environment(tmpdir: str | None = None) -> dict[str, str]:
    """What the driver adds to the environment of every `pulumi` command it runs."""
    from inventory.stack.backend import DISABLE_BACKUPS
    from inventory.stack.resources import SKIP_CHECKPOINTS

    # A checkpoint after every step rewrites the whole state each time (quadratic in the
    # stack's size; docs/sizing.md): write it once, when the update ends. A full copy of the
    # state in .pulumi/backups after every update, never removed, duplicates the history's own
    # copy, which `prune` bounds. The program runs in this process and checks the same
    # variables (checkpoint_problem, backend.growth_problem).
    os.environ.setdefault(SKIP_CHECKPOINTS, "true")
    os.environ.setdefault(DISABLE_BACKUPS, "true")
    env = {"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
           SKIP_CHECKPOINTS: os.environ[SKIP_CHECKPOINTS], DISABLE_BACKUPS: os.environ[DISABLE_BACKUPS]}
    # The project's provider plugin (feature E's ClusterProfileStatus, provider/ and
    # inventory/stack/status_provider.py) runs in this Python, as does Pulumi's dynamic provider
    # plugin for a stack that still holds the status as a dynamic resource (inventory/stack/status.py):
    # an inline program has no language host to tell them the project's virtualenv.
    env["PULUMI_PYTHON_CMD"] = sys.executable
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    if tmpdir:
        env["TMPDIR"] = tmpdir
    return env


def select_stack(stack_name: str, project_dir: Path, tmpdir: str | None = None) -> auto.Stack:
    from pulumi import automation as auto

    from inventory.stack.program import run

    opts = auto.LocalWorkspaceOptions(
        work_dir=str(project_dir),
        pulumi_command=pulumi_command(),
        env_vars=cli_environment(tmpdir),
        secrets_provider=os.environ.get("PULUMI_SECRETS_PROVIDER", "passphrase"),
    )
    return auto.create_or_select_stack(stack_name=stack_name, project_name=PROJECT_NAME, program=run,
                                       opts=opts)


def missing_plugin_dirs(project_dir: Path) -> list[str]:
    """The ``plugins.providers`` paths of the project's Pulumi.yaml that lead nowhere: the CLI
    refuses every command then ("no folder at path"), with or without feature E."""
    import yaml

    try:
        project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []  # the CLI reports a missing or broken Pulumi.yaml itself
    plugins = (project.get("plugins") or {}).get("providers") or []
    return [str(p["path"]) for p in plugins
            if isinstance(p, dict) and p.get("path") and not (project_dir / str(p["path"])).is_dir()]


def project_problem(project_dir: Path) -> str | None:
    """Why the `pulumi` CLI cannot run in ``project_dir``, said before anything starts: no
    Pulumi.yaml there, or its provider plugin paths lead nowhere (the CLI would refuse every command)."""
    if not (project_dir / "Pulumi.yaml").is_file():
        return (f"no Pulumi.yaml in {project_dir}: run this from the project directory (the repository's root) "
                f"or name it with --cwd")
    missing = missing_plugin_dirs(project_dir)
    if not missing:
        return None
    if PROVIDER_DIR.is_dir():
        remedy = f"link them to this repository's (ln -s {PROVIDER_DIR} {project_dir / 'provider'})"
    else:
        remedy = "copy the provider/ directory of a cluster-inventory checkout there"
    return (f"{project_dir / 'Pulumi.yaml'} names provider plugin directories that do not exist: "
            f"{', '.join(missing)}; {remedy} or make the path absolute")


def cli_error(err: Exception) -> str:
    """The `pulumi` CLI's own error message from a failed Automation API command.

    A CommandError's text is ``code: N / stdout: ... / stderr: ...``; the stdout has been
    echoed already, and the stderr holds what the CLI would print itself (a stack lock, a
    wrong passphrase, an unreachable backend), so that is what the user must see.
    """
    _, _, stderr = str(err).partition("\n stderr: ")
    return "\n".join(line.rstrip() for line in stderr.splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inventory deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["preview", "up", "destroy", "refresh", "cancel", "outputs", "prune"])
    parser.add_argument("--stack", required=True, help="stack name (config in stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--diff", action="store_true", help="show a detailed diff (preview/up)")
    parser.add_argument("--yes", action="store_true", help="accepted for symmetry with `pulumi up --yes`")
    parser.add_argument("--cwd", type=Path, default=Path("."),
                        help="project directory holding Pulumi.yaml and stacks/ (as `pulumi --cwd`; "
                             "default: the current directory)")
    parser.add_argument("--keep-state-copies", type=int, default=KEEP_STATE_COPIES, metavar="K",
                        help=f"copies of past states a file backend keeps after up/refresh/destroy/prune "
                             f"(default {KEEP_STATE_COPIES})")
    args = parser.parse_args(argv)
    args.cwd = args.cwd.resolve()
    if args.action == "prune":
        return _prune(args.stack, args.keep_state_copies)

    problem = project_problem(args.cwd)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    config_file = args.cwd / "stacks" / f"Pulumi.{args.stack}.yaml"
    if not config_file.is_file():
        # A typo in a stack name must not create a new stack that runs on defaults
        # against whatever cluster KUBECONFIG points at.
        print(f"no stack config {config_file}: create it first (see "
              f"stacks/Pulumi.production.example.yaml and docs/running.md)",
              file=sys.stderr)
        return 2
    # pulumi-kubernetes writes the kubeconfig it is given to a new file in $TMPDIR for Helm and
    # never removes it (provider.go, writeKubeconfigToFile): the management cluster's credential,
    # in plain text, once per run. The CLI and its plugins get a directory of their own, removed
    # when the command ends.
    with tempfile.TemporaryDirectory(prefix="cluster-inventory-") as tmpdir:
        return _run(args, tmpdir)


def _run(args: argparse.Namespace, tmpdir: str) -> int:
    from pulumi import automation as auto

    echo = lambda line: print(line, flush=True)
    try:
        stack = select_stack(args.stack, args.cwd, tmpdir)
        if args.action == "preview":
            stack.preview(on_output=echo, diff=args.diff, color="never")
        elif args.action == "up":
            stack.up(on_output=echo, diff=args.diff, color="never")
        elif args.action == "destroy":
            stack.destroy(on_output=echo, color="never")
        elif args.action == "refresh":
            stack.refresh(on_output=echo, color="never")
        elif args.action == "cancel":
            stack.cancel()  # removes the lock an update that was killed left behind
        else:
            outputs = stack.outputs()
            print(json.dumps({k: ("[secret]" if v.secret else v.value) for k, v in outputs.items()}, indent=2))
    except auto.CommandError as err:
        message = cli_error(err) or "see the output above"
        print(f"pulumi {args.action} failed: {message}", file=sys.stderr)
        return 1
    if args.action in ("up", "destroy", "refresh"):
        return _prune(args.stack, args.keep_state_copies, asked=False)
    return 0


def _prune(stack: str, keep: int, asked: bool = True) -> int:
    """Remove the copies of the state a file backend keeps beyond the newest ``keep``."""
    from inventory.stack.backend import backend_url, local_root, prune

    root = local_root(backend_url(os.environ))
    if root is None:
        if asked:
            print("prune: the state backend is not a file:// directory; expire old copies of the state with a "
                  "lifecycle rule on the bucket instead (docs/sizing.md)", file=sys.stderr)
        return 0
    pruned = prune(root, PROJECT_NAME, stack, keep)
    if pruned.files:
        print(f"pruned {pruned.files} old copies of the state ({pruned.bytes / 1e6:.1f} MB) from {root}", flush=True)
    return 0
