"""A tiny in-process stand-in for the Kubernetes API: enough to test how the live source reads.

It serves discovery (/apis), lists with label selectors and limit/continue pagination,
GETs of single Secrets, and canned failures per path. The real API server is exercised
by the integration tests; this one makes failures (403, 404, unreachable) cheap to test.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

_PLURALS = {"Namespace": "namespaces", "Secret": "secrets", "Cluster": "clusters", "ClusterProfile": "clusterprofiles"}


@dataclass
class FakeApiServer:
    """Objects as stored by the API server (Secrets with base64 ``data``) and the served API groups."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(
        default_factory=lambda: {"cluster.x-k8s.io": ["v1beta1"], "multicluster.x-k8s.io": ["v1alpha1"]}
    )
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)  # path prefix -> (status, message)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def add(self, *objects: Mapping[str, Any]) -> None:
        for obj in objects:
            stored = json.loads(json.dumps(obj))
            if stored.get("kind") == "Secret" and "stringData" in stored:
                data = stored.setdefault("data", {})
                for key, value in stored.pop("stringData").items():
                    data[key] = base64.b64encode(value.encode()).decode()
            self.objects.append(stored)

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        path.write_text(json.dumps(self.kubeconfig_content()))
        return path

    def kubeconfig_content(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }

    # ----- request handling ------------------------------------------------------------

    def respond(self, path: str, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        self.requests.append(path + ("?" + "&".join(f"{k}={v[0]}" for k, v in sorted(query.items())) if query else ""))
        for prefix, (status, message) in self.failures.items():
            if path.startswith(prefix):
                return status, _status(status, message)
        if path == "/apis":
            return 200, {
                "kind": "APIGroupList",
                "groups": [{"name": g, "versions": [{"version": v} for v in vs]} for g, vs in self.groups.items()],
            }
        route = self._route(path)
        if route is None:
            return 404, _status(404, f"the server could not find the requested resource ({path})")
        api_version, kind, namespace, name = route
        if name is not None:
            for obj in self._matching(kind, namespace, ""):
                if obj["metadata"]["name"] == name:
                    return 200, obj
            return 404, _status(404, f'secrets "{name}" not found')
        items = self._matching(kind, namespace, query.get("labelSelector", [""])[0])
        items = [_as_served(obj, api_version) for obj in items]
        start = int(query.get("continue", ["0"])[0])
        limit = int(query.get("limit", [str(len(items) or 1)])[0])
        page = items[start : start + limit]
        more = start + limit < len(items)
        return 200, {
            "apiVersion": api_version,
            "kind": f"{kind}List",
            "metadata": {"continue": str(start + limit)} if more else {},
            "items": page,
        }

    def _route(self, path: str) -> tuple[str, str, str | None, str | None] | None:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            api_version, rest = "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3 and parts[2] in self.groups.get(parts[1], []):
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        kinds = {plural: kind for kind, plural in _PLURALS.items()}
        if not rest or rest[0] not in kinds:
            return None
        return api_version, kinds[rest[0]], namespace, rest[1] if len(rest) > 1 else None

    def _matching(self, kind: str, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        return [
            obj
            for obj in self.objects
            if obj["kind"] == kind
            and (namespace is None or obj["metadata"].get("namespace") == namespace)
            and _selects(selector, obj["metadata"].get("labels") or {})
        ]


def _as_served(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    served = dict(obj)
    if "/" in api_version:
        served["apiVersion"] = api_version  # custom resources: converted to the version asked for
    else:
        served.pop("apiVersion", None)  # built-in list items omit apiVersion and kind
        served.pop("kind", None)
    return served


def _selects(selector: str, labels: Mapping[str, str]) -> bool:
    for term in filter(None, selector.split(",")):
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def _status(code: int, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}


@contextmanager
def serving(server: FakeApiServer) -> Iterator[FakeApiServer]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            status, body = server.respond(url.path.rstrip("/") or "/", parse_qs(url.query))
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
