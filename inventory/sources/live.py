"""The live source: read the inventory from the management cluster with the official client.

Reads are bounded: label selectors and the configured namespaces pick the objects,
lists are paginated, and the Secrets a ``kubeconfig-secretreader`` provider names
are fetched one by one. Raw JSON goes through the same parser and selection as the
directory source. A failed list raises ``InventoryReadError``; it never turns into an
empty list. A Secret a ClusterProfile names (a tenant's request, SPEC §9) that is not
found or forbidden costs only the profiles naming it: they are skipped and reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from inventory.credentials import secret_reader_reference
from inventory.model import (
    CLUSTER_PROFILE_GROUP,
    CLUSTER_PROFILE_KIND,
    CLUSTER_PROFILE_PLURAL,
    CLUSTER_PROFILE_VERSION,
    Diagnostic,
    Inventory,
)
from inventory.settings import Settings
from inventory.sources.errors import InventoryReadError
from inventory.sources.parse import (
    CAPI_GROUP,
    CAPI_VERSIONS,
    RawObject,
    build_inventory,
)
from inventory.sources.select import (
    capi_cluster_selector,
    mcr_lookalike_selector,
    reads_capi,
    reads_profiles,
    referenced_secret_names,
    secret_selectors,
    select_relevant,
    uses_profile_credentials,
)

PAGE_SIZE = 500  # items per list call: bounded memory per response, few round trips
REQUEST_TIMEOUT = (10.0, 120.0)  # seconds to connect, seconds to read one response

# (group, version, plural) of the custom resources read.
_PROFILES = (CLUSTER_PROFILE_GROUP, CLUSTER_PROFILE_VERSION, CLUSTER_PROFILE_PLURAL)


def read_cluster(settings: Settings) -> Inventory:
    """The inventory held by the management cluster that ``settings`` point at."""
    client = api_client(settings)
    try:
        reader = _ClusterReader(client, settings)
        raws = reader.read()
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return select_relevant(build_inventory(raws, reader.diagnostics), settings)


# A cluster has no identity API; the UID of its kube-system namespace is the usual stand-in
# (it lives as long as the cluster and no address, certificate or user changes it).
IDENTITY_NAMESPACE = "kube-system"


def cluster_identity(settings: Settings) -> str:
    """The identity of the cluster ``settings`` point at: its kube-system namespace's UID."""
    client = api_client(settings)
    try:
        reader = _ClusterReader(client, settings)
        resource = _Resource(f"read the {IDENTITY_NAMESPACE} namespace (the cluster's identity)",
                             "list namespaces", f"the cluster has no {IDENTITY_NAMESPACE} namespace")
        body = reader._call(resource, partial(reader._core.list_namespace,
                                              field_selector=f"metadata.name={IDENTITY_NAMESPACE}", **_raw_options()))
    finally:
        client.close()  # type: ignore[no-untyped-call]
    items = json.loads(body).get("items") or []
    if not items:
        raise InventoryReadError(f"the cluster at {client.configuration.host} has no {IDENTITY_NAMESPACE} namespace, "
                                 "the identity this program keeps a stack to")
    return str(items[0]["metadata"]["uid"])


def api_client(settings: Settings) -> k8s.ApiClient:
    """An API client from ``settings.kubeconfig`` (a path or the content) and context.

    Without a kubeconfig setting, ``KUBECONFIG`` or ``~/.kube/config`` is used.
    """
    value = settings.kubeconfig
    try:
        if value is not None and is_kubeconfig_content(value):
            client: k8s.ApiClient = k8s_config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
                yaml.safe_load(value), context=settings.context, persist_config=False
            )
            return client
        if value is not None and not os.path.isfile(os.path.expanduser(value)):
            raise InventoryReadError(
                f"kubeconfig file {value!r} does not exist: set kubeconfig to a file path or to the kubeconfig content"
            )
        client = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            # KUBECONFIG is read now, not when the client library was imported; it may list several files.
            config_file=os.path.expanduser(value) if value else os.environ.get("KUBECONFIG"),
            context=settings.context,
            persist_config=False,
        )
        return client
    except k8s_config.ConfigException as err:
        where = "the kubeconfig setting" if value else "KUBECONFIG / ~/.kube/config"
        context = f" (context {settings.context!r})" if settings.context else ""
        raise InventoryReadError(f"cannot load {where}{context}: {err}") from None


def is_kubeconfig_content(value: str) -> bool:
    """A path never parses as a YAML mapping; kubeconfig content always does."""
    if "\n" not in value and not value.lstrip().startswith("{"):
        return False
    try:
        return isinstance(yaml.safe_load(value), dict)
    except yaml.YAMLError:
        return False


@dataclass(frozen=True)
class _Resource:
    """How to name one kind of read in errors, and what fixes a failure."""

    what: str  # "list Secrets labelled x"
    rbac: str  # "list secrets"
    absent: str  # what a 404 means


class _ClusterReader:
    def __init__(self, client: k8s.ApiClient, settings: Settings) -> None:
        self._core = k8s.CoreV1Api(client)
        self._custom = k8s.CustomObjectsApi(client)
        self._apis = k8s.ApisApi(client)
        self._settings = settings
        self._server = client.configuration.host
        self.diagnostics: list[Diagnostic] = []  # profiles skipped while reading (a forbidden source Secret)
        self._forbidden: dict[tuple[str, str], str] = {}  # (namespace, name) of a source Secret -> why

    def read(self) -> list[RawObject]:
        settings = self._settings
        selectors = secret_selectors(settings)
        objects: dict[tuple[str, str, str], Mapping[str, Any]] = {}

        def keep(items: Iterator[Mapping[str, Any]]) -> None:
            for item in items:
                metadata = item.get("metadata") or {}
                objects[(str(item.get("kind")), str(metadata.get("namespace")), str(metadata.get("name")))] = item

        if reads_capi(settings):
            keep(self._capi_clusters())
            keep(self._namespaces())
            keep(self._secrets(selectors.capi_kubeconfig, settings.capi_namespaces))
        if reads_profiles(settings):
            profiles = list(self._profiles())
            keep(iter(profiles))
            if uses_profile_credentials(settings):
                keep(self._secrets(selectors.profile_labelled, settings.profile_namespaces))
                keep(self._secrets(selectors.stored_credentials, settings.profile_namespaces))
                keep(self._referenced_secrets(profiles, objects))
                self._skip_profiles_naming_forbidden_secrets(objects)
        lookalikes = mcr_lookalike_selector(settings)
        if lookalikes is not None:
            keep(self._secrets(lookalikes, ()))
        return [RawObject(body) for _, body in sorted(objects.items())]

    def _namespaces(self) -> Iterator[Mapping[str, Any]]:
        resource = _Resource("list Namespaces", "list namespaces", "the core API is not served")
        yield from self._paginate(resource, "v1", "Namespace", partial(self._core.list_namespace))

    def _secrets(self, selector: str, namespaces: tuple[str, ...]) -> Iterator[Mapping[str, Any]]:
        for namespace in namespaces or (None,):
            scope = f"in namespace {namespace}" if namespace else "in all namespaces"
            resource = _Resource(f"list Secrets labelled {selector!r} {scope}", "list secrets", "namespace not found")
            if namespace is None:
                call = partial(self._core.list_secret_for_all_namespaces, label_selector=selector)
            else:
                call = partial(self._core.list_namespaced_secret, namespace, label_selector=selector)
            yield from self._paginate(resource, "v1", "Secret", call)

    def _referenced_secrets(
        self, profiles: list[Mapping[str, Any]], already_read: Mapping[tuple[str, str, str], Any]
    ) -> Iterator[Mapping[str, Any]]:
        """The source Secrets ``kubeconfig-secretreader`` providers name; a missing one is planning's to report."""
        parsed = build_inventory(RawObject(body) for body in profiles).profiles
        for namespace, name in referenced_secret_names(parsed, self._settings):
            if ("Secret", namespace, name) in already_read:
                continue
            resource = _Resource(f"get Secret {namespace}/{name}", f"get secrets in namespace {namespace}", "")
            try:
                body = self._call(
                    resource,
                    partial(self._core.read_namespaced_secret, name, namespace, **_raw_options()),
                    missing_ok=True,
                    forbidden_ok=True,
                )
            except _NotFound:
                continue
            except _Forbidden as err:
                self._forbidden[(namespace, name)] = str(err)
                continue
            item = json.loads(body)
            item.setdefault("apiVersion", "v1")
            item.setdefault("kind", "Secret")
            yield item

    def _skip_profiles_naming_forbidden_secrets(self, objects: dict[tuple[str, str, str], Mapping[str, Any]]) -> None:
        """A source Secret this identity may not read skips the profiles that name it, and only those."""
        if not self._forbidden:
            return
        profiles = {key: body for key, body in objects.items() if key[0] == "ClusterProfile"}
        for profile in build_inventory(RawObject(body) for body in profiles.values()).profiles:
            try:
                reference = secret_reader_reference(profile)
            except ValueError:
                continue  # planning reports a malformed provider
            if reference is None or (reference.namespace, reference.name) not in self._forbidden:
                continue
            del objects[("ClusterProfile", profile.namespace, profile.name)]
            self.diagnostics.append(Diagnostic(profile.ref, (
                f"skipped: kubeconfig-secretreader: source Secret {reference.namespace}/{reference.name} could not "
                f"be read: {self._forbidden[(reference.namespace, reference.name)]}")))

    def _profiles(self) -> Iterator[Mapping[str, Any]]:
        group, version, plural = _PROFILES
        absent = (
            f"the ClusterProfile CRD ({plural}.{group}/{version}) is not installed: install it from "
            "sigs.k8s.io/cluster-inventory-api, or set sveltosMode to events or off (and clusterProfileMode to off)"
        )
        yield from self._custom_objects(
            group, version, plural, CLUSTER_PROFILE_KIND, None, self._settings.profile_namespaces, absent
        )

    def _capi_clusters(self) -> Iterator[Mapping[str, Any]]:
        version = self._served_capi_version()
        absent = (
            f"the Cluster API Cluster CRD (clusters.{CAPI_GROUP}/{version}) is not installed: "
            "install Cluster API, or set pushMode to events or off (and clusterProfileMode to off)"
        )
        yield from self._custom_objects(
            CAPI_GROUP,
            version,
            "clusters",
            "Cluster",
            capi_cluster_selector(self._settings),
            self._settings.capi_namespaces,
            absent,
        )

    def _served_capi_version(self) -> str:
        """v1beta2 where the API server serves it, else v1beta1 (older Cluster API releases)."""
        resource = _Resource("discover API groups (/apis)", "get /apis (discovery)", "discovery is not served")
        discovery = json.loads(self._call(resource, partial(self._apis.get_api_versions, **_raw_options())))
        for group in discovery.get("groups") or []:
            if group.get("name") == CAPI_GROUP:
                served = {entry.get("version") for entry in group.get("versions") or []}
                for version in CAPI_VERSIONS:
                    if version in served:
                        return version
                raise InventoryReadError(
                    f"{self._server}: API group {CAPI_GROUP} serves {sorted(v for v in served if v)}, "
                    f"none of {list(CAPI_VERSIONS)}: upgrade Cluster API, or set pushMode to events or off"
                )
        raise InventoryReadError(
            f"{self._server}: API group {CAPI_GROUP} is not served (Cluster API is not installed): "
            "install Cluster API, or set pushMode to events or off"
        )

    def _custom_objects(
        self,
        group: str,
        version: str,
        plural: str,
        kind: str,
        label_selector: str | None,
        namespaces: tuple[str, ...],
        absent: str,
    ) -> Iterator[Mapping[str, Any]]:
        options: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        for namespace in namespaces or (None,):
            scope = f"in namespace {namespace}" if namespace else "in all namespaces"
            resource = _Resource(f"list {kind} ({plural}.{group}/{version}) {scope}", f"list {plural}.{group}", absent)
            if namespace is None:
                call = partial(self._custom.list_cluster_custom_object, group, version, plural, **options)
            else:
                call = partial(self._custom.list_namespaced_custom_object, group, version, namespace, plural, **options)
            yield from self._paginate(resource, f"{group}/{version}", kind, call)

    def _paginate(
        self, resource: _Resource, api_version: str, kind: str, call: Callable[..., Any]
    ) -> Iterator[Mapping[str, Any]]:
        """Every item of a list, page by page; ``call`` takes the list options as keywords."""
        token: str | None = None
        while True:
            page = json.loads(self._call(resource, partial(call, **_list_options(token))))
            for item in page.get("items") or []:
                # List items of built-in kinds omit apiVersion and kind.
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                yield item
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                return

    def _call(self, resource: _Resource, request: Callable[[], Any], *, missing_ok: bool = False,
              forbidden_ok: bool = False) -> bytes:
        """The raw response body of ``request``; failures become ``InventoryReadError`` (``_NotFound``
        and ``_Forbidden`` where the caller tolerates them)."""
        try:
            response = request()
            body: bytes = response.data
            return body
        except ApiException as err:
            if err.status == 404 and missing_ok:
                raise _NotFound from None
            if err.status == 403 and forbidden_ok:
                raise _Forbidden(f"HTTP 403 forbidden ({_status_message(err)}): grant this identity RBAC to "
                                 f"{resource.rbac}, or point the profile at a Secret it may read") from None
            raise InventoryReadError(self._api_error(resource, err)) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise InventoryReadError(
                f"{resource.what}: cannot reach the API server at {self._server}: {err}; "
                "check the kubeconfig, context and network"
            ) from None

    def _api_error(self, resource: _Resource, err: ApiException) -> str:
        detail = _status_message(err)
        prefix = f"{resource.what} on {self._server}: HTTP {err.status}"
        if err.status == 401:
            return f"{prefix} unauthorized ({detail}): the kubeconfig's credentials were rejected; refresh them"
        if err.status == 403:
            return f"{prefix} forbidden ({detail}): grant this identity RBAC to {resource.rbac}"
        if err.status == 404:
            return f"{prefix} not found ({detail}): {resource.absent}"
        return f"{prefix} {err.reason or ''} ({detail})".replace("  ", " ")


class _NotFound(Exception):
    """A GET found nothing (the caller tolerates it)."""


class _Forbidden(Exception):
    """A GET this identity may not make (the caller tolerates it); the message says why."""


def _list_options(token: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {"limit": PAGE_SIZE, **_raw_options()}
    if token:
        options["_continue"] = token
    return options


def _raw_options() -> dict[str, Any]:
    # Raw JSON, not client models: the same dicts a manifest file holds, parsed by the same code.
    return {"_preload_content": False, "_request_timeout": REQUEST_TIMEOUT}


def _status_message(err: ApiException) -> str:
    """The API server's Status message, else the HTTP reason."""
    try:
        body = json.loads(err.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return str(err.reason or "no detail")
