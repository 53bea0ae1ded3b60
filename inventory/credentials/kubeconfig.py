"""Kubeconfig bytes: telling a kubeconfig from anything else, and building a plain one.

"Plain" means one cluster, one user, one context and static credentials only: the
Secrets this program writes must work for a reader that cannot run exec plugins
(Sveltos, consumers of the push model).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import yaml

from inventory.model import ClusterAccess, SafeDumper, SafeLoader, describe_yaml_error

_CParser: Any
try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CParser = None

# The sections a clientcmd v1 Config is made of; any one of them marks a kubeconfig.
_KUBECONFIG_SECTIONS = frozenset({"clusters", "users", "contexts"})

# clientcmd fields that make a consumer run a program (exec, auth-provider) or read a file of the
# machine it runs on (tokenFile: its own ServiceAccount token, sent to whichever server the
# kubeconfig names; the paths: its keys). A kubeconfig written by a tenant must carry none of them
# (SPEC §9): only server, CA data, token, client certificate and key data reach a consumer.
RUNNABLE_FIELDS = ("exec", "auth-provider", "tokenFile", "client-certificate", "client-key",
                   "certificate-authority")
# client-go decodes kubeconfigs through encoding/json, which matches field names without regard to
# case (Unicode simple folding): compare casefolded, so `Exec:` or `tokenfile:` are caught too.
_RUNNABLE_FOLDED = {name.casefold(): name for name in RUNNABLE_FIELDS}


# Bytes of a document in which a key's text appears as it is: printable ASCII, no backslash (no
# escapes, no Unicode case folding; an implicit key is one line). Where no runnable field's name
# stands alone in such a document, in any case, none of its keys is one, and composing it (ten
# times the cost) is skipped: most kubeconfigs take this path.
_PLAIN_TEXT = re.compile(rb"[\t\n\r\x20-\x5b\x5d-\x7e]*")
# The names as a case-insensitive scan compares them (the events-mode Lua gets the same list).
RUNNABLE_FIELDS_LOWER = tuple(name.lower() for name in RUNNABLE_FIELDS)
_RUNNABLE_LOWER = tuple(name.encode() for name in RUNNABLE_FIELDS_LOWER)
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_")


def _names_a_runnable_field(lowered: bytes) -> bool:
    """Whether a runnable field's name stands alone (not inside a longer word) in ``lowered``."""
    for name in _RUNNABLE_LOWER:
        start = lowered.find(name)
        while start != -1:
            end = start + len(name)
            if (start == 0 or lowered[start - 1] not in _WORD_BYTES) and (
                    end == len(lowered) or lowered[end] not in _WORD_BYTES):
                return True
            start = lowered.find(name, start + 1)
    return False


def runnable_credential_problem(data: bytes) -> str | None:
    """Why ``data`` (a valid kubeconfig) is not static credentials only, or None.

    Every mapping key anywhere in the document is looked at, not only the current user's:
    a consumer may switch context, and a YAML document may say one thing twice.
    """
    if _PLAIN_TEXT.fullmatch(data) and not _names_a_runnable_field(data.lower()):
        return None
    try:
        root = yaml.compose(data, Loader=SafeLoader)
    except yaml.YAMLError as err:
        return f"kubeconfig is not valid YAML: {describe_yaml_error(err)}"
    found = sorted({_RUNNABLE_FOLDED[key] for key in _mapping_keys(root) if key in _RUNNABLE_FOLDED})
    if not found:
        return None
    return (f"kubeconfig carries {', '.join(found)}, which make a consumer run a program or read its own "
            "files; a kubeconfig from this source may hold only server, CA data, token, client certificate "
            "and key data")


def _mapping_keys(root: yaml.Node | None) -> Iterator[str]:
    """Every scalar mapping key of the node graph (aliases are visited once), casefolded."""
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    yield str(key.value).casefold()
                else:
                    stack.append(key)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def validate_kubeconfig(data: bytes) -> str | None:
    """The reason ``data`` is not a usable kubeconfig, or None when it is one.

    A kubeconfig is valid YAML whose top level is a mapping with ``clusters``,
    ``users`` or ``contexts``, or at least ``apiVersion: v1`` and ``kind: Config``.
    """
    if not data.strip():
        return "kubeconfig is empty"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"kubeconfig is not UTF-8 text (invalid byte at offset {err.start})"
    try:
        _check_yaml_syntax(data)
        return _top_level_problem(data)
    except yaml.YAMLError as err:
        return f"kubeconfig is not valid YAML: {describe_yaml_error(err)}"


def _check_yaml_syntax(data: bytes) -> None:
    """Raise ``yaml.YAMLError`` unless all of ``data`` parses, building no Python objects."""
    # libyaml parses without building Python objects: validation runs once per distinct
    # kubeconfig and would otherwise dominate planning time at 10,000 clusters.
    if _CParser is not None:
        _CParser(data).raw_parse()
    else:  # pragma: no cover - PyYAML built without libyaml
        for _ in yaml.parse(data, Loader=SafeLoader):
            pass


def _events(data: bytes) -> Iterator[yaml.Event]:
    """Parse events one at a time; a bare libyaml parser skips building a whole Loader."""
    if _CParser is None:  # pragma: no cover - PyYAML built without libyaml
        yield from yaml.parse(data, Loader=SafeLoader)
        return
    parser = _CParser(data)
    while (event := parser.get_event()) is not None:
        yield event


def _top_level_problem(data: bytes) -> str | None:
    """Why the top level is not a kubeconfig mapping; stops reading once it knows."""
    depth = 0  # nesting of the event stream: 1 is inside the root mapping
    expecting_key = True  # at depth 1: is the next node a key (else a value)?
    key: str | None = None
    values: dict[str, str] = {}
    for event in _events(data):
        if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentStartEvent)):
            continue
        if depth == 0:
            if isinstance(event, yaml.MappingStartEvent):
                depth = 1
                continue
            return f"kubeconfig is not a YAML mapping (got {_node_name(event)})"
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            if depth == 0:
                break
            if depth == 1:
                expecting_key = not expecting_key
                key = None
            continue
        if depth > 1:
            continue
        # A scalar or alias node directly inside the root mapping.
        if expecting_key:
            key = event.value if isinstance(event, yaml.ScalarEvent) else None
            if key in _KUBECONFIG_SECTIONS:
                return None
        elif key is not None and isinstance(event, yaml.ScalarEvent):
            values[key] = event.value
        expecting_key = not expecting_key
    if values.get("apiVersion") == "v1" and values.get("kind") == "Config":
        return None
    return "not a kubeconfig: no clusters, users or contexts, and not apiVersion v1 / kind Config"


def _node_name(event: yaml.Event) -> str:
    if isinstance(event, yaml.SequenceStartEvent):
        return "a list"
    if isinstance(event, yaml.ScalarEvent) and event.value:
        return "a scalar"
    return "an empty document"


def build_plain_kubeconfig(
    *,
    cluster_name: str,
    server: str,
    ca_data: bytes,
    insecure_skip_tls_verify: bool = False,
    token: str | None = None,
    client_certificate_data: bytes | None = None,
    client_key_data: bytes | None = None,
) -> bytes:
    """A kubeconfig with one cluster/user/context and static credentials (no exec stanza).

    Raises ValueError when the server is empty or no usable credential is given.
    """
    if not server:
        raise ValueError(f"cluster {cluster_name!r}: server is empty")
    if (client_certificate_data is None) != (client_key_data is None):
        raise ValueError(f"cluster {cluster_name!r}: a client certificate needs its key, and a key its certificate")
    if token is None and client_certificate_data is None:
        raise ValueError(f"cluster {cluster_name!r}: neither a token nor a client certificate was given")

    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = _b64(ca_data)
    if insecure_skip_tls_verify:
        cluster["insecure-skip-tls-verify"] = True
    user: dict[str, Any] = {}
    if token is not None:
        user["token"] = token
    if client_certificate_data is not None and client_key_data is not None:
        user["client-certificate-data"] = _b64(client_certificate_data)
        user["client-key-data"] = _b64(client_key_data)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": cluster_name, "user": user}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "preferences": {},
    }
    return yaml.dump(config, Dumper=SafeDumper, sort_keys=False, default_flow_style=False).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class EndpointError(ValueError):
    """A kubeconfig names no usable cluster endpoint; the message says what is missing."""


# The fields of a kubeconfig cluster entry that say where and how to reach the API server; a token
# kubeconfig carries exactly these over from the CAPI kubeconfig (never its user).
TOKEN_KUBECONFIG_CLUSTER_FIELDS = ("server", "certificate-authority-data", "tls-server-name", "proxy-url",
                                   "insecure-skip-tls-verify")


def token_kubeconfig(data: bytes, cluster_name: str, token: str) -> bytes:
    """A kubeconfig that reaches the cluster of ``data``'s current context (its server, CA,
    tls-server-name and proxy-url) as the bearer of ``token``; nothing of ``data``'s user.

    Raises EndpointError saying what ``data`` lacks."""
    entry = endpoint_entry(data)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": entry}],
        "users": [{"name": cluster_name, "user": {"token": token}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "preferences": {},
    }
    return yaml.dump(config, Dumper=SafeDumper, sort_keys=False, default_flow_style=False).encode("utf-8")


def endpoint_entry(data: bytes) -> dict[str, Any]:
    """The kubeconfig cluster entry of ``data``'s current context, cut to what reaches its API
    server (``TOKEN_KUBECONFIG_CLUSTER_FIELDS``): no credential is carried over.

    Raises EndpointError saying what ``data`` lacks."""
    cluster = _current_cluster(data)
    return {key: cluster[key] for key in TOKEN_KUBECONFIG_CLUSTER_FIELDS if key in cluster}


def _current_cluster(data: bytes) -> dict[str, Any]:
    """The cluster entry of ``data``'s current context (the only cluster without one)."""
    config = yaml.load(data, Loader=SafeLoader)
    if not isinstance(config, dict):
        raise EndpointError("not a kubeconfig")
    clusters = {entry.get("name"): entry.get("cluster") for entry in config.get("clusters") or []
                if isinstance(entry, dict)}
    contexts = {entry.get("name"): entry.get("context") for entry in config.get("contexts") or []
                if isinstance(entry, dict)}
    current = config.get("current-context")
    if current:
        context = contexts.get(current)
        if not isinstance(context, dict):
            raise EndpointError(f"current-context {current!r} is not among its contexts")
        cluster = clusters.get(context.get("cluster"))
    elif len(clusters) == 1:
        cluster = next(iter(clusters.values()))
    else:
        raise EndpointError(f"no current-context, and {len(clusters)} clusters to choose from")
    if not isinstance(cluster, dict) or not isinstance(cluster.get("server"), str) or not cluster["server"]:
        raise EndpointError("the current context's cluster has no server")
    return cluster


def kubeconfig_endpoint(data: bytes) -> ClusterAccess:
    """The server and CA of the cluster the kubeconfig's current context uses (the only
    cluster when there is no current context); no credential is carried over.

    Raises EndpointError saying what is missing.
    """
    cluster = _current_cluster(data)
    ca_text = cluster.get("certificate-authority-data") or ""
    if not isinstance(ca_text, str):
        raise EndpointError("certificate-authority-data is not a string")
    try:
        ca_data = base64.b64decode(ca_text, validate=True)
    except ValueError:
        raise EndpointError("certificate-authority-data is not valid base64") from None
    if not ca_data and cluster.get("certificate-authority"):
        raise EndpointError("the CA is a file path (certificate-authority), which consumers elsewhere cannot read")
    return ClusterAccess(
        server=cluster["server"],
        certificate_authority_data=ca_data,
        insecure_skip_tls_verify=cluster.get("insecure-skip-tls-verify") is True,
    )
