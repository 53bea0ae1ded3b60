"""The parsing edge: raw Kubernetes objects (dicts from files or the API) -> the typed model.

Both sources hand their raw objects to ``build_inventory``, so a directory and a live
cluster holding the same objects yield the same ``Inventory``. A malformed object is
reported (naming kind, namespace, name and the reason) and left out; it never raises.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from inventory.model import (
    CLUSTER_PROFILE_GROUP,
    CLUSTER_PROFILE_KIND,
    CLUSTER_PROFILE_VERSION,
    AccessProvider,
    CapiCluster,
    CapiClusterStatus,
    ClusterAccess,
    ClusterProfile,
    Condition,
    Diagnostic,
    Inventory,
    Namespace,
    ObjectRef,
    Secret,
    Severity,
    is_secret_data_key,
    label_problems,
    name_problem,
    namespace_problem,
)

# Cluster API serves Cluster as v1beta2 since v1.11 and v1beta1 before; metadata is the same
# in both, the status differs (``parse_capi_status``).
CAPI_GROUP = "cluster.x-k8s.io"
CAPI_VERSIONS = ("v1beta2", "v1beta1")  # preference order when both are served
# status.phase of a Namespace being deleted; metadata.deletionTimestamp is set just before it.
TERMINATING_PHASE = "Terminating"

ParsedObject = Namespace | Secret | CapiCluster | ClusterProfile


class MalformedObject(ValueError):
    """A raw object the model cannot represent; the message is the reason."""


@dataclass(frozen=True)
class RawObject:
    """One raw object and where it came from (a file and document, for messages)."""

    body: Mapping[str, Any]
    origin: str | None = None


def build_inventory(raws: Iterable[RawObject], extra_diagnostics: Iterable[Diagnostic] = ()) -> Inventory:
    """Parse every raw object into one sorted ``Inventory``.

    Objects of kinds the inventory does not use are ignored. An object defined twice is
    an ERROR: which copy is meant is unknowable, and planning on a guess could route
    credentials to the wrong place.
    """
    diagnostics = list(extra_diagnostics)
    parsed: dict[ObjectRef, tuple[ParsedObject, str | None]] = {}
    duplicates: dict[ObjectRef, list[str | None]] = {}
    for raw in raws:
        try:
            obj = parse_object(raw.body)
        except MalformedObject as err:
            diagnostics.append(Diagnostic(raw_ref(raw.body), _with_origin(str(err), raw.origin)))
            continue
        if obj is None:
            continue
        if obj.ref in parsed:
            duplicates.setdefault(obj.ref, [parsed[obj.ref][1]]).append(raw.origin)
            continue
        parsed[obj.ref] = (obj, raw.origin)
    for ref, origins in duplicates.items():
        del parsed[ref]
        where = ", ".join(origin or "unknown origin" for origin in origins)
        diagnostics.append(Diagnostic(ref, f"defined {len(origins)} times ({where})", Severity.ERROR))

    objects = sorted((obj for obj, _ in parsed.values()), key=lambda obj: obj.ref.sort_key)
    return Inventory(
        clusters=tuple(obj for obj in objects if isinstance(obj, CapiCluster)),
        secrets=tuple(obj for obj in objects if isinstance(obj, Secret)),
        namespaces=tuple(obj for obj in objects if isinstance(obj, Namespace)),
        profiles=tuple(obj for obj in objects if isinstance(obj, ClusterProfile)),
        diagnostics=tuple(sorted(set(diagnostics), key=lambda d: d.sort_key)),
    )


def parse_object(body: Mapping[str, Any]) -> ParsedObject | None:
    """The model object for ``body``, or None if the inventory does not use its kind."""
    api_version = body.get("apiVersion")
    kind = body.get("kind")
    if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind:
        raise MalformedObject("not a Kubernetes object: apiVersion and kind must be non-empty strings")
    group, _, version = api_version.rpartition("/")
    if group == "" and version == "v1" and kind == "Namespace":
        return parse_namespace(body)
    if group == "" and version == "v1" and kind == "Secret":
        return parse_secret(body)
    if group == CAPI_GROUP and kind == "Cluster":
        if version not in CAPI_VERSIONS:
            raise MalformedObject(f"apiVersion {api_version!r} is not supported; use {CAPI_GROUP}/v1beta1 or v1beta2")
        return parse_capi_cluster(body)
    if group == CLUSTER_PROFILE_GROUP and kind == CLUSTER_PROFILE_KIND:
        if version != CLUSTER_PROFILE_VERSION:
            raise MalformedObject(f"apiVersion {api_version!r} is not supported; use {CLUSTER_PROFILE_GROUP}/{CLUSTER_PROFILE_VERSION}")
        return parse_cluster_profile(body)
    return None


def raw_ref(body: Mapping[str, Any]) -> ObjectRef:
    """The best name for a raw object in a message, however malformed it is."""
    kind = body.get("kind")
    metadata = body.get("metadata")
    namespace = name = None
    if isinstance(metadata, Mapping):
        namespace = metadata.get("namespace")
        name = metadata.get("name")
    return ObjectRef(
        kind if isinstance(kind, str) and kind else "object",
        namespace if isinstance(namespace, str) and namespace else None,
        name if isinstance(name, str) and name else "<unnamed>",
    )


def parse_namespace(body: Mapping[str, Any]) -> Namespace:
    metadata = _metadata(body)
    name = _required_string(metadata, "name", "metadata")
    _check(namespace_problem(name))
    status = _mapping(body.get("status"), "status")
    return Namespace(name=name, labels=_labels(metadata), terminating=_is_terminating(metadata, status))


def _is_terminating(metadata: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    # Either sign is enough; a manifest's unquoted deletionTimestamp reaches here as a YAML datetime.
    deletion_requested = metadata.get("deletionTimestamp") not in (None, "")
    return deletion_requested or _optional_string(status, "phase", "status") == TERMINATING_PHASE


def parse_secret(body: Mapping[str, Any]) -> Secret:
    metadata = _metadata(body)
    namespace, name = _namespaced_identity(metadata)
    secret_type = _optional_string(body, "type", "") or "Opaque"
    data: dict[str, bytes] = {}
    for key, value in _mapping(body.get("data"), "data").items():
        _check_data_key(key, "data")
        if not isinstance(value, str):
            raise MalformedObject(f"data[{key!r}]: expected a base64 string, got {_type_name(value)}")
        data[key] = _decode_base64(value, f"data[{key!r}]")
    # stringData is write-only in the API and wins over data, as the API server merges it.
    for key, value in _mapping(body.get("stringData"), "stringData").items():
        _check_data_key(key, "stringData")
        if not isinstance(value, str):
            raise MalformedObject(f"stringData[{key!r}]: expected a string, got {_type_name(value)}")
        data[key] = value.encode("utf-8")
    return Secret(
        namespace=namespace,
        name=name,
        type=secret_type,
        labels=_labels(metadata),
        annotations=_string_map(metadata.get("annotations"), "metadata.annotations"),
        data=data,
    )


def parse_capi_cluster(body: Mapping[str, Any]) -> CapiCluster:
    metadata = _metadata(body)
    namespace, name = _namespaced_identity(metadata)
    api_version = body["apiVersion"]
    try:
        status = parse_capi_status(body, api_version.rpartition("/")[2])
    except MalformedObject as err:
        # Feature A needs only the metadata: a status it cannot read must not cost the Cluster its
        # push Secrets. Feature E reports the problem and publishes the health as Unknown.
        status = CapiClusterStatus(problem=str(err))
    return CapiCluster(namespace=namespace, name=name, labels=_labels(metadata), api_version=api_version,
                       status=status)


def parse_capi_status(body: Mapping[str, Any], version: str) -> CapiClusterStatus:
    """The control-plane facts of a Cluster's status, filed by schema (``CapiClusterStatus``).

    v1beta2 (Cluster API >= 1.11): ``status.conditions`` are ``metav1.Condition``s, the v1beta1
    ones moved to ``status.deprecated.v1beta1.conditions``; ``status.controlPlane.versions``
    (>= 1.14) lists the control plane's versions; the class is ``spec.topology.classRef.name``.
    v1beta1: ``status.conditions`` carry a severity, ``status.v1beta2.conditions`` the new ones
    (>= 1.9); ``status.controlPlaneReady`` is a bool; the class is ``spec.topology.class``.
    """
    spec = _mapping(body.get("spec"), "spec")
    topology = _mapping(spec.get("topology"), "spec.topology")
    status = _mapping(body.get("status"), "status")
    if version == "v1beta2":
        deprecated = _mapping(_mapping(status.get("deprecated"), "status.deprecated").get("v1beta1"),
                              "status.deprecated.v1beta1")
        control_plane = _mapping(status.get("controlPlane"), "status.controlPlane")
        versions = control_plane.get("versions") or []
        if not isinstance(versions, list):
            raise MalformedObject(f"status.controlPlane.versions: expected a list, got {_type_name(versions)}")
        return CapiClusterStatus(
            conditions=_conditions(status.get("conditions"), "status.conditions"),
            v1beta1_conditions=_conditions(deprecated.get("conditions"), "status.deprecated.v1beta1.conditions"),
            control_plane_versions=tuple(
                _required_string(_mapping(item, f"status.controlPlane.versions[{index}]"), "version",
                                 f"status.controlPlane.versions[{index}]")
                for index, item in enumerate(versions)
            ),
            topology_version=_optional_string(topology, "version", "spec.topology"),
            topology_class=_optional_string(_mapping(topology.get("classRef"), "spec.topology.classRef"), "name",
                                            "spec.topology.classRef"),
            phase=_optional_string(status, "phase", "status"),
        )
    ready = status.get("controlPlaneReady")
    if ready is not None and not isinstance(ready, bool):
        raise MalformedObject(f"status.controlPlaneReady: expected true or false, got {ready!r}")
    return CapiClusterStatus(
        conditions=_conditions(_mapping(status.get("v1beta2"), "status.v1beta2").get("conditions"),
                               "status.v1beta2.conditions"),
        v1beta1_conditions=_conditions(status.get("conditions"), "status.conditions"),
        control_plane_ready=ready,
        topology_version=_optional_string(topology, "version", "spec.topology"),
        topology_class=_optional_string(topology, "class", "spec.topology"),
        phase=_optional_string(status, "phase", "status"),
    )


def _conditions(value: Any, where: str) -> tuple[Condition, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedObject(f"{where}: expected a list, got {_type_name(value)}")
    conditions = []
    for index, item in enumerate(value):
        entry = _mapping(item, f"{where}[{index}]")
        item_where = f"{where}[{index}]"
        conditions.append(Condition(
            type=_required_string(entry, "type", item_where),
            status=_required_string(entry, "status", item_where),
            reason=_optional_string(entry, "reason", item_where),
            message=_optional_string(entry, "message", item_where),
            last_transition_time=_time_string(entry.get("lastTransitionTime"), f"{item_where}.lastTransitionTime"),
            severity=_optional_string(entry, "severity", item_where),
        ))
    return tuple(conditions)


def _time_string(value: Any, where: str) -> str:
    """A timestamp as text; a manifest's unquoted timestamp reaches here as a YAML datetime."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not isinstance(value, str):
        raise MalformedObject(f"{where}: expected a timestamp, got {_type_name(value)} {value!r}")
    return value


def parse_cluster_profile(body: Mapping[str, Any]) -> ClusterProfile:
    metadata = _metadata(body)
    namespace, name = _namespaced_identity(metadata)
    spec = _mapping(body.get("spec"), "spec")
    status = _mapping(body.get("status"), "status")
    return ClusterProfile(
        namespace=namespace,
        name=name,
        labels=_labels(metadata),
        display_name=_optional_string(spec, "displayName", "spec"),
        access_providers=_providers(status.get("accessProviders"), "status.accessProviders"),
        credential_providers=_providers(status.get("credentialProviders"), "status.credentialProviders"),
        cluster_manager=_optional_string(_mapping(spec.get("clusterManager"), "spec.clusterManager"), "name",
                                         "spec.clusterManager"),
        conditions=_conditions(status.get("conditions"), "status.conditions"),
    )


def _providers(value: Any, where: str) -> tuple[AccessProvider, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedObject(f"{where}: expected a list, got {_type_name(value)}")
    providers: list[AccessProvider] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        item_where = f"{where}[{index}]"
        entry = _mapping(item, item_where)
        name = _required_string(entry, "name", item_where)
        if name in seen:
            raise MalformedObject(f"{item_where}: provider name {name!r} is listed twice")
        seen.add(name)
        providers.append(
            AccessProvider(name=name, cluster=_cluster_access(entry.get("cluster"), f"{item_where}.cluster"))
        )
    return tuple(providers)


def _cluster_access(value: Any, where: str) -> ClusterAccess:
    cluster = _mapping(value, where)
    ca_text = _optional_string(cluster, "certificate-authority-data", where)
    insecure = cluster.get("insecure-skip-tls-verify", False)
    if insecure is None:
        insecure = False
    if not isinstance(insecure, bool):
        raise MalformedObject(f"{where}.insecure-skip-tls-verify: expected true or false, got {insecure!r}")
    return ClusterAccess(
        server=_optional_string(cluster, "server", where),
        certificate_authority_data=_decode_base64(ca_text, f"{where}.certificate-authority-data") if ca_text else b"",
        insecure_skip_tls_verify=insecure,
        extensions=_extensions(cluster.get("extensions"), f"{where}.extensions"),
    )


def _extensions(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise MalformedObject(f"{where}: expected a list, got {_type_name(value)}")
    extensions: dict[str, Any] = {}
    for index, item in enumerate(value):
        entry = _mapping(item, f"{where}[{index}]")
        name = _required_string(entry, "name", f"{where}[{index}]")
        if name in extensions:
            raise MalformedObject(f"{where}[{index}]: extension {name!r} is listed twice")
        # Kept as JSON-compatible data; whoever uses an extension validates its shape.
        extensions[name] = entry.get("extension")
    return extensions


def _metadata(body: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping):
        raise MalformedObject("metadata is missing or not a map")
    return metadata


def _namespaced_identity(metadata: Mapping[str, Any]) -> tuple[str, str]:
    name = _required_string(metadata, "name", "metadata")
    # A manifest without a namespace lands wherever it is applied; the inventory must be explicit.
    namespace = _required_string(metadata, "namespace", "metadata")
    _check(namespace_problem(namespace))
    _check(name_problem(name))
    return namespace, name


def _labels(metadata: Mapping[str, Any]) -> dict[str, str]:
    labels = _string_map(metadata.get("labels"), "metadata.labels")
    problems = label_problems(labels)
    if problems:
        raise MalformedObject("; ".join(problems))
    return labels


def _string_map(value: Any, where: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, item in _mapping(value, where).items():
        if not isinstance(item, str):
            # YAML turns an unquoted `true` or `1` into a bool or int; the API server rejects it.
            raise MalformedObject(f"{where}[{key!r}]: expected a string, got {_type_name(item)} {item!r} (quote it)")
        result[str(key)] = item
    return result


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedObject(f"{where}: expected a map, got {_type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise MalformedObject(f"{where}: key {key!r} is not a string")
    return value


def _required_string(container: Mapping[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if value is None or value == "":
        raise MalformedObject(f"{where}.{key} is required")
    if not isinstance(value, str):
        raise MalformedObject(f"{where}.{key}: expected a string, got {_type_name(value)} {value!r}")
    return value


def _optional_string(container: Mapping[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        prefix = f"{where}.{key}" if where else key
        raise MalformedObject(f"{prefix}: expected a string, got {_type_name(value)} {value!r}")
    return value


def _decode_base64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedObject(f"{where}: not valid base64") from None


def _check_data_key(key: str, where: str) -> None:
    if not is_secret_data_key(key):
        raise MalformedObject(f"{where}: key {key!r} is not a valid Secret data key (letters, digits, '-', '_', '.')")


def _check(problem: str | None) -> None:
    if problem is not None:
        raise MalformedObject(problem)


def _with_origin(reason: str, origin: str | None) -> str:
    return f"{reason} ({origin})" if origin else reason


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a map"
    return f"a {type(value).__name__}"
