"""A ClusterProfile's status as a Pulumi resource (feature E): a dynamic provider that writes it.

pulumi-kubernetes (4.25) never writes a status subresource: every create, update and patch it
sends goes to the object itself (``provider/v4/pkg/await``: no call names the ``status``
subresource), and the API server ignores ``status`` there for a CRD that has one. So the
status is a resource of its own, ``ClusterProfileStatus``, next to the ClusterProfile it
belongs to, with the whole lifecycle Pulumi gives any resource:

- create and update server-side apply ``status`` to the ``status`` subresource under this
  program's own field manager (``FIELD_MANAGER``): the status lists are ``listType=map``, so the
  entries other writers own (a condition, a property, an access provider of theirs) survive;
- diff compares the desired status with the last one applied: a steady run changes nothing,
  a condition that changes updates in place, a new name or namespace replaces;
- delete applies a status without entries under the same manager, which removes exactly the
  fields this program owned (nothing when the profile is already gone);
- read (``pulumi refresh``) returns the part of the object's status this program writes.

Import is the one operation a Python dynamic provider cannot offer: Pulumi hands its ``read`` no
serialized provider then (pulumi/pulumi#16175, open). None is needed: create is a server-side
apply, so declaring the status of a profile that exists takes its entries over in place (the
profile itself goes through the adoption check like every object).

The provider runs in Pulumi's ``pulumi-resource-pulumi-python`` plugin, which imports this
module by name (dill pickles the provider class by reference). The kubeconfig it uses is the
stack's, a Pulumi secret when it is content; the status itself holds no credential.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

# The field manager of every status this program applies; pulumi-kubernetes has its own for the spec.
FIELD_MANAGER = "cluster-inventory-status"
_APPLY_PATCH = "application/apply-patch+yaml"
# What identifies the object: a change of any of them is a new object, so a replacement. The
# management cluster is the kube-system UID the kubernetes provider's clusterIdentifier holds: when
# a stack moves to another cluster, its ClusterProfiles are created there and so are their statuses.
_IDENTITY = ("apiVersion", "kind", "namespace", "name", "managementCluster")
_PLURALS = {"ClusterProfile": "clusterprofiles"}


class _StatusProvider(pulumi.dynamic.ResourceProvider):
    """Server-side apply of one object's status subresource (see the module's docstring)."""

    # The provider captures nothing secret: its pickled form need not be encrypted per resource.
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        _apply(props, props["status"])
        return pulumi.dynamic.CreateResult(f"{props['namespace']}/{props['name']}", _outputs(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = [key for key in _IDENTITY if olds.get(key) != news.get(key)]
        # The kubeconfig is how to reach the cluster, not part of the status: a new one changes nothing.
        changed = bool(replaces) or olds.get("status") != news.get("status")
        return pulumi.dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        _apply(news, news["status"])
        return pulumi.dynamic.UpdateResult(_outputs(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # An applied ``status: {}`` would leave a null status, which the schema refuses; an empty
        # conditions list owns no entry, so every entry this manager owned goes and others' stay.
        _apply(props, {"conditions": []}, missing_ok=True)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        namespace, _, name = id_.partition("/")
        target = {"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ClusterProfile", **props,
                  "namespace": namespace, "name": name}
        live = _get(target)
        return pulumi.dynamic.ReadResult(id_, _outputs({**target, "status": _owned(live, props.get("status"))}))


def _outputs(props: dict[str, Any]) -> dict[str, Any]:
    return {key: props.get(key) for key in (*_IDENTITY, "status", "kubeconfig", "context")}


def _owned(live_status: dict[str, Any], desired: dict[str, Any] | None) -> dict[str, Any]:
    """The part of ``live_status`` this program writes: the entries of its list items by key."""
    if not desired:
        return live_status
    keys = {"conditions": "type", "properties": "name", "accessProviders": "name"}
    owned: dict[str, Any] = {}
    for field, value in desired.items():
        live = live_status.get(field)
        if field in keys and isinstance(live, list) and isinstance(value, list):
            key = keys[field]
            wanted = [item.get(key) for item in value]
            by_key = {item.get(key): item for item in live if isinstance(item, dict)}
            owned[field] = [by_key[k] for k in wanted if k in by_key]
        elif live is not None:
            owned[field] = live
    return owned


def _apply(props: dict[str, Any], status: dict[str, Any], *, missing_ok: bool = False) -> None:
    from kubernetes.client.exceptions import ApiException

    group, _, version = props["apiVersion"].rpartition("/")
    body = {"apiVersion": props["apiVersion"], "kind": props["kind"],
            "metadata": {"name": props["name"], "namespace": props["namespace"]}, "status": status}
    try:
        _custom_objects(props).patch_namespaced_custom_object_status(
            group, version, props["namespace"], _PLURALS[props["kind"]], props["name"], body,
            field_manager=FIELD_MANAGER, force=True, _content_type=_APPLY_PATCH)
    except ApiException as err:
        if err.status == 404 and missing_ok:
            return
        raise RuntimeError(f"server-side apply of the status of {props['kind']} "
                           f"{props['namespace']}/{props['name']}: HTTP {err.status} {err.reason}: "
                           f"{_message(err)}") from None


def _get(props: dict[str, Any]) -> dict[str, Any]:
    from kubernetes.client.exceptions import ApiException

    group, _, version = props["apiVersion"].rpartition("/")
    try:
        found = _custom_objects(props).get_namespaced_custom_object(
            group, version, props["namespace"], _PLURALS[props["kind"]], props["name"])
    except ApiException as err:
        raise RuntimeError(f"read {props['kind']} {props['namespace']}/{props['name']}: HTTP {err.status} "
                           f"{err.reason}: {_message(err)}") from None
    status = found.get("status") if isinstance(found, dict) else None
    return status if isinstance(status, dict) else {}


def _message(err: Any) -> str:
    import json

    try:
        return str(json.loads(err.body).get("message"))
    except (TypeError, ValueError, AttributeError):
        return str(err.body)


_CLIENTS: dict[tuple[str | None, str | None], Any] = {}


def _custom_objects(props: dict[str, Any]) -> Any:
    """One API client per kubeconfig and context, for the life of the provider process."""
    from kubernetes import client as k8s

    from inventory.settings import Settings
    from inventory.sources import api_client

    key = (props.get("kubeconfig") or None, props.get("context") or None)
    if key not in _CLIENTS:
        _CLIENTS[key] = k8s.CustomObjectsApi(api_client(Settings(kubeconfig=key[0], context=key[1])))
    return _CLIENTS[key]


_PROVIDER = _StatusProvider()


class ClusterProfileStatus(pulumi.dynamic.Resource, module="inventory", name="ClusterProfileStatus"):
    """The status subresource of one object, applied under ``FIELD_MANAGER``."""

    def __init__(self, name: str, *, api_version: str, kind: str, namespace: str, object_name: str,
                 status: dict[str, Any], kubeconfig: pulumi.Input[str] | None, context: str | None,
                 management_cluster: str | None, opts: pulumi.ResourceOptions) -> None:
        props = {"apiVersion": api_version, "kind": kind, "namespace": namespace, "name": object_name,
                 "status": status, "kubeconfig": kubeconfig, "context": context,
                 "managementCluster": management_cluster}
        secret = pulumi.ResourceOptions(additional_secret_outputs=["kubeconfig"])
        super().__init__(_PROVIDER, name, props, pulumi.ResourceOptions.merge(opts, secret))
