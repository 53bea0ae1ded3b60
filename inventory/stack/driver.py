"""Run the program through the real `pulumi` CLI with the Automation API.

    python -m inventory deploy preview --stack dev [--diff]
    python -m inventory deploy up --stack dev [--diff] [--yes]
    python -m inventory deploy destroy --stack dev
    python -m inventory deploy refresh --stack dev
    python -m inventory deploy cancel --stack dev    # the lock a killed update left
    python -m inventory deploy outputs --stack dev
    python -m inventory deploy prune --stack dev     # old copies of the state (file backend)

`python -m inventory deploy ACTION --help` lists an action's options. The project directory
(Pulumi.yaml, stacks/) is the current one, as for `pulumi`, or `--cwd DIR`.

The program runs inline in this process (the Pulumi Python SDK serves the
language runtime itself), so only the `pulumi` CLI and the kubernetes provider
plugin are needed (and, with feature E, the project's own provider plugin in provider/); plain `pulumi up`
in the project directory runs the same program through a language host. The driver sets
PULUMI_SKIP_CHECKPOINTS=true and PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS=true, and after an
update removes the copies of the state a file backend keeps beyond the newest few
(docs/sizing.md); plain `pulumi` users set those themselves and run `deploy prune`.
Backend and secrets come from the environment as for `pulumi` itself (`PULUMI_BACKEND_URL` or
`pulumi login`, `PULUMI_CONFIG_PASSPHRASE`); a stack that has a config file but does not exist
in the backend yet is created with the secrets provider `PULUMI_SECRETS_PROVIDER` names
(default: passphrase; e.g. awskms://..., as `pulumi stack init --secrets-provider` takes)."""

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


# The actions of `deploy`, each with its own options, and what it does.
ACTIONS = {
    "preview": "show what `up` would change",
    "up": "create, update or delete the stack's objects to match the inventory",
    "destroy": "delete every object of the stack",
    "refresh": "read the live objects into the stack's state",
    "cancel": "remove the lock an update that was killed left behind (as `pulumi cancel`)",
    "outputs": "print the stack's outputs (secrets as [secret])",
    "prune": "remove the copies of the state a file:// backend keeps beyond the newest few",
}
# Actions that change the stack: they prune the state copies a file backend keeps afterwards.
CHANGING = ("up", "destroy", "refresh")


def parser() -> argparse.ArgumentParser:
    """`deploy ACTION`, one subparser per action: an option an action does not use is refused."""
    from inventory import invoked_as

    top = argparse.ArgumentParser(prog=f"{invoked_as()} deploy", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = top.add_subparsers(dest="action", required=True, metavar="ACTION",
                                 help=", ".join(ACTIONS))
    for action, summary in ACTIONS.items():
        sub = actions.add_parser(action, help=summary, description=summary)
        sub.add_argument("--stack", required=True, help="stack name (config in stacks/Pulumi.<stack>.yaml)")
        sub.add_argument("--cwd", type=Path, default=Path("."),
                         help="project directory holding Pulumi.yaml and stacks/ (as `pulumi --cwd`; "
                              "default: the current directory)")
        if action in ("preview", "up"):
            sub.add_argument("--diff", action="store_true", help="show a detailed diff")
        if action in CHANGING:
            sub.add_argument("--yes", action="store_true",
                             help="accepted as `pulumi` spells it; the driver never asks for confirmation")
        if action in (*CHANGING, "prune"):
            sub.add_argument("--keep-state-copies", type=int, default=KEEP_STATE_COPIES, metavar="K",
                             help=f"copies of past states a file backend keeps (default {KEEP_STATE_COPIES})")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.cwd = args.cwd.resolve()
    if args.action == "prune":
        return _prune(args.cwd, args.stack, args.keep_state_copies)
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
    if args.action in CHANGING:
        return _prune(args.cwd, args.stack, args.keep_state_copies, asked=False)
    return 0


def project_name(project_dir: Path) -> str:
    """The project's name in its Pulumi.yaml (a copy of the project may rename it), which names
    its stacks' state in a file backend."""
    import yaml

    try:
        document = yaml.safe_load((project_dir / "Pulumi.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return PROJECT_NAME
    return str(document.get("name") or PROJECT_NAME)


def _prune(project_dir: Path, stack: str, keep: int, asked: bool = True) -> int:
    """Remove the copies of the state a file backend keeps beyond the newest ``keep``."""
    from inventory.stack.backend import backend_url, local_root, prune

    root = local_root(backend_url(os.environ))
    if root is None:
        if asked:
            print("prune: the state backend is not a file:// directory; expire old copies of the state with a "
                  "lifecycle rule on the bucket instead (docs/sizing.md)", file=sys.stderr)
        return 0
    pruned = prune(root, project_name(project_dir), stack, keep)
    if pruned.files:
        print(f"pruned {pruned.files} old copies of the state ({pruned.bytes / 1e6:.1f} MB) from {root}", flush=True)
    return 0
