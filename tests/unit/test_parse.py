"""The parsing edge: raw objects -> model; malformed objects are reported by name and left out."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from inventory.model.diagnostics import ObjectRef, Severity
from inventory.model.inventory import AccessProvider, CapiCluster, ClusterAccess, Namespace
from inventory.sources.parse import RawObject, build_inventory


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def secret(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns", "labels": {"a": "b"}, "annotations": {"note": "x"}},
        "type": "cluster.x-k8s.io/secret",
        "data": {"value": b64("kubeconfig bytes")},
    }
    body.update(overrides)
    return body


def profile_body(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "multicluster.x-k8s.io/v1alpha1",
        "kind": "ClusterProfile",
        "metadata": {"name": "p", "namespace": "fleet", "labels": {"env": "prod"}},
        "spec": spec,
        "status": status or {},
    }


def parse(*bodies: dict[str, Any]) -> Any:
    return build_inventory(RawObject(body, f"doc-{i}") for i, body in enumerate(bodies))


def only_reason(inventory: Any) -> str:
    assert len(inventory.diagnostics) == 1, inventory.diagnostics
    return str(inventory.diagnostics[0].reason)


def test_secret_data_is_decoded_from_base64() -> None:
    (parsed,) = parse(secret()).secrets
    assert parsed.data == {"value": b"kubeconfig bytes"}
    assert (parsed.namespace, parsed.name, parsed.type) == ("ns", "s", "cluster.x-k8s.io/secret")
    assert parsed.labels == {"a": "b"} and parsed.annotations == {"note": "x"}


def test_secret_string_data_is_accepted_and_wins_over_data() -> None:
    (parsed,) = parse(secret(stringData={"value": "plain", "extra": "more"})).secrets
    assert parsed.data == {"value": b"plain", "extra": b"more"}


def test_secret_type_defaults_to_opaque() -> None:
    body = secret()
    del body["type"]
    assert parse(body).secrets[0].type == "Opaque"


def test_secret_with_invalid_base64_is_reported_and_left_out() -> None:
    inventory = parse(secret(data={"value": "not base64!"}))
    assert inventory.secrets == ()
    assert inventory.diagnostics[0].subject == ObjectRef("Secret", "ns", "s")
    assert only_reason(inventory) == "data['value']: not valid base64 (doc-0)"


def test_secret_data_value_that_is_not_a_string_is_reported() -> None:
    assert "expected a base64 string, got a number" in only_reason(parse(secret(data={"value": 12})))


def test_secret_with_invalid_data_key_is_reported() -> None:
    assert "key 'a/b' is not a valid Secret data key" in only_reason(parse(secret(data={"a/b": b64("x")})))


def test_label_value_that_is_not_a_string_is_reported_with_a_hint() -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {"consumer": True}}}
    assert (
        only_reason(parse(body))
        == "metadata.labels['consumer']: expected a string, got a boolean True (quote it) (doc-0)"
    )


def test_label_value_over_the_limit_is_reported() -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {"k": "v" * 64}}}
    assert "64 characters long, the limit is 63" in only_reason(parse(body))


@pytest.mark.parametrize("missing", ["name", "namespace"])
def test_namespaced_object_without_name_or_namespace_is_reported(missing: str) -> None:
    body = secret()
    del body["metadata"][missing]
    assert only_reason(parse(body)).startswith(f"metadata.{missing} is required")


def test_object_without_metadata_is_reported_by_kind() -> None:
    inventory = parse({"apiVersion": "v1", "kind": "Secret"})
    assert inventory.diagnostics[0].subject == ObjectRef("Secret", None, "<unnamed>")
    assert only_reason(inventory).startswith("metadata is missing or not a map")


def test_object_without_kind_is_reported() -> None:
    assert only_reason(parse({"metadata": {"name": "x"}})).startswith("not a Kubernetes object")


def test_object_name_breaking_dns_rules_is_reported() -> None:
    body = secret()
    body["metadata"]["name"] = "Bad_Name"
    assert "is not a DNS-1123 subdomain" in only_reason(parse(body))


def test_malformed_object_reports_warning_and_others_are_kept() -> None:
    inventory = parse(
        secret(data={"value": "%%%"}), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ok"}}
    )
    assert inventory.namespaces == (Namespace("ok"),)
    assert inventory.diagnostics[0].severity is Severity.WARNING


def namespace_body(metadata: dict[str, Any] | None = None, status: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", **(metadata or {})}}
    if status is not None:
        body["status"] = status
    return body


def test_namespace_in_phase_terminating_is_terminating() -> None:
    inventory = parse(namespace_body(status={"phase": "Terminating"}))
    assert inventory.namespaces == (Namespace("team-a", terminating=True),)


@pytest.mark.parametrize("timestamp", ["2025-03-01T12:00:00Z", datetime(2025, 3, 1, 12, tzinfo=UTC)])
def test_namespace_with_a_deletion_timestamp_is_terminating(timestamp: Any) -> None:
    # An unquoted timestamp in a YAML manifest arrives as a datetime.
    inventory = parse(namespace_body({"deletionTimestamp": timestamp}, status={"phase": "Active"}))
    assert inventory.namespaces == (Namespace("team-a", terminating=True),)


def test_active_namespace_is_not_terminating() -> None:
    inventory = parse(namespace_body(status={"phase": "Active"}))
    assert inventory.namespaces == (Namespace("team-a", terminating=False),)


def test_namespace_status_that_is_not_a_map_is_reported() -> None:
    inventory = parse(namespace_body(status="Terminating"))
    assert inventory.namespaces == ()
    assert only_reason(inventory) == "status: expected a map, got a str (doc-0)"


def test_kinds_the_inventory_does_not_use_are_ignored() -> None:
    inventory = parse({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}})
    assert inventory == build_inventory([])


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_capi_cluster_v1beta1_and_v1beta2_are_read(version: str) -> None:
    body = {
        "apiVersion": f"cluster.x-k8s.io/{version}",
        "kind": "Cluster",
        "metadata": {"name": "c1", "namespace": "mgmt", "labels": {"clusterprofile-name": "c1"}},
        "spec": {"anything": "ignored"},
    }
    assert parse(body).clusters == (
        CapiCluster("mgmt", "c1", {"clusterprofile-name": "c1"}, api_version=f"cluster.x-k8s.io/{version}"),
    )


def test_capi_cluster_of_unsupported_version_is_reported() -> None:
    body = {"apiVersion": "cluster.x-k8s.io/v1alpha3", "kind": "Cluster", "metadata": {"name": "c", "namespace": "m"}}
    assert "'cluster.x-k8s.io/v1alpha3' is not supported" in only_reason(parse(body))


def test_cluster_profile_access_providers_are_read() -> None:
    status = {
        "accessProviders": [
            {
                "name": "kubeconfig-secretreader",
                "cluster": {
                    "server": "https://c:6443",
                    "certificate-authority-data": b64(b"CA"),
                    "insecure-skip-tls-verify": True,
                    "extensions": [
                        {"name": "client.authentication.k8s.io/exec", "extension": {"name": "s", "key": "k"}}
                    ],
                },
            }
        ],
        "credentialProviders": [{"name": "legacy"}],
    }
    (parsed,) = parse(profile_body(status, displayName="Prod")).profiles
    assert parsed.display_name == "Prod"
    assert parsed.labels == {"env": "prod"}
    assert parsed.access_providers == (
        AccessProvider(
            "kubeconfig-secretreader",
            ClusterAccess(
                "https://c:6443", b"CA", True, {"client.authentication.k8s.io/exec": {"name": "s", "key": "k"}}
            ),
        ),
    )
    assert parsed.credential_providers == (AccessProvider("legacy"),)


def test_cluster_profile_without_status_has_no_providers() -> None:
    (parsed,) = parse(profile_body()).profiles
    assert parsed.access_providers == () and parsed.credential_providers == ()


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ({"accessProviders": {"name": "x"}}, "status.accessProviders: expected a list, got a map"),
        ({"accessProviders": [{"cluster": {}}]}, "status.accessProviders[0].name is required"),
        ({"accessProviders": [{"name": "a"}, {"name": "a"}]}, "provider name 'a' is listed twice"),
        ({"accessProviders": [{"name": "a", "cluster": {"certificate-authority-data": "??"}}]}, "not valid base64"),
        (
            {"accessProviders": [{"name": "a", "cluster": {"insecure-skip-tls-verify": "yes"}}]},
            "expected true or false",
        ),
        (
            {"credentialProviders": [{"name": "a", "cluster": {"extensions": [{"extension": {}}]}}]},
            "extensions[0].name is required",
        ),
    ],
)
def test_malformed_cluster_profile_status_is_reported(status: dict[str, Any], reason: str) -> None:
    inventory = parse(profile_body(status))
    assert inventory.profiles == ()
    assert inventory.diagnostics[0].subject == ObjectRef("ClusterProfile", "fleet", "p")
    assert reason in only_reason(inventory)


def test_cluster_profile_display_name_must_be_a_string() -> None:
    assert "spec.displayName: expected a string, got a number" in only_reason(parse(profile_body(displayName=3)))


def test_object_defined_twice_is_an_error_naming_both_places() -> None:
    inventory = parse(secret(), secret())
    assert inventory.secrets == ()
    (diagnostic,) = inventory.diagnostics
    assert diagnostic.severity is Severity.ERROR
    assert str(diagnostic) == "error: Secret ns/s: defined 2 times (doc-0, doc-1)"


def test_collections_are_sorted_whatever_the_input_order() -> None:
    a = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}
    b = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}
    assert parse(b, a) == parse(a, b)
