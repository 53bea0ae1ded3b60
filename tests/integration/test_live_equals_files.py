"""SPEC §2: the live cluster and a directory of manifests produce the same model, hence the same plan."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes.dynamic import DynamicClient

from inventory.pipeline import compute_plan
from inventory.settings import Settings
from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import kubeconfig_text
from tests.seed_routes import SEED_ROUTES_CONFIG


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _objects(run_id: str) -> list[dict[str, Any]]:
    capi, fleet, team, sets = f"capi-{run_id}", f"fleet-{run_id}", f"team-{run_id}", f"sets-{run_id}"
    consumer = f"consumer-{run_id}"
    namespaces: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": capi}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": fleet}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team, "labels": {consumer: ""}}},
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": sets, "labels": {"clusterset.multicluster.x-k8s.io": f"blue-{run_id}"}}},
    ]
    clusters = [
        ("alpha", {"clusterprofile-name": "alpha", "clusterprofile-namespace": fleet}, True),
        ("beta", {"clusterprofile-name": "beta", "clusterset.k8s.io": f"blue-{run_id}"}, True),
        ("gamma", {"clusterprofile-name": "gamma"}, False),  # no kubeconfig Secret: reported
    ]
    objects = list(namespaces)
    for name, labels, with_secret in clusters:
        objects.append({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                        "metadata": {"name": name, "namespace": capi, "labels": labels}, "spec": {"paused": False}})
        if with_secret:
            objects.append({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                            "metadata": {"name": f"{name}-kubeconfig", "namespace": capi,
                                         "labels": {"cluster.x-k8s.io/cluster-name": name}},
                            "data": {"value": _b64(kubeconfig_text(f"https://{name}:6443", f"tok-{name}"))}})
    objects.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": "src", "namespace": fleet},
                    "data": {"kubeconfig": _b64(kubeconfig_text("https://p:6443", "tok-p"))}})
    objects.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": "labelled", "namespace": fleet,
                                 "labels": {"x-k8s.io/cluster-profile": "seeded"}},
                    "data": {"config": _b64(kubeconfig_text("https://s:6443", "tok-s"))}})
    reader = {"name": "kubeconfig-secretreader", "cluster": {"server": "https://p:6443", "extensions": [
        {"name": "client.authentication.k8s.io/exec", "extension": {"name": "src", "key": "kubeconfig"}}]}}
    for name, providers, labels in (("reader", [reader], {"env": "prod"}), ("seeded", [], {}), ("bare", [], {})):
        objects.append({"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ClusterProfile",
                        "metadata": {"name": name, "namespace": fleet, "labels": labels},
                        "spec": {"clusterManager": {"name": "test"}, "displayName": name.title()},
                        "status": {"accessProviders": providers}})
    return objects


def test_live_cluster_and_manifest_directory_give_identical_plans(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    run_id = uuid.uuid4().hex[:6]
    objects = _objects(run_id)
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump_all(objects))
    dynamic = DynamicClient(control_plane.api)
    for obj in objects:
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        created = resource.create(body={k: v for k, v in obj.items() if k != "status"},
                                  namespace=obj["metadata"].get("namespace"))
        if "status" in obj:
            status = resource.subresources["status"]
            body = {**created.to_dict(), "status": obj["status"]}
            status.replace(body=body, namespace=obj["metadata"]["namespace"])
    try:
        common = {**SEED_ROUTES_CONFIG, "capiNamespaces": [f"capi-{run_id}"], "profileNamespaces": [f"fleet-{run_id}"],
                  "consumerNamespaceLabel": f"consumer-{run_id}"}
        now = datetime(2026, 11, 21, tzinfo=UTC)
        live = compute_plan(Settings.from_mapping({**common, "kubeconfig": str(control_plane.kubeconfig)}), now)
        files = compute_plan(Settings.from_mapping({**common, "inventoryDir": str(tmp_path)}), now)
        assert [o.manifest(show_secrets=True) for o in live.objects] == [
            o.manifest(show_secrets=True) for o in files.objects]
        assert [str(d) for d in live.diagnostics] == [str(d) for d in files.diagnostics]
        assert len(live.objects) >= 6  # push Secrets for alpha and beta, two SveltosClusters with Secrets
        assert any("gamma" in str(d) for d in live.diagnostics)
    finally:
        for obj in objects:
            if obj["kind"] == "Namespace":
                control_plane.delete_namespace(obj["metadata"]["name"])
