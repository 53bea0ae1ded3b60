"""The directory source: any layout of YAML/JSON manifests gives the same inventory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from inventory.model.diagnostics import ObjectRef, Severity
from inventory.model.inventory import Namespace
from inventory.settings import Mode
from inventory.sources import InventoryReadError
from inventory.sources.files import read_directory
from tests.unit.inventory_support import FIXTURES, seeded


def documents(directory: Path) -> list[dict[str, object]]:
    """Every document of the manifests under ``directory``, in path order."""
    docs: list[dict[str, object]] = []
    for path in sorted(directory.rglob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def test_basic_fixture_is_read_whole() -> None:
    inventory = read_directory(FIXTURES / "basic", seeded())
    assert [str(c.ref) for c in inventory.clusters] == ["Cluster mgmt/dev-1", "Cluster mgmt/prod-1"]
    assert [n.name for n in inventory.namespaces] == ["fleet-east", "team-a", "team-b"]
    assert [str(p.ref) for p in inventory.profiles] == ["ClusterProfile fleet/edge-1", "ClusterProfile fleet/prod-1"]
    assert [str(s.ref) for s in inventory.secrets] == [
        "Secret fleet/edge-1-credentials",
        "Secret mgmt/dev-1-kubeconfig",
        "Secret mgmt/prod-1-kubeconfig",
    ]
    assert inventory.diagnostics == ()


def test_one_multi_document_file_gives_the_same_inventory_as_many_files(tmp_path: Path) -> None:
    docs = documents(FIXTURES / "basic")
    (tmp_path / "all.yaml").write_text(yaml.safe_dump_all(reversed(docs)))
    assert read_directory(tmp_path, seeded()) == read_directory(FIXTURES / "basic", seeded())


def test_a_json_list_gives_the_same_inventory_as_yaml_files(tmp_path: Path) -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": documents(FIXTURES / "basic")}
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    (tmp_path / "sub" / "dir" / "inventory.json").write_text(json.dumps(listing))
    assert read_directory(tmp_path, seeded()) == read_directory(FIXTURES / "basic", seeded())


def test_lists_and_typed_lists_are_read_recursively() -> None:
    inventory = read_directory(FIXTURES / "lists", seeded())
    assert [n.name for n in inventory.namespaces] == ["team-a", "team-b"]
    (secret,) = inventory.secrets  # items of a SecretList may omit apiVersion and kind
    assert secret.ref == ObjectRef("Secret", "mgmt", "c1-kubeconfig")
    assert secret.data == {"value": b"clusters: []\n"}


def test_hidden_files_and_other_suffixes_are_not_read() -> None:
    inventory = read_directory(FIXTURES / "ignored-files", seeded())
    assert inventory.namespaces == (Namespace("team-a", {"x-k8s.io/cluster-inventory-consumer": "true"}),)
    assert inventory.diagnostics == ()


def test_malformed_yaml_is_an_error_naming_the_file_and_document() -> None:
    inventory = read_directory(FIXTURES / "malformed-yaml", seeded())
    (diagnostic,) = inventory.diagnostics
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.subject == ObjectRef("File", None, "broken.yaml")
    assert diagnostic.reason.startswith("document 2: not valid YAML:")
    assert "while parsing a flow sequence started at line 11" in diagnostic.reason


def test_malformed_json_is_an_error_naming_the_file() -> None:
    (diagnostic,) = read_directory(FIXTURES / "malformed-json", seeded()).diagnostics
    assert diagnostic.severity is Severity.ERROR
    assert str(diagnostic).startswith("error: File bad.json: not valid JSON: Expecting property name")


def test_document_that_is_not_an_object_is_an_error() -> None:
    (diagnostic,) = read_directory(FIXTURES / "not-an-object", seeded()).diagnostics
    assert str(diagnostic) == "error: File list.yaml: document 1 is not a Kubernetes object (a map), got a list"


def test_malformed_object_is_reported_with_its_file_and_document(tmp_path: Path) -> None:
    (tmp_path / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: Not_OK}\n"
    )
    (diagnostic,) = read_directory(tmp_path, seeded()).diagnostics
    assert diagnostic.severity is Severity.WARNING
    assert diagnostic.subject == ObjectRef("Namespace", None, "Not_OK")
    assert diagnostic.reason.endswith("(ns.yaml, document 2)")


def test_terminating_namespace_manifest_is_read_as_terminating(tmp_path: Path) -> None:
    labels = {"x-k8s.io/cluster-inventory-consumer": "true"}
    (tmp_path / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\n"
        f"metadata: {{name: going, labels: {json.dumps(labels)}, deletionTimestamp: 2025-03-01T12:00:00Z}}\n"
        "status: {phase: Terminating}\n---\n"
        f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: staying, labels: {json.dumps(labels)}}}\n"
        "status: {phase: Active}\n"
    )
    inventory = read_directory(tmp_path, seeded())
    assert inventory.namespaces == (Namespace("going", labels, terminating=True), Namespace("staying", labels))


def test_missing_directory_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryReadError, match="does not exist"):
        read_directory(tmp_path / "nope", seeded())


def test_capi_namespaces_limit_clusters_and_their_secrets(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "basic", tmp_path, dirs_exist_ok=True)
    inventory = read_directory(tmp_path, seeded(capi_namespaces=("elsewhere",)))
    assert inventory.clusters == ()
    assert [s.name for s in inventory.secrets] == [
        "edge-1-credentials",
        "prod-1-kubeconfig",
    ]  # the second is referenced


def test_profile_namespaces_limit_profiles() -> None:
    inventory = read_directory(FIXTURES / "basic", seeded(profile_namespaces=("other",)))
    assert inventory.profiles == ()
    assert [s.name for s in inventory.secrets] == ["dev-1-kubeconfig", "prod-1-kubeconfig"]


def test_features_that_are_off_read_nothing() -> None:
    inventory = read_directory(FIXTURES / "basic", seeded(push_mode=Mode.OFF, sveltos_mode=Mode.EVENTS))
    assert (inventory.clusters, inventory.namespaces, inventory.profiles, inventory.secrets) == ((), (), (), ())


def test_secrets_the_plan_does_not_read_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: unrelated, namespace: mgmt}\nstringData: {token: abc}\n---\n"
        "apiVersion: v1\nkind: Secret\nmetadata: {name: c1-ca, namespace: mgmt, labels: {cluster.x-k8s.io/cluster-name: c1}}\n"
        "stringData: {tls.key: private}\n"
    )
    assert read_directory(tmp_path, seeded()).secrets == ()


def test_our_own_push_secrets_are_not_read_back_but_stored_credentials_are(tmp_path: Path) -> None:
    managed = "app.kubernetes.io/managed-by: cluster-inventory"
    (tmp_path / "s.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: fleet-p-kubeconfig, namespace: team-a, labels: "
        f"{{x-k8s.io/cluster-profile: p, {managed}}}}}\n---\n"
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: p-sveltos-kubeconfig, namespace: fleet, labels: {{{managed}}}}}\n"
    )
    assert [s.name for s in read_directory(tmp_path, seeded()).secrets] == ["p-sveltos-kubeconfig"]
