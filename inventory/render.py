"""The render CLI: print the planned objects in apply-able form, like ``helm template``.

    python -m inventory render (--from-dir DIR | --kubeconfig PATH [--context C])
        [--config FILE] [-o yaml|json] [--show-secrets] [--strict] [--run-exec-plugins]

Without --from-dir or --kubeconfig the config file's ``inventoryDir`` or ``kubeconfig``
is used, else ``KUBECONFIG`` / ``~/.kube/config``.

Objects go to stdout in plan order, credentials redacted unless ``--show-secrets``;
diagnostics go to stderr, one line each. Render reads and prints, nothing more: it runs no exec
credential plugin (``execProviderFile``) unless ``--run-exec-plugins`` is given, since a plugin
mints a real credential; without it, each ClusterProfile that would need one is reported
(``NOT_RUN``) and gets no credentials. Exit status: 0 rendered (warnings allowed),
1 with ``--strict`` when there is any warning, 2 when the input files, the
configuration or the inventory read are unusable (nothing is printed then).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from inventory import invoked_as
from inventory.model import dump_documents
from inventory.plan import Plan
from inventory.settings import Settings, SettingsError, load_config_file
from inventory.sources import InventoryReadError

EXIT_RENDERED = 0
EXIT_WARNINGS = 1  # only with --strict
EXIT_INVALID = 2
# Why a ClusterProfile served by an exec provider got nothing (``--run-exec-plugins`` runs them).
NOT_RUN = "render runs no plugin unless --run-exec-plugins"


def render_plan(plan: Plan, *, output: str = "yaml", show_secrets: bool = False) -> str:
    """The plan's objects as a multi-document YAML stream or a JSON ``List``."""
    manifests = [obj.manifest(show_secrets=show_secrets) for obj in plan.objects]
    if output == "json":
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}, indent=2) + "\n"
    return dump_documents(manifests) if manifests else ""


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Config file values, overridden by the command line's inventory source."""
    settings = load_config_file(args.config) if args.config else Settings()
    if args.from_dir is not None:
        settings = dataclasses.replace(settings, inventory_dir=args.from_dir, kubeconfig=None, context=None)
    elif args.kubeconfig is not None:
        settings = dataclasses.replace(settings, inventory_dir=None, kubeconfig=args.kubeconfig)
    if args.context is not None:
        settings = dataclasses.replace(settings, context=args.context)
    settings.validate()
    return settings


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    from inventory.pipeline import compute_plan

    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        plan = compute_plan(settings, datetime.now(UTC), None if args.run_exec_plugins else NOT_RUN)
    except SettingsError as problem:
        for line in str(problem).splitlines():
            print(f"error: config: {line}", file=err)
        return EXIT_INVALID
    except InventoryReadError as problem:
        print(f"error: {problem}", file=err)
        return EXIT_INVALID
    for diagnostic in plan.diagnostics:
        print(diagnostic, file=err)
    if plan.errors:
        return EXIT_INVALID
    out.write(render_plan(plan, output=args.output, show_secrets=args.show_secrets))
    out.flush()
    if args.strict and plan.warnings:
        return EXIT_WARNINGS
    return EXIT_RENDERED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{invoked_as()} render",
        description="Print the objects the program would declare, in apply-able form.",
    )
    # Without either, the config file's inventoryDir or kubeconfig is used, else KUBECONFIG.
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--from-dir", metavar="DIR", help="read the inventory from the manifests under DIR")
    source.add_argument("--kubeconfig", metavar="PATH", help="read the inventory from this management cluster")
    parser.add_argument("--context", metavar="C", help="kubeconfig context (with --kubeconfig)")
    parser.add_argument("--config", metavar="FILE", help="YAML mapping of config keys (as in Pulumi.yaml)")
    parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="output format")
    parser.add_argument("--show-secrets", action="store_true", help="print credential data instead of redacting it")
    parser.add_argument("--strict", action="store_true", help="exit 1 when anything was skipped or adjusted")
    parser.add_argument("--run-exec-plugins", action="store_true",
                        help="run the exec credential plugins of execProviderFile (they mint real credentials); "
                             "without it, the ClusterProfiles they serve are reported and get none")
    return parser
