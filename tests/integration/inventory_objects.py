"""Test support: put inventory objects (Clusters, Secrets, Namespaces, ClusterProfiles) into the real API server."""

from __future__ import annotations

import base64
import json
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

CAPI = ("cluster.x-k8s.io", "v1beta1", "clusters")
PROFILES = ("multicluster.x-k8s.io", "v1alpha1", "clusterprofiles")
CAPI_V1BETA2 = ("cluster.x-k8s.io", "v1beta2", "clusters")
SVELTOS = ("lib.projectsveltos.io", "v1beta1", "sveltosclusters")
EVENT_SOURCES = ("lib.projectsveltos.io", "v1beta1", "eventsources")
EVENT_TRIGGERS = ("lib.projectsveltos.io", "v1beta1", "eventtriggers")


def kubeconfig_text(server: str, token: str) -> str:
    """A small, valid kubeconfig whose token is a recognisable marker."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    })


class Inventory:
    """Creates inventory objects and remembers nothing: the API server is the state."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        body = {"metadata": {"name": name, "labels": labels or {}}}
        try:
            self.core.create_namespace(body)
        except ApiException as err:
            if err.status != 409:
                raise
            self.core.patch_namespace(name, body)

    def secret(self, namespace: str, name: str, data: dict[str, str], *, type_: str = "Opaque",
               labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> None:
        body = {
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {},
                         "annotations": annotations or {}},
            "type": type_,
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        self.core.create_namespaced_secret(namespace, body)

    def capi_cluster(self, namespace: str, name: str, labels: dict[str, str], kubeconfig: str | None) -> None:
        group, version, plural = CAPI
        self.custom.create_namespaced_custom_object(group, version, namespace, plural, {
            "apiVersion": f"{group}/{version}", "kind": "Cluster",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {},
        })
        if kubeconfig is not None:
            self.secret(namespace, f"{name}-kubeconfig", {"value": kubeconfig}, type_="cluster.x-k8s.io/secret",
                        labels={"cluster.x-k8s.io/cluster-name": name})

    def set_cluster_labels(self, namespace: str, name: str, labels: dict[str, str | None]) -> None:
        group, version, plural = CAPI
        self.custom.patch_namespaced_custom_object(group, version, namespace, plural, name,
                                                   {"metadata": {"labels": labels}})

    def cluster_profile(self, namespace: str, name: str, access_providers: list[dict[str, Any]],
                        labels: dict[str, str] | None = None, display_name: str = "") -> None:
        group, version, plural = PROFILES
        spec: dict[str, Any] = {"clusterManager": {"name": "test-manager"}}
        if display_name:
            spec["displayName"] = display_name
        self.custom.create_namespaced_custom_object(group, version, namespace, plural, {
            "apiVersion": f"{group}/{version}", "kind": "ClusterProfile",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}, "spec": spec,
        })
        self.custom.patch_namespaced_custom_object_status(group, version, namespace, plural, name, {
            "status": {"accessProviders": access_providers}})

    def delete_cluster_profile(self, namespace: str, name: str) -> None:
        group, version, plural = PROFILES
        self.custom.delete_namespaced_custom_object(group, version, namespace, plural, name)

    def custom_object(self, resource: tuple[str, str, str], namespace: str, name: str) -> dict[str, Any]:
        group, version, plural = resource
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(group, version, namespace, plural, name)
        return found

    def custom_names(self, resource: tuple[str, str, str], namespace: str | None = None,
                     selector: str = "") -> set[str]:
        group, version, plural = resource
        if namespace:
            items = self.custom.list_namespaced_custom_object(group, version, namespace, plural,
                                                              label_selector=selector)["items"]
        else:
            items = self.custom.list_cluster_custom_object(group, version, plural, label_selector=selector)["items"]
        return {f"{i['metadata'].get('namespace', '')}/{i['metadata']['name']}".lstrip("/") for i in items}

    def secret_names(self, selector: str) -> set[str]:
        items = self.core.list_secret_for_all_namespaces(label_selector=selector).items
        return {f"{s.metadata.namespace}/{s.metadata.name}" for s in items}


def secret_reader_provider(server: str, secret_name: str, key: str, namespace: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"name": secret_name, "key": key}
    if namespace:
        config["namespace"] = namespace
    return {"name": "kubeconfig-secretreader", "cluster": {
        "server": server,
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": config}],
    }}


def exec_provider(name: str, server: str) -> dict[str, Any]:
    return {"name": name, "cluster": {"server": server,
                                      "certificate-authority-data": base64.b64encode(b"test-ca").decode()}}


def fleet_namespaces(inventory: Inventory, run_id: str) -> tuple[str, str, str, list[str]]:
    """A test's own namespaces: CAPI Clusters, ClusterProfiles, and two consumers marked by a
    consumer label of its own. Returns (capi namespace, fleet namespace, label, consumers)."""
    capi_ns, fleet_ns = f"capi-{run_id}", f"fleet-{run_id}"
    consumer_label = f"consumer-{run_id}"
    consumers = [f"team-a-{run_id}", f"team-b-{run_id}"]
    for ns in (capi_ns, fleet_ns):
        inventory.namespace(ns)
    for ns in consumers:
        inventory.namespace(ns, {consumer_label: ""})
    return capi_ns, fleet_ns, consumer_label, consumers
