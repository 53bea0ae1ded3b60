"""``python -m inventory rbac``: print the roles a stack's identities need.

    python -m inventory rbac (--stack S | --config FILE) [--admission-policy]
        [--name PREFIX] [--identity-namespace NS] [--cwd DIR]

``--stack S`` reads ``stacks/Pulumi.S.yaml`` (as ``deploy --stack`` runs it); ``--config FILE``
reads a YAML mapping of config keys (as ``render --config``). Prints, as YAML, the
ServiceAccounts ``PREFIX-preview`` and ``PREFIX-deploy`` in namespace NS and their roles and
bindings, or with ``--admission-policy`` the ValidatingAdmissionPolicy and binding that hold the
deploy identity to objects carrying the managed-by label. Exit status 0 printed, 2 unusable config.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from inventory.model import name_problem, namespace_problem
from inventory.rbac.admission import render_admission_policy
from inventory.rbac.roles import render_roles
from inventory.settings import Settings, SettingsError, load_config_file, load_stack_file

EXIT_PRINTED = 0
EXIT_INVALID = 2
PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_PREFIX = "cluster-inventory"
DEFAULT_NAMESPACE = "cluster-inventory"


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _parser().parse_args(argv)
    problems = _identity_problems(args.name, args.identity_namespace)
    if problems:
        for line in problems:
            print(f"error: {line}", file=err)
        return EXIT_INVALID
    try:
        settings, source = _settings(args)
        command = " ".join(["python -m inventory rbac", *_given(args)])
        generated_by = f"`{command}` from {source}"
        render = render_admission_policy if args.admission_policy else render_roles
        text = render(settings, args.name, args.identity_namespace, generated_by)
    except SettingsError as problem:
        for line in str(problem).splitlines():
            print(f"error: config: {line}", file=err)
        return EXIT_INVALID
    out.write(text)
    out.flush()
    return EXIT_PRINTED


def _settings(args: argparse.Namespace) -> tuple[Settings, str]:
    if args.config is not None:
        return load_config_file(args.config), args.config
    relative = Path("stacks") / f"Pulumi.{args.stack}.yaml"
    path = args.cwd / relative
    if not path.is_file():
        raise SettingsError(f"no stack config {path}: create it first (see stacks/Pulumi.production.example.yaml)")
    return load_stack_file(str(path)), relative.as_posix()


def _identity_problems(prefix: str, namespace: str) -> list[str]:
    problems = [f"--name: {problem}" for problem in (name_problem(f"{prefix}-preview"),) if problem]
    problem = namespace_problem(namespace)
    if problem:
        problems.append(f"--identity-namespace: {problem}")
    return problems


def _given(args: argparse.Namespace) -> list[str]:
    """The options that change the output, as typed, for the header's "regenerate with"."""
    given = [f"--stack {args.stack}"] if args.stack is not None else [f"--config {args.config}"]
    if args.name != DEFAULT_PREFIX:
        given.append(f"--name {args.name}")
    if args.identity_namespace != DEFAULT_NAMESPACE:
        given.append(f"--identity-namespace {args.identity_namespace}")
    if args.admission_policy:
        given.append("--admission-policy")
    return given


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inventory rbac", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", metavar="S", help="stack name (config in stacks/Pulumi.S.yaml)")
    source.add_argument("--config", metavar="FILE", help="YAML mapping of config keys (as in Pulumi.yaml)")
    parser.add_argument("--admission-policy", action="store_true",
                        help="print the ValidatingAdmissionPolicy and its binding instead of the roles")
    parser.add_argument("--name", default=DEFAULT_PREFIX, metavar="PREFIX",
                        help=f"identities PREFIX-preview and PREFIX-deploy, and their roles (default {DEFAULT_PREFIX})")
    parser.add_argument("--identity-namespace", default=DEFAULT_NAMESPACE, metavar="NS",
                        help=f"namespace of the identities' ServiceAccounts (default {DEFAULT_NAMESPACE})")
    parser.add_argument("--cwd", type=Path, default=PROJECT_DIR,
                        help="project directory holding stacks/ (as `deploy --cwd`)")
    return parser
