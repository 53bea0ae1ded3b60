"""The `make demo` steps that are not the program itself: the example inventory and the summary.

    python tools/demo.py apply              # put examples/inventory/*.yaml into the local cluster
    python tools/demo.py summary --stack dev

``apply`` is idempotent: each object is created, or replaced when it exists (an identical
replace is a no-op for the API server), and a ClusterProfile's status, a subresource the
API server ignores on create and replace, is patched separately. It also forgets the demo
stack's state when that state belongs to an earlier local cluster (`make cluster-down`
throws the cluster away; the stack would otherwise believe its objects still exist).

``summary`` prints what the stack manages, from its outputs, and what to run next.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "inventory"
KUBECONFIG = REPO / ".local" / "kubeconfig"
DEMO_STATE = REPO / ".local" / "state"
# Which cluster the demo state was made against: the uid of its `default` Namespace.
STATE_OWNER = DEMO_STATE / "cluster-uid"
DEMO_ENV_FILE = REPO / ".local" / "demo.env"
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=cluster-inventory"


def log(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)


def example_objects() -> list[dict[str, Any]]:
    import yaml

    objects = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def forget_state_of_another_cluster(api: Any) -> None:
    from kubernetes import client

    uid = client.CoreV1Api(api).read_namespace("default").metadata.uid
    owner = STATE_OWNER.read_text().strip() if STATE_OWNER.exists() else None
    if DEMO_STATE.exists() and owner != uid:
        log(f"the local cluster was recreated since the last demo: starting the demo stack afresh ({DEMO_STATE})")
        shutil.rmtree(DEMO_STATE)
    DEMO_STATE.mkdir(parents=True, exist_ok=True)
    STATE_OWNER.write_text(uid + "\n")


def apply_object(dynamic: Any, body: dict[str, Any]) -> str:
    """Create or replace one object, then patch its status; returns created, updated or unchanged."""
    from kubernetes.dynamic.exceptions import ConflictError

    body = dict(body)
    status = body.pop("status", None)
    meta = body["metadata"]
    resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
    namespace = meta.get("namespace")
    try:
        resource.create(body=body, namespace=namespace)
        outcome = "created"
    except ConflictError:
        current = resource.get(name=meta["name"], namespace=namespace)
        body["metadata"] = dict(meta, resourceVersion=current.metadata.resourceVersion)
        replaced = resource.replace(body=body, namespace=namespace)
        outcome = "unchanged" if replaced.metadata.resourceVersion == current.metadata.resourceVersion else "updated"
    if status is not None:
        before = resource.get(name=meta["name"], namespace=namespace).metadata.resourceVersion
        patched = resource.status.patch(body={"status": status}, name=meta["name"], namespace=namespace,
                                        content_type="application/merge-patch+json")
        if outcome == "unchanged" and patched.metadata.resourceVersion != before:
            outcome = "updated"
    return outcome


def apply() -> None:
    from kubernetes import config
    from kubernetes.dynamic import DynamicClient

    if not KUBECONFIG.exists():
        sys.exit(f"{KUBECONFIG} is missing: start the local control plane with `make cluster-up`")
    api = config.new_client_from_config(str(KUBECONFIG))
    forget_state_of_another_cluster(api)
    objects = example_objects()
    log(f"applying {len(objects)} example objects from {EXAMPLES.relative_to(REPO)}/ ...")
    dynamic = DynamicClient(api)
    outcomes: Counter[str] = Counter()
    for body in objects:
        outcome = apply_object(dynamic, body)
        outcomes[outcome] += 1
        if outcome != "unchanged":
            meta = body["metadata"]
            where = f"{meta['namespace']}/" if meta.get("namespace") else ""
            log(f"  {outcome} {body['kind']} {where}{meta['name']}")
    log("example inventory: " + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())))


def stack_outputs(stack: str) -> dict[str, Any]:
    result = subprocess.run(["pulumi", "stack", "output", "--json", "--stack", stack],
                            check=False, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"cannot read the outputs of stack {stack}:\n{result.stderr.strip()}")
    outputs: dict[str, Any] = json.loads(result.stdout)
    return outputs


def summary(stack: str) -> None:
    outputs = stack_outputs(stack)
    counts: dict[str, dict[str, int]] = outputs.get("counts") or {}
    skipped: list[str] = outputs.get("skipped") or []
    modes: dict[str, str] = outputs.get("modes") or {}
    rows = [(feature, kind, n) for feature, kinds in sorted(counts.items()) for kind, n in sorted(kinds.items())]
    total = sum(n for _, _, n in rows)

    print()
    print(f"== cluster-inventory demo: stack {stack} ==")
    print()
    print(f"  {'feature':<9} {'kind':<16} {'objects':>7}")
    print(f"  {'-' * 9} {'-' * 16} {'-' * 7}")
    for feature, kind, n in rows:
        print(f"  {feature:<9} {kind:<16} {n:>7}")
    print(f"  {'total':<26} {total:>7}")
    print()
    print("  modes: " + ", ".join(f"{feature}={mode}" for feature, mode in sorted(modes.items())))
    print(f"  earliest credential refresh: {outputs.get('earliestCredentialRefresh') or 'none (no exec-plugin tokens)'}")
    print()
    print(f"  skipped inputs ({len(skipped)}):")
    for line in skipped or ["none"]:
        print(f"    - {line.removeprefix('warning: ')}")
    print()
    print(f"  next (first: source {DEMO_ENV_FILE.relative_to(REPO)}, which sets PATH, the backend, the demo passphrase and KUBECONFIG):")
    for command in (
        f"kubectl --kubeconfig .local/kubeconfig get secrets -A -l {MANAGED_SELECTOR}",
        "kubectl --kubeconfig .local/kubeconfig get sveltosclusters -A",
        f"pulumi stack output --stack {stack}",
        f"pulumi preview --stack {stack} --diff   # after editing examples/ or stacks/",
        "python -m inventory render --from-dir examples/inventory --config examples/render.yaml",
        "make demo-down                          # destroy the stack, stop the cluster",
    ):
        print(f"    {command}")
    print()


def write_env_file() -> None:
    """A file to source for running the next commands by hand against the demo stack."""
    tools_env = subprocess.run(["bash", str(REPO / "tools" / "env.sh")], capture_output=True, text=True,
                               check=True).stdout
    lines = [
        "# Written by `make demo`: source it to run `pulumi` against the demo stack.",
        tools_env.rstrip(),
        f"export PULUMI_BACKEND_URL={os.environ.get('PULUMI_BACKEND_URL', f'file://{DEMO_STATE}')!r}",
        "# No full copy of the state in .pulumi/backups after every update (docs/sizing.md).",
        "export PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS=true",
        "# The demo's passphrase: demo only, never for a real stack.",
        f"export PULUMI_CONFIG_PASSPHRASE={os.environ.get('PULUMI_CONFIG_PASSPHRASE', '')!r}",
        "# kubectl reaches the demo's control plane.",
        f"export KUBECONFIG={str(KUBECONFIG)!r}",
        f". {REPO / '.venv' / 'bin' / 'activate'}",
    ]
    DEMO_ENV_FILE.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("apply", help="put the example inventory into the local cluster")
    summary_parser = sub.add_parser("summary", help="print what the demo stack manages and what to run next")
    summary_parser.add_argument("--stack", default="dev")
    args = parser.parse_args()
    if args.command == "apply":
        apply()
    else:
        write_env_file()
        summary(args.stack)


if __name__ == "__main__":
    os.chdir(REPO)
    main()
