"""Running the Event Framework assets the way Sveltos does, for tests/unit/test_events_*.py.

* ``select_objects``: what sveltos-agent hands an aggregatedSelection script, given the
  objects an API server holds and an EventSource's resourceSelectors.
* ``run_lua51``: the script on a reference Lua 5.1 (lupa), with Sveltos' Go<->Lua
  conversions (libsveltos lib/lua MapToTable / ToGoValue) re-enacted in Python, and the
  result checked as sveltos-agent decodes it.
* ``run_gopher_lua``: the script on gopher-lua itself, through tools/go/luaeval.
* ``render_template``: a ConfigMap template through Go's text/template with Sveltos'
  function map, through tools/go/gotemplate.

The Go helpers are built on first use by tools/build-go-helper.sh into a cache outside
the repository (keyed by their go.sum), never skipped: a test that cannot build them fails.
"""

from __future__ import annotations

import base64
import functools
import json
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from lupa import lua51  # type: ignore[import-untyped]

from inventory.events.builders import CAPI_GROUP, CAPI_KUBECONFIG_CEL, CAPI_VERSIONS
from inventory.model.diagnostics import Severity
from inventory.model.inventory import (
    AccessProvider,
    CapiCluster,
    ClusterProfile,
    Inventory,
    Namespace,
    Secret,
)
from inventory.plan.compose import Plan, build_plan
from inventory.settings import Mode, Settings
from inventory.sources.files import read_directory
from inventory.sources.select import select_relevant
from tests.seed_routes import SEED_ROUTES

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
BUILD_SCRIPT = REPO / "tools" / "build-go-helper.sh"
HELPER_TIMEOUT_SECONDS = 600  # a cold build downloads modules and compiles Sprig


class SveltosRejects(AssertionError):
    """The script's result is one sveltos-agent could not decode."""


# --- inputs -------------------------------------------------------------------------------

# Fixture folders that hold other files than inventories: provider files, bare kubeconfigs.
NOT_INVENTORIES = ("exec", "argocd-kubeconfigs")


def fixture_cases() -> list[Path]:
    """Every inventory under tests/fixtures that direct mode plans: each case of an
    ``events-*`` folder, and every other folder (exec-plugin provider files aside) as one
    inventory. Folders whose reading fails (malformed files: an ERROR, so direct mode
    plans nothing) test the directory source, not planning, and are left out."""
    folders: list[Path] = []
    for folder in sorted(path for path in FIXTURES.iterdir() if path.is_dir() and path.name not in NOT_INVENTORIES):
        if folder.name.startswith("events-"):
            folders.extend(sorted(path for path in folder.iterdir() if path.is_dir()))
        else:
            folders.append(folder)
    return [folder for folder in folders
            if not any(d.severity is Severity.ERROR for d in read_inventory(folder).diagnostics)]


@functools.cache
def read_inventory(path: Path) -> Inventory:
    """The inventory of a fixture folder as direct mode reads it (both features direct:
    every object either feature uses; the EventSources select a subset of it)."""
    return read_directory(path, Settings(push_mode=Mode.DIRECT, sveltos_mode=Mode.DIRECT))


def inventory_objects(inventory: Inventory) -> list[dict[str, Any]]:
    """The inventory as the API server serves it to sveltos-agent (Secret data base64)."""
    objects: list[dict[str, Any]] = [_namespace_object(ns) for ns in inventory.namespaces]
    objects += [_cluster_object(cluster) for cluster in inventory.clusters]
    objects += [_secret_object(secret) for secret in inventory.secrets]
    objects += [_profile_object(profile) for profile in inventory.profiles]
    return objects


def _metadata(name: str, namespace: str | None, labels: Mapping[str, str],
              annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata


def _namespace_object(namespace: Namespace) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _metadata(namespace.name, None, namespace.labels)}


def _cluster_object(cluster: CapiCluster) -> dict[str, Any]:
    return {"apiVersion": cluster.api_version, "kind": "Cluster",
            "metadata": _metadata(cluster.name, cluster.namespace, cluster.labels), "spec": {}}


def _secret_object(secret: Secret) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": secret.type,
                            "metadata": _metadata(secret.name, secret.namespace, secret.labels, secret.annotations)}
    if secret.data:
        body["data"] = {key: base64.b64encode(value).decode("ascii") for key, value in secret.data.items()}
    return body


def _profile_object(profile: ClusterProfile) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ClusterProfile",
                            "metadata": _metadata(profile.name, profile.namespace, profile.labels),
                            "spec": {"clusterManager": {"name": "test"}}}
    if profile.display_name:
        body["spec"]["displayName"] = profile.display_name
    status: dict[str, Any] = {}
    for field, providers in (("accessProviders", profile.access_providers),
                             ("credentialProviders", profile.credential_providers)):
        if providers:
            status[field] = [_provider_object(provider) for provider in providers]
    if status:
        body["status"] = status
    return body


def _provider_object(provider: AccessProvider) -> dict[str, Any]:
    cluster: dict[str, Any] = {"server": provider.cluster.server}
    if provider.cluster.extensions:
        cluster["extensions"] = [{"name": name, "extension": extension}
                                 for name, extension in provider.cluster.extensions.items()]
    return {"name": provider.name, "cluster": cluster}


# --- tenant inputs, as the API server serves them (tests/unit/test_events_trust.py) ----------

PROFILE_LABEL = "x-k8s.io/cluster-profile"

STATIC_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://{server}:6443
    certificate-authority-data: Q0EK
users:
- name: admin
  user:
    token: abc.def.ghi
    client-certificate-data: Q0VSVAo=
    client-key-data: S0VZCg==
contexts:
- name: c
  context: {{cluster: c, user: admin}}
current-context: c
"""


def kubeconfig(server: str, user: str = "    token: abc.def.ghi\n") -> str:
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{server}:6443\n"
            f"users:\n- name: admin\n  user:\n{user}contexts:\n- name: c\n  context: {{cluster: c, user: admin}}\n")


def encoded(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def capi_cluster(ns: str, name: str, labels: dict[str, str], kubeconfig_text: str | bytes | None = None,
                 ) -> list[dict[str, Any]]:
    """A CAPI Cluster and its kubeconfig Secret, as CAPI (or a tenant) writes them."""
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
              "metadata": {"namespace": ns, "name": f"{name}-kubeconfig",
                           "labels": {"cluster.x-k8s.io/cluster-name": name}},
              "data": {"value": encoded(kubeconfig_text or STATIC_KUBECONFIG.format(server=f"{name}.{ns}"))}}
    return [{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
             "metadata": {"namespace": ns, "name": name, "labels": labels}, "spec": {}}, secret]


def cluster_profile(ns: str, name: str, labels: dict[str, str] | None = None,
                    status: dict[str, Any] | None = None) -> dict[str, Any]:
    profile: dict[str, Any] = {"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ClusterProfile",
                               "metadata": {"namespace": ns, "name": name, "labels": labels or {}},
                               "spec": {"clusterManager": {"name": "tenant"}}}
    if status:
        profile["status"] = status
    return profile


def labelled_secret(ns: str, name: str, profile: str, text: str | bytes) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"namespace": ns, "name": name, "labels": {PROFILE_LABEL: profile}},
            "data": {"kubeconfig": encoded(text)}}


def home(namespace: str, profile: str) -> dict[str, str]:
    """Labels placing a Cluster's profile in the Cluster's own namespace: no route needed."""
    return {"clusterprofile-name": profile, "clusterprofile-namespace": namespace}


# --- direct mode, for cross-checks ----------------------------------------------------------

# The routes of a stack that keeps the seeds' behaviour (tests/seed_routes.py), under which
# events mode and direct mode are compared object for object on every fixture; what each
# route keeps out is tested on its own (tests/unit/test_events_trust.py).


def open_routes(settings: Settings) -> Settings:
    return replace(settings, **SEED_ROUTES)


PLANNED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def direct_plan(inventory: Inventory, settings: Settings) -> Plan:
    """Direct mode's plan for ``inventory`` (no exec plugins), as the sources select it."""
    return build_plan(select_relevant(inventory, settings), settings, {}, PLANNED_AT)


def select_objects(objects: Iterable[Mapping[str, Any]], selectors: Iterable[Mapping[str, Any]],
                   ) -> list[dict[str, Any]]:
    """The ``resources`` list sveltos-agent builds: each selector's matches, in selector order.

    Like the agent, an object matched by two selectors appears twice. CAPI Clusters are
    served under every version in CAPI_VERSIONS (as a real API server converting between
    them does); each selector sees them with its own apiVersion. Within a selector,
    objects come in namespace/name order, as the API server lists them.
    """
    pool = list(objects)
    selected: list[dict[str, Any]] = []
    for selector in selectors:
        matches = [_served_as(obj, selector) for obj in pool]
        hits = [obj for obj in matches if obj is not None and _matches(obj, selector)]
        selected.extend(sorted(hits, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])))
    return selected


def _served_as(obj: Mapping[str, Any], selector: Mapping[str, Any]) -> dict[str, Any] | None:
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    if obj.get("kind") != selector["kind"] or group != selector["group"]:
        return None
    if group == CAPI_GROUP and version in CAPI_VERSIONS and selector["version"] in CAPI_VERSIONS:
        return {**obj, "apiVersion": f"{group}/{selector['version']}"}
    return dict(obj) if version == selector["version"] else None


def _matches(obj: Mapping[str, Any], selector: Mapping[str, Any]) -> bool:
    metadata = obj.get("metadata", {})
    labels = metadata.get("labels") or {}
    if selector.get("namespace") and metadata.get("namespace") != selector["namespace"]:
        return False
    if selector.get("name") and metadata.get("name") != selector["name"]:
        return False
    for label_filter in selector.get("labelFilters", []):
        key, operation = label_filter["key"], label_filter["operation"]
        if operation == "Has" and key not in labels:
            return False
        if operation == "DoesNotHave" and key in labels:
            return False
        if operation == "Equal" and labels.get(key) != label_filter["value"]:
            return False
        if operation == "Different" and labels.get(key) == label_filter["value"]:
            return False
    rules = selector.get("evaluateCEL", [])
    return not rules or any(_cel(rule["rule"], obj) for rule in rules)


def _cel(rule: str, obj: Mapping[str, Any]) -> bool:
    # Only the rules this project emits are understood; anything else must fail loudly
    # rather than be guessed.
    if rule == CAPI_KUBECONFIG_CEL:
        return str(obj["metadata"]["name"]).endswith("-kubeconfig") and obj.get("type") == "cluster.x-k8s.io/secret"
    raise NotImplementedError(f"CEL rule not emulated: {rule}")


# --- Lua on Lua 5.1 (lupa) ----------------------------------------------------------------

def run_lua51(script: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """evaluate() of ``script`` on Lua 5.1, with sveltos-agent's conversions and checks."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=False, register_eval=False)
    runtime.execute(script)
    argument = runtime.table()
    for index, resource in enumerate(resources, start=1):
        argument[index] = _map_to_table(runtime, resource)
    runtime.globals().resources = argument
    result = runtime.globals().evaluate(argument)
    return decode_like_agent(_to_go_value(runtime, result))


def _map_to_table(runtime: Any, mapping: Mapping[str, Any]) -> Any:
    """libsveltos MapToTable: JSON null and lists inside lists are dropped, as are whole
    numbers inside lists (its slice case knows float64, not the int64 Kubernetes' decoder
    produces)."""
    table = runtime.table()
    for key, value in mapping.items():
        if isinstance(value, bool | str | int | float):
            table[key] = value
        elif isinstance(value, Mapping):
            table[key] = _map_to_table(runtime, value)
        elif isinstance(value, list):
            items = runtime.table()
            position = 0
            for item in value:
                if isinstance(item, Mapping):
                    converted: Any = _map_to_table(runtime, item)
                elif isinstance(item, bool | str | float):
                    converted = item
                else:
                    continue
                position += 1
                items[position] = converted
            table[key] = items
    return table


def _to_go_value(runtime: Any, value: Any) -> Any:
    """libsveltos ToGoValue: a table with no array part is a map, otherwise a list."""
    if lupa_type(value) != "table":
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    maxn = runtime.eval("table.maxn")(value)
    if maxn == 0:
        return {str(_to_go_value(runtime, key)): _to_go_value(runtime, item) for key, item in value.items()}
    return [_to_go_value(runtime, value[index]) for index in range(1, int(maxn) + 1)]


def lupa_type(value: Any) -> str | None:
    return lua51.lua_type(value)  # type: ignore[no-any-return]


def decode_like_agent(result: Any) -> dict[str, Any]:
    """sveltos-agent's json.Unmarshal into {Resources []*unstructured.Unstructured; Message string}."""
    if not isinstance(result, dict):
        raise SveltosRejects(f"evaluate() must return a table, got {result!r}")
    resources = result.get("resources")
    if resources is not None and not isinstance(resources, list):
        raise SveltosRejects(f"resources must decode to a list, got {json.dumps(resources)}")
    for index, resource in enumerate(resources or []):
        if not isinstance(resource, dict) or not isinstance(resource.get("kind"), str) or not resource["kind"]:
            raise SveltosRejects(f"resources[{index}] is not an object with a kind: {resource!r}")
    message = result.get("message", "")
    if not isinstance(message, str):
        raise SveltosRejects(f"message must be a string, got {message!r}")
    return {"resources": resources or [], "message": message}


# --- Lua on gopher-lua, templates on text/template (Go helpers) ----------------------------

@functools.cache
def go_helper(name: str) -> Path:
    """Path of the Go helper ``name``, built into the cache if it is not there yet."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT), name], capture_output=True, text=True,
                          timeout=HELPER_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"building the {name} helper failed ({done.returncode}):\n{done.stderr}")
    return Path(done.stdout.strip())


def run_gopher_lua(script: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """evaluate() of ``script`` on gopher-lua with libsveltos' conversions (tools/go/luaeval)."""
    output = _run_helper("luaeval", {"script.lua": script, "resources.json": json.dumps(resources)})
    return decode_like_agent(json.loads(output))


def render_template(template: str, context: Mapping[str, Any],
                    resources: Mapping[str, Any] | None = None) -> str:
    """``template`` executed as event-manager instantiates it (tools/go/gotemplate); with
    ``resources`` (templateResourceRefs identifier -> object), as addon-controller's second
    pass does, getResource returning them."""
    files = {"template.yaml": template, "context.json": json.dumps(context)}
    if resources is None:
        return _run_helper("gotemplate", files)
    return _run_helper("gotemplate", files, options={"-resources": ("resources.json", json.dumps(resources))})


class HelperFailed(AssertionError):
    """A Go helper exited non-zero: the Lua or template failed the way Sveltos would."""


def _run_helper(name: str, files: Mapping[str, str], options: Mapping[str, tuple[str, str]] | None = None) -> str:
    """Run helper ``name`` on ``files`` (positional), plus ``options``: flag -> (file name, content)."""
    binary = go_helper(name)
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        paths = []
        for flag, (file_name, content) in (options or {}).items():
            path = Path(tmp) / file_name
            path.write_text(content, encoding="utf-8")
            paths += [flag, str(path)]
        for file_name, content in files.items():
            path = Path(tmp) / file_name
            path.write_text(content, encoding="utf-8")
            paths.append(str(path))
        done = subprocess.run([str(binary), *paths], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise HelperFailed(f"{name} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


# --- CRD schemas (libsveltos / event-manager, from the Go module cache) ----------------------

CRD_FILES = {
    "EventSource": ("github.com/projectsveltos/libsveltos", "LIBSVELTOS_VERSION",
                    "config/crd/bases/lib.projectsveltos.io_eventsources.yaml"),
    "SveltosCluster": ("github.com/projectsveltos/libsveltos", "LIBSVELTOS_VERSION",
                       "config/crd/bases/lib.projectsveltos.io_sveltosclusters.yaml"),
    "EventTrigger": ("github.com/projectsveltos/event-manager", "EVENT_MANAGER_VERSION",
                     "config/crd/bases/lib.projectsveltos.io_eventtriggers.yaml"),
}


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in (REPO / "tools" / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip()
    return pins


@functools.cache
def crd_schema(kind: str, version: str) -> dict[str, Any]:
    """The openAPIV3Schema of ``kind`` at ``version`` from the pinned module's CRD manifest.

    The module is located in the Go module cache (``go env GOMODCACHE``); when it is not
    there yet it is downloaded through tools/go/crds, whose go.sum pins its hash.
    """
    module, pin, relative = CRD_FILES[kind]
    module_version = pinned_versions()[pin]
    cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    path = Path(cache) / f"{_escape_module_path(module)}@{module_version}" / relative
    if not path.is_file():
        subprocess.run(["go", "mod", "download", f"{module}@{module_version}"], cwd=REPO / "tools" / "go" / "crds",
                       capture_output=True, text=True, check=True, timeout=HELPER_TIMEOUT_SECONDS)
    crd = yaml.safe_load(path.read_text())
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(f"{kind} CRD has no version {version}")


def _escape_module_path(module: str) -> str:
    """The module cache's case encoding: an upper-case letter becomes '!' and its lower case."""
    return "".join(f"!{char.lower()}" if char.isupper() else char for char in module)


def schema_problems(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Where ``value`` does not fit the structural schema: unknown fields, wrong types,
    missing required fields, values outside an enum, strings outside their length limits."""
    if schema.get("x-kubernetes-int-or-string"):
        return [] if isinstance(value, int | str) and not isinstance(value, bool) else [f"{path}: not int-or-string"]
    if "anyOf" in schema:
        return [] if any(not schema_problems(value, option, path) for option in schema["anyOf"]) \
            else [f"{path}: matches none of {schema['anyOf']}"]
    expected = schema.get("type")
    checks = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": int | float}
    if expected in checks and (not isinstance(value, checks[expected])
                               or (expected in ("integer", "number") and isinstance(value, bool))):
        return [f"{path}: expected {expected}, got {type(value).__name__}"]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str) and not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
        problems.append(f"{path}: length {len(value)} outside the schema's limits")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += schema_problems(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, dict) and expected == "object" and not schema.get("x-kubernetes-preserve-unknown-fields"):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                problems += schema_problems(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, Mapping):
                problems += schema_problems(item, extra, f"{path}.{key}")
            elif properties or extra is False:
                problems.append(f"{path}.{key}: not a field of the schema")
        problems += [f"{path}.{key}: required" for key in schema.get("required", []) if key not in value]
    return problems
