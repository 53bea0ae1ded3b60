"""A ClusterProfile's status as a Pulumi resource (feature E), served by the project's own provider.

pulumi-kubernetes (4.25) never writes a status subresource: every create, update and patch it
sends goes to the object itself (``provider/v4/pkg/await``: no call names the ``status``
subresource), and the API server ignores ``status`` there for a CRD that has one. So the
status is a resource of its own, ``cluster-inventory:index:ClusterProfileStatus``, next to the
ClusterProfile it belongs to, with the whole lifecycle Pulumi gives any resource. Its provider
is this project's own plugin, ``pulumi-resource-cluster-inventory`` (``provider/``, declared under
``plugins.providers`` in Pulumi.yaml), a Python gRPC server (``inventory.stack.status_provider``)
built on the Pulumi SDK's ``pulumi.provider.experimental`` interface:

- create and update server-side apply ``status`` to the ``status`` subresource under this
  program's own field manager (``FIELD_MANAGER``): the status lists are ``listType=map``, so the
  entries other writers own (a condition, a property, an access provider of theirs) survive;
- diff compares the desired status with the last one applied: a steady run changes nothing,
  a condition that changes updates in place, a new name, namespace or management cluster replaces;
- delete applies a status without entries under the same manager, which removes exactly the
  fields this program owned (nothing when the profile is already gone);
- read serves both ``pulumi refresh`` and import (``pulumi import
  cluster-inventory:index:ClusterProfileStatus NAME NAMESPACE/NAME`` or the ``import_`` option):
  it returns the part of the live status that ``FIELD_MANAGER`` owns, as the object's
  ``managedFields`` record it, so an import adopts exactly what an earlier run (or another copy
  of this program) applied and nothing another writer owns.

The provider reaches the management cluster through its own configuration, ``kubeconfig`` (a
path or the content; content is always a Pulumi secret) and ``context``. The program gives it the
stack's settings through an explicit provider resource (``StatusProvider``); ``pulumi import``
without ``--provider`` uses the default provider, whose configuration is the stack's own
``cluster-inventory:kubeconfig`` and ``cluster-inventory:context`` (the package is named as the
project, so they share the config namespace); neither set means KUBECONFIG / ~/.kube/config, as
for the program. The status itself holds no credential.

Before this provider, the status was a Python dynamic resource
(``pulumi-python:dynamic/inventory:ClusterProfileStatus``). ``ClusterProfileStatus`` carries that
type as an alias, so a stack that holds one moves it in place (an update that applies the same
status; nothing is deleted). ``_StatusProvider`` stays importable for such stacks until then:
Pulumi's dynamic provider plugin unpickles the provider from their state for a refresh or destroy.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from inventory.model import CLUSTER_PROFILE_API_VERSION, CLUSTER_PROFILE_KIND, CLUSTER_PROFILE_PLURAL

# The field manager of every status this program applies; pulumi-kubernetes has its own for the spec.
FIELD_MANAGER = "cluster-inventory-status"
PACKAGE = "cluster-inventory"
RESOURCE_TYPE = f"{PACKAGE}:index:ClusterProfileStatus"
LEGACY_TYPE = "pulumi-python:dynamic/inventory:ClusterProfileStatus"
API_VERSION = CLUSTER_PROFILE_API_VERSION
KIND = CLUSTER_PROFILE_KIND
_APPLY_PATCH = "application/apply-patch+yaml"
# What identifies the object: a change of any of them is a new object, so a replacement. The
# management cluster is the kube-system UID the kubernetes provider's clusterIdentifier holds: when
# a stack moves to another cluster, its ClusterProfiles are created there and so are their statuses.
IDENTITY = ("apiVersion", "kind", "namespace", "name", "managementCluster")
PROPERTIES = (*IDENTITY, "status")
_PLURALS = {CLUSTER_PROFILE_KIND: CLUSTER_PROFILE_PLURAL}
# The status lists of a ClusterProfile (listType=map) and their keys.
_MAP_LISTS = {"conditions": "type", "properties": "name", "accessProviders": "name"}


class StatusProvider(pulumi.ProviderResource):
    """The project's provider, configured with how to reach the management cluster."""

    def __init__(self, name: str, *, kubeconfig: pulumi.Input[str] | None, context: str | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {}
        if kubeconfig is not None:
            props["kubeconfig"] = kubeconfig
        if context:
            props["context"] = context
        # Content arrives as a secret (status_access), and CheckConfig makes any content secret.
        super().__init__(PACKAGE, name, props, opts)


class ClusterProfileStatus(pulumi.CustomResource):
    """The status subresource of one ClusterProfile, applied under ``FIELD_MANAGER``."""

    def __init__(self, name: str, *, namespace: str, object_name: str, status: dict[str, Any],
                 management_cluster: str | None, opts: pulumi.ResourceOptions,
                 api_version: str = API_VERSION, kind: str = KIND) -> None:
        props = {"apiVersion": api_version, "kind": kind, "namespace": namespace, "name": object_name,
                 "status": status, "managementCluster": management_cluster}
        moved = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=LEGACY_TYPE)])
        super().__init__(RESOURCE_TYPE, name, props, pulumi.ResourceOptions.merge(opts, moved))


# --- The Kubernetes side, run inside the provider process ---------------------------------------


class Cluster:
    """One management cluster as the provider reaches it: a kubeconfig (path or content) and context."""

    def __init__(self, kubeconfig: str | None, context: str | None) -> None:
        import threading

        self.kubeconfig, self.context = kubeconfig or None, context or None
        self._client: Any = None
        self._api: Any = None
        self._lock = threading.Lock()  # the provider calls from several threads at once

    def api_client(self) -> Any:
        """One API client for every call the provider makes to the management cluster (the
        statuses and the grants' kubeconfig reads share its connections)."""
        with self._lock:
            if self._client is None:
                from inventory.settings import Settings
                from inventory.sources import api_client

                self._client = api_client(Settings(kubeconfig=self.kubeconfig, context=self.context))
            return self._client

    def custom_objects(self) -> Any:
        if self._api is None:
            from kubernetes import client as k8s

            self._api = k8s.CustomObjectsApi(self.api_client())
        return self._api

    def identity(self) -> str:
        from inventory.settings import Settings
        from inventory.sources import cluster_identity

        return cluster_identity(Settings(kubeconfig=self.kubeconfig, context=self.context))

    def apply(self, props: dict[str, Any], status: dict[str, Any], *, missing_ok: bool = False) -> None:
        """Server-side apply ``status`` to the object's status subresource under ``FIELD_MANAGER``."""
        from kubernetes.client.exceptions import ApiException

        group, _, version = props["apiVersion"].rpartition("/")
        body = {"apiVersion": props["apiVersion"], "kind": props["kind"],
                "metadata": {"name": props["name"], "namespace": props["namespace"]}, "status": status}
        try:
            self.custom_objects().patch_namespaced_custom_object_status(
                group, version, props["namespace"], _PLURALS[props["kind"]], props["name"], body,
                field_manager=FIELD_MANAGER, force=True, _content_type=_APPLY_PATCH)
        except ApiException as err:
            if err.status == 404 and missing_ok:
                return
            raise RuntimeError(f"server-side apply of the status of {props['kind']} "
                               f"{props['namespace']}/{props['name']}: HTTP {err.status} {err.reason}: "
                               f"{_message(err)}") from None

    def clear(self, props: dict[str, Any]) -> None:
        # An applied ``status: {}`` would leave a null status, which the schema refuses; an empty
        # conditions list owns no entry, so every entry this manager owned goes and others' stay.
        try:
            self.apply(props, {"conditions": []}, missing_ok=True)
        except RuntimeError as err:
            if "HTTP 422" not in str(err):
                raise
            # Another writer co-owns an entry this manager wrote (it applied the same condition
            # type, property or access provider name before this stack took the profile over):
            # releasing this manager's fields would leave that entry with its key alone, which the
            # schema refuses. Remove the entries this manager owns instead, then release the rest.
            self.remove_owned_entries(props, err)
            self.apply(props, {"conditions": []}, missing_ok=True)

    def remove_owned_entries(self, props: dict[str, Any], cause: Exception) -> None:
        """Remove, by JSON patch, every list entry of the status this manager owns: each removal
        is guarded by a test of the entry's key, so a status changed meanwhile is refused, not
        damaged (the next run tries again)."""
        from kubernetes.client.exceptions import ApiException

        live = self.live(props)
        if live is None:
            return
        patch = removal_patch(live)
        if not patch:
            raise RuntimeError(f"{cause}. No entry of this status is owned by {FIELD_MANAGER}; see "
                               f"metadata.managedFields of {props['kind']} {props['namespace']}/{props['name']}")
        group, _, version = props["apiVersion"].rpartition("/")
        try:
            self.custom_objects().patch_namespaced_custom_object_status(
                group, version, props["namespace"], _PLURALS[props["kind"]], props["name"], patch,
                field_manager=FIELD_MANAGER, _content_type="application/json-patch+json")
        except ApiException as err:
            if err.status == 404:
                return
            raise RuntimeError(f"removing this program's entries from the status of {props['kind']} "
                               f"{props['namespace']}/{props['name']} (another field manager shares them): "
                               f"HTTP {err.status} {err.reason}: {_message(err)}; run again") from None

    def live(self, props: dict[str, Any]) -> dict[str, Any] | None:
        """The object as the API server has it; None when it is gone."""
        from kubernetes.client.exceptions import ApiException

        group, _, version = props["apiVersion"].rpartition("/")
        try:
            found = self.custom_objects().get_namespaced_custom_object(
                group, version, props["namespace"], _PLURALS[props["kind"]], props["name"])
        except ApiException as err:
            if err.status == 404:
                return None
            raise RuntimeError(f"read {props['kind']} {props['namespace']}/{props['name']}: HTTP {err.status} "
                               f"{err.reason}: {_message(err)}") from None
        return found if isinstance(found, dict) else {}

    def owned_status(self, props: dict[str, Any]) -> dict[str, Any] | None:
        """The part of the live status ``FIELD_MANAGER`` owns; None when the object is gone."""
        found = self.live(props)
        return None if found is None else owned(found)


def owned(obj: dict[str, Any], manager: str = FIELD_MANAGER) -> dict[str, Any]:
    """The fields of ``obj``'s status that ``manager`` owns through the status subresource."""
    status = obj.get("status")
    if not isinstance(status, dict):
        return {}
    fields: dict[str, Any] = {}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("subresource") == "status":
            fields = _merge(fields, ((entry.get("fieldsV1") or {}).get("f:status") or {}))
    result: dict[str, Any] = {}
    for key, sub in fields.items():
        if not key.startswith("f:") or key[2:] not in status:
            continue
        name = key[2:]
        value = status[name]
        if name in _MAP_LISTS:
            # Only the entries owned by key: owning the list field itself (an applied empty
            # list) owns none of the entries others wrote.
            value = _project(value, {k: v for k, v in sub.items() if k.startswith("k:")}, atomic=False)
            if not value:
                continue
        else:
            value = _project(value, sub)
        result[name] = value
    return result


def removal_patch(obj: dict[str, Any], manager: str = FIELD_MANAGER) -> list[dict[str, Any]]:
    """A JSON patch removing from ``obj``'s status every list entry ``manager`` owns (a
    ``listType=map`` entry is owned by its key), last index first, each guarded by a test of
    the entry's key so that a list changed since it was read makes the patch fail whole."""
    found = obj.get("status")
    status: dict[str, Any] = found if isinstance(found, dict) else {}
    mine = owned(obj, manager)
    patch: list[dict[str, Any]] = []
    for name, key in _MAP_LISTS.items():
        keys = {entry.get(key) for entry in mine.get(name) or () if isinstance(entry, dict)}
        listed = status.get(name)
        entries: list[Any] = listed if isinstance(listed, list) else []
        for index in reversed(range(len(entries))):
            entry = entries[index]
            if isinstance(entry, dict) and entry.get(key) in keys:
                patch.append({"op": "test", "path": f"/status/{name}/{index}/{key}", "value": entry[key]})
                patch.append({"op": "remove", "path": f"/status/{name}/{index}"})
    return patch


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    merged = dict(left)
    for key, value in right.items():
        merged[key] = _merge(merged.get(key) or {}, value) if isinstance(value, dict) else value
    return merged


def _project(value: Any, fields: dict[str, Any], *, atomic: bool = True) -> Any:
    """``value`` cut down to a fieldsV1 set: ``f:`` names a map key, ``k:`` a list entry by its
    keys; a field with no children is owned whole."""
    children = {key: sub for key, sub in fields.items() if key != "."}
    if not children and atomic:
        return value
    if isinstance(value, dict):
        return {key[2:]: _project(value[key[2:]], sub) for key, sub in children.items()
                if key.startswith("f:") and key[2:] in value}
    if isinstance(value, list):
        import json

        wanted = [(json.loads(key[2:]), sub) for key, sub in children.items() if key.startswith("k:")]
        projected = []
        for item in value:
            for keys, sub in wanted:
                if isinstance(item, dict) and all(item.get(k) == v for k, v in keys.items()):
                    projected.append(_project(item, sub))
                    break
        return projected
    return value


def _message(err: Any) -> str:
    import json

    try:
        return str(json.loads(err.body).get("message"))
    except (TypeError, ValueError, AttributeError):
        return str(err.body)


# --- Stacks written before the provider -----------------------------------------------------------


class _StatusProvider(pulumi.dynamic.ResourceProvider):
    """The dynamic provider of the status before ``cluster-inventory:index:ClusterProfileStatus``.

    Pulumi's dynamic provider plugin unpickles it by reference from the state of a stack that
    still holds the old resource; only refresh (read) and destroy (delete) reach it there, since
    the program's next ``up`` moves the resource to the new type (the alias above).

    Removal condition (docs/cluster-manager.md): delete this class, and the
    ``pulumi-resource-pulumi-python`` plugin tools/build-tools.sh installs for it, in the first
    release whose upgrade notes require one ``up`` with an earlier release first; until then a
    stack counts as moved when ``pulumi stack export`` no longer names ``LEGACY_TYPE``. Deleting
    it earlier leaves such a stack unable to refresh or destroy (the dynamic plugin cannot
    unpickle the provider); test_status_provider.py's migration test fails without it."""

    serialize_as_secret_always = False

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        Cluster(props.get("kubeconfig"), props.get("context")).clear(props)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        status = Cluster(props.get("kubeconfig"), props.get("context")).owned_status(props)
        return pulumi.dynamic.ReadResult(id_ if status is not None else "", {**props, "status": status or {}})
