"""Kubeconfig bytes: what counts as a kubeconfig, and the plain kubeconfig built from exec credentials."""

from __future__ import annotations

import base64
import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from inventory.credentials.kubeconfig import (
    RUNNABLE_FIELDS,
    build_plain_kubeconfig,
    kubeconfig_endpoint,
    runnable_credential_problem,
    validate_kubeconfig,
)


def test_valid_kubeconfig_has_no_problem() -> None:
    text = b"apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n"
    assert validate_kubeconfig(text) is None


@pytest.mark.parametrize("section", ["clusters", "users", "contexts"])
def test_any_kubeconfig_section_marks_a_kubeconfig(section: str) -> None:
    assert validate_kubeconfig(f"{section}: []\n".encode()) is None


def test_api_version_v1_and_kind_config_mark_a_kubeconfig() -> None:
    assert validate_kubeconfig(b"kind: Config\napiVersion: v1\n") is None


def test_json_kubeconfig_is_accepted() -> None:
    assert validate_kubeconfig(b'{"apiVersion": "v1", "kind": "Config", "clusters": []}') is None


@pytest.mark.parametrize("data", [b"", b"  \n\t\n"])
def test_empty_kubeconfig_is_rejected(data: bytes) -> None:
    assert validate_kubeconfig(data) == "kubeconfig is empty"


def test_kubeconfig_that_is_not_yaml_is_rejected_with_the_position() -> None:
    problem = validate_kubeconfig(b"clusters: [\n")
    assert problem is not None and problem.startswith("kubeconfig is not valid YAML") and "line 2" in problem


def test_kubeconfig_that_is_not_utf8_is_rejected() -> None:
    assert validate_kubeconfig(b"\xff\xfeclusters") == "kubeconfig is not UTF-8 text (invalid byte at offset 0)"


@pytest.mark.parametrize(
    ("data", "shape"),
    [(b"- clusters\n", "a list"), (b"just-a-token\n", "a scalar"), (b"---\n", "an empty document")],
)
def test_kubeconfig_that_is_not_a_mapping_is_rejected(data: bytes, shape: str) -> None:
    assert validate_kubeconfig(data) == f"kubeconfig is not a YAML mapping (got {shape})"


@pytest.mark.parametrize("data", [b"{}", b"apiVersion: v1\n", b"kind: Secret\ndata: {clusters: []}\n"])
def test_mapping_without_kubeconfig_keys_is_rejected(data: bytes) -> None:
    problem = validate_kubeconfig(data)
    assert problem is not None and problem.startswith("not a kubeconfig")


def test_broken_yaml_after_the_kubeconfig_keys_is_still_rejected() -> None:
    assert validate_kubeconfig(b"clusters: []\nusers: [\n") is not None


def test_plain_kubeconfig_with_token_has_one_cluster_user_and_context() -> None:
    config = yaml.safe_load(
        build_plain_kubeconfig(cluster_name="east", server="https://east:6443", ca_data=b"CA", token="t0k3n")
    )
    assert config["clusters"] == [
        {"name": "east", "cluster": {"server": "https://east:6443", "certificate-authority-data": "Q0E="}}
    ]
    assert config["users"] == [{"name": "east", "user": {"token": "t0k3n"}}]
    assert config["contexts"] == [{"name": "east", "context": {"cluster": "east", "user": "east"}}]
    assert config["current-context"] == "east"


def test_plain_kubeconfig_with_client_certificate_has_no_exec_stanza() -> None:
    data = build_plain_kubeconfig(
        cluster_name="c", server="https://c", ca_data=b"", client_certificate_data=b"CERT", client_key_data=b"KEY"
    )
    user = yaml.safe_load(data)["users"][0]["user"]
    assert user == {
        "client-certificate-data": base64.b64encode(b"CERT").decode(),
        "client-key-data": base64.b64encode(b"KEY").decode(),
    }
    assert b"exec" not in data
    assert validate_kubeconfig(data) is None


def test_plain_kubeconfig_carries_insecure_skip_tls_verify() -> None:
    data = build_plain_kubeconfig(
        cluster_name="c", server="https://c", ca_data=b"", insecure_skip_tls_verify=True, token="t"
    )
    assert yaml.safe_load(data)["clusters"][0]["cluster"] == {"server": "https://c", "insecure-skip-tls-verify": True}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "neither a token nor a client certificate"),
        ({"client_certificate_data": b"C"}, "needs its key"),
        ({"token": "t", "server": ""}, "server is empty"),
    ],
)
def test_plain_kubeconfig_without_usable_credentials_is_refused(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"cluster_name": "c", "server": "https://c", "ca_data": b"", **kwargs}
    with pytest.raises(ValueError, match=message):
        build_plain_kubeconfig(**arguments)  # type: ignore[arg-type]


# --- kubeconfig_endpoint: the server and CA feature E publishes ----------------------------------

def _config(clusters: list[dict[str, object]], current: str | None = "ctx") -> bytes:
    config: dict[str, object] = {"apiVersion": "v1", "kind": "Config", "clusters": clusters,
                                 "contexts": [{"name": "ctx", "context": {"cluster": "a", "user": "u"}}],
                                 "users": [{"name": "u", "user": {"token": "secret-token"}}]}
    if current:
        config["current-context"] = current
    return json.dumps(config).encode()


def test_endpoint_is_the_current_contexts_cluster_without_credentials() -> None:
    data = _config([{"name": "b", "cluster": {"server": "https://b:6443"}},
                    {"name": "a", "cluster": {"server": "https://a:6443",
                                              "certificate-authority-data": base64.b64encode(b"CA").decode()}}])
    endpoint = kubeconfig_endpoint(data)
    assert (endpoint.server, endpoint.certificate_authority_data) == ("https://a:6443", b"CA")
    assert "secret-token" not in repr(endpoint)


@pytest.mark.parametrize("clusters, current, message", [
    ([{"name": "a", "cluster": {}}], "ctx", "has no server"),
    ([{"name": "a", "cluster": {"server": "https://a"}}], "other", "current-context 'other'"),
    ([{"name": "a", "cluster": {"server": "https://a"}}, {"name": "b", "cluster": {"server": "https://b"}}], None,
     "no current-context, and 2 clusters"),
    ([{"name": "a", "cluster": {"server": "https://a", "certificate-authority": "/etc/ca.crt"}}], "ctx",
     "a file path"),
])
def test_endpoint_problems_say_what_is_missing(clusters: list[dict[str, object]], current: str | None,
                                                message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kubeconfig_endpoint(_config(clusters, current))


# --- static credentials only (SPEC §9) ------------------------------------------------------------


@pytest.mark.parametrize("user", [
    b'{"exec": {"command": "/bin/sh"}}',
    b'{"ex\\u0065c": {"command": "/bin/sh"}}',  # a JSON escape
    b'{"EXEC": {"command": "/bin/sh"}}',  # client-go matches field names without regard to case
    '{"to\u212aenFile": "/var/run/token"}'.encode(),  # KELVIN SIGN folds to k
    b'{"auth-provider": {"name": "oidc"}}',
    b'{"client-key": "/etc/key", "client-certificate": "/etc/crt"}',
])
def test_runnable_fields_are_found_however_they_are_spelled(user: bytes) -> None:
    document = b'{"apiVersion": "v1", "kind": "Config", "users": [{"name": "u", "user": ' + user + b"}]}"
    assert runnable_credential_problem(document) is not None


def test_static_credentials_and_values_that_mention_a_field_name_pass() -> None:
    document = build_plain_kubeconfig(cluster_name="c", server="https://c.example", ca_data=b"ca",
                                      token="abc-exec-tokenfile")
    assert b"exec" in document
    assert runnable_credential_problem(document) is None


_KEYS = ["exec", "Exec", "tokenFile", "TOKENFILE", "client-certificate", "client-certificate-data", "client-key-data",
         "certificate-authority", "certificate-authority-data", "auth-provider", "token", "server", "x-exec",
         "exec_", "name"]
_VALUES = ["exec", "a-exec-b", "tokenFile", "/var/run/x", "abc", "client-key"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(_VALUES), st.booleans()), min_size=1, max_size=6))
def test_the_fast_path_agrees_with_composing_the_document(entries: list[tuple[str, str, bool]]) -> None:
    lines = ["users:", "- name: u", "  user:"]
    for key, value, quoted in entries:
        lines.append(f'    "{key}": "{value}"' if quoted else f"    {key}: {value}")
    document = ("\n".join(lines) + "\n").encode()
    expected = any(key.casefold() in {f.casefold() for f in RUNNABLE_FIELDS} for key, _, _ in entries)
    assert (runnable_credential_problem(document) is not None) == expected
