"""The project's own Pulumi provider plugin, ``cluster-inventory``: the gRPC server behind
``cluster-inventory:index:ClusterProfileStatus`` (what it does: ``inventory.stack.status``).

    python -m inventory.stack.status_provider ENGINE_ADDRESS

The engine starts it through ``provider/pulumi-resource-cluster-inventory`` (Pulumi.yaml,
``plugins.providers``), once per deployment, and talks to it over gRPC: Check and Diff for every
status on every run, Create, Update, Delete and Read when there is something to do. It is served
by the Pulumi SDK's ``pulumi.provider.experimental`` server, which implements exactly those
calls plus CheckConfig, DiffConfig and Configure (no Handshake: the engine falls back to
Configure, as for any provider that predates it).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    ConfigureRequest,
    ConfigureResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    GetSchemaRequest,
    GetSchemaResponse,
    PropertyDiff,
    PropertyDiffKind,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)

from inventory.stack.grant_provider import GrantCalls
from inventory.stack.grants import GRANT_TYPE, Minter
from inventory.stack.status import API_VERSION, IDENTITY, KIND, PROPERTIES, RESOURCE_TYPE, Cluster

VERSION = "1.0.0"
# The provider's own configuration; a default provider is handed every ``cluster-inventory:`` key
# of the stack (the project's config namespace), of which it keeps these.
CONFIG_KEYS = ("kubeconfig", "context")
_UNKNOWN = object()
_STRING = {"type": "string"}
_PROPERTIES = {"apiVersion": _STRING, "kind": _STRING, "namespace": _STRING, "name": _STRING,
               "managementCluster": _STRING, "status": {"type": "object", "additionalProperties": {"$ref": "pulumi.json#/Any"}}}
# What `pulumi import` needs to write the program code of what it imported.
SCHEMA = {
    "name": "cluster-inventory", "version": VERSION,
    "config": {"variables": {"kubeconfig": {**_STRING, "secret": True}, "context": _STRING}},
    "provider": {"inputProperties": {"kubeconfig": {**_STRING, "secret": True}, "context": _STRING}},
    "resources": {RESOURCE_TYPE: {
        "description": "The status subresource of a ClusterProfile, applied under this program's field manager.",
        "properties": _PROPERTIES, "required": list(_PROPERTIES),
        "inputProperties": _PROPERTIES, "requiredInputs": ["namespace", "name", "status"]}},
}


def plain(value: PropertyValue) -> Any:
    """A property value as plain Python (secrets unwrapped, unknowns as ``_UNKNOWN``; whole
    numbers as ints, as Kubernetes wants them)."""
    inner = value.value
    if isinstance(inner, Computed):
        return _UNKNOWN
    if isinstance(inner, float) and inner.is_integer():
        return int(inner)
    if isinstance(inner, Mapping):
        return {key: plain(item) for key, item in inner.items()}
    if isinstance(inner, Sequence) and not isinstance(inner, str):
        return [plain(item) for item in inner]
    return inner


def wrap(value: Any) -> PropertyValue:
    if isinstance(value, PropertyValue):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return PropertyValue(value)
    if isinstance(value, int | float):
        return PropertyValue(float(value))
    if isinstance(value, Mapping):
        return PropertyValue({str(key): wrap(item) for key, item in value.items()})
    if isinstance(value, Sequence):
        return PropertyValue([wrap(item) for item in value])
    raise TypeError(f"cannot return a {type(value).__name__} as a property")


def _props(values: dict[str, PropertyValue]) -> dict[str, Any]:
    return {key: plain(value) for key, value in values.items()}


def _outputs(props: dict[str, Any]) -> dict[str, PropertyValue]:
    return {key: wrap(props.get(key)) for key in PROPERTIES}


def _is_content(kubeconfig: str) -> bool:
    from inventory.sources import is_kubeconfig_content

    return is_kubeconfig_content(kubeconfig)


class StatusProvider(Provider):
    def __init__(self) -> None:
        self.cluster = Cluster(None, None)
        self.grants = GrantCalls(Minter(self.cluster), plain, wrap)

    async def get_schema(self, request: GetSchemaRequest) -> GetSchemaResponse:
        return GetSchemaResponse(json.dumps(SCHEMA))

    async def check_config(self, request: CheckRequest) -> CheckResponse:
        inputs: dict[str, PropertyValue] = {}
        for key in CONFIG_KEYS:
            value = request.new_inputs.get(key)
            if value is None or value.value in (None, ""):
                continue
            if not isinstance(value.value, str | Computed):
                return CheckResponse(failures=[CheckFailure(key, f"{key} must be a string")])
            # A kubeconfig's content holds credentials: a secret even when it was set as plain text.
            secret = key == "kubeconfig" and (value.is_secret or isinstance(value.value, Computed)
                                              or _is_content(value.value))
            inputs[key] = value.with_secret(secret or value.is_secret)
        return CheckResponse(inputs=inputs)

    async def diff_config(self, request: DiffRequest) -> DiffResponse:
        # A new kubeconfig or context is a new way to the same cluster: never a replacement (a
        # status's managementCluster says which cluster it is on and replaces it when that changes).
        olds, news = _props(request.old_state), _props(request.new_inputs)
        changed = [key for key in CONFIG_KEYS if olds.get(key) != news.get(key)]
        return DiffResponse(changes=bool(changed), diffs=changed)

    async def configure(self, request: ConfigureRequest) -> ConfigureResponse:
        args = _props(request.args)
        variables = {key.rpartition(":")[2]: value for key, value in request.variables.items()}
        settings = {key: args.get(key, variables.get(key)) for key in CONFIG_KEYS}
        self.cluster = Cluster(*(value if isinstance(value, str) else None for value in settings.values()))
        self.grants = GrantCalls(Minter(self.cluster), plain, wrap)
        return ConfigureResponse(accept_secrets=True, supports_preview=True)

    async def check(self, request: CheckRequest) -> CheckResponse:
        if _is_grant(request.type):
            return await self.grants.check(request)
        _check_type(request.type)
        news = request.new_inputs
        failures = [CheckFailure(key, f"{key} is required") for key in ("namespace", "name", "status")
                    if news.get(key) is None or news[key].value in (None, "")]
        inputs = {key: news.get(key, PropertyValue(None)) for key in PROPERTIES}
        inputs["apiVersion"] = news.get("apiVersion") or PropertyValue(API_VERSION)
        inputs["kind"] = news.get("kind") or PropertyValue(KIND)
        return CheckResponse(inputs=inputs, failures=failures or None)

    async def diff(self, request: DiffRequest) -> DiffResponse:
        if _is_grant(request.type):
            return await self.grants.diff(request)
        olds, news = _props(request.old_state), _props(request.new_inputs)
        replaces = [key for key in IDENTITY if olds.get(key) != news.get(key)]
        diffs = [key for key in PROPERTIES if olds.get(key) != news.get(key)]
        # State written by the dynamic provider this replaced (its pickled provider and the
        # kubeconfig it kept per resource): an update rewrites it without them.
        stale = sorted(set(olds) - set(PROPERTIES))
        detail = {key: PropertyDiff(PropertyDiffKind.UPDATE_REPLACE if key in replaces else PropertyDiffKind.UPDATE,
                                    input_diff=True) for key in diffs}
        detail.update({key: PropertyDiff(PropertyDiffKind.DELETE, input_diff=False) for key in stale})
        return DiffResponse(changes=bool(diffs or stale), replaces=replaces, diffs=diffs + stale,
                            detailed_diff=detail, delete_before_replace=True)

    async def create(self, request: CreateRequest) -> CreateResponse:
        if _is_grant(request.type):
            return await self.grants.create(request)
        props = _props(request.properties)
        if not request.preview:
            await asyncio.to_thread(self.cluster.apply, props, props["status"])
        return CreateResponse(f"{props['namespace']}/{props['name']}", _outputs(props))

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        if _is_grant(request.type):
            return await self.grants.update(request)
        props = _props(request.news)
        if not request.preview:
            await asyncio.to_thread(self.cluster.apply, props, props["status"])
        return UpdateResponse(_outputs(props))

    async def delete(self, request: DeleteRequest) -> None:
        if _is_grant(request.type):
            return await self.grants.delete(request)
        await asyncio.to_thread(self.cluster.clear, _props(request.properties))

    async def read(self, request: ReadRequest) -> ReadResponse:
        """Refresh (the state's properties given) and import (only the id, ``namespace/name``)."""
        if _is_grant(request.type):
            return await self.grants.read(request)
        namespace, _, name = request.resource_id.partition("/")
        if not namespace or not name:
            raise ValueError(f"the id of a {RESOURCE_TYPE} is NAMESPACE/NAME, not {request.resource_id!r}")
        known = _props(request.properties)
        props = {"apiVersion": known.get("apiVersion") or API_VERSION, "kind": known.get("kind") or KIND,
                 "namespace": namespace, "name": name}
        status = await asyncio.to_thread(self.cluster.owned_status, props)
        if status is None:
            return ReadResponse(resource_id="")  # gone: refresh forgets it, import reports it missing
        cluster = (known["managementCluster"] if "managementCluster" in known
                   else await asyncio.to_thread(self.cluster.identity))
        outputs = _outputs({**props, "status": status, "managementCluster": cluster})
        return ReadResponse(resource_id=request.resource_id, properties=outputs, inputs=outputs)


def _is_grant(qualified: str) -> bool:
    return qualified.rpartition("$")[2] == GRANT_TYPE


def _check_type(qualified: str) -> None:
    """``qualified`` is the URN's type: the parents' types, then ``$`` and the resource's own."""
    if qualified.rpartition("$")[2] != RESOURCE_TYPE:
        raise ValueError(f"unknown resource type {qualified}: this provider serves only {RESOURCE_TYPE} and {GRANT_TYPE}")


def main(argv: list[str] | None = None) -> None:
    """Serve the provider on a free port of 127.0.0.1 and print the port, as the engine expects.

    As ``pulumi.provider.experimental.server.main``, with one fix: that server's Read always
    sends properties, even for an empty id, and the engine takes a Read without properties, and
    only that, as "it does not exist" (``plugin.UnmarshalProperties`` with ``PropagateNil``): an
    import of a missing profile would succeed and a refresh would keep a status whose profile is
    gone."""
    import argparse

    import grpc.aio  # type: ignore[import-untyped]
    from pulumi.provider.experimental.server import ProviderServicer
    from pulumi.runtime import proto
    from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
    from pulumi.runtime.proto import provider_pb2_grpc

    class Servicer(ProviderServicer):
        async def Read(self, request: Any, context: Any) -> Any:
            response = await super().Read(request, context)  # type: ignore[no-untyped-call]
            return response if response.id else proto.ReadResponse()

    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description="Pulumi provider plugin cluster-inventory (gRPC server)")
    parser.add_argument("engine", help="Pulumi engine address")
    engine = parser.parse_known_args(args)[0].engine

    async def serve() -> None:
        server = grpc.aio.server(options=_GRPC_CHANNEL_OPTIONS)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(
            Servicer(args, VERSION, StatusProvider(), engine_address=engine), server)
        port = server.add_insecure_port(address="127.0.0.1:0")
        await server.start()
        sys.stdout.buffer.write(f"{port}\n".encode())
        sys.stdout.buffer.flush()
        await server.wait_for_termination()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
