"""The provider calls of ``cluster-inventory:index:ConsumerGrant`` (what a grant is and does:
``inventory.stack.grants``), served by the project's provider plugin beside the status
(``inventory.stack.status_provider`` hands every call whose type is ``GRANT_TYPE`` here)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    PropertyDiff,
    PropertyDiffKind,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)

from inventory.settings import MIN_TOKEN_LIFETIME_SECONDS
from inventory.stack.grants import INPUTS, OUTPUTS, REPLACING, GrantError, Minter, applied_grant, now, refresh_reason

# The engine's wire form of an unknown value: the SDK (3.259) cannot marshal its own ``Computed``
# in a response, and the engine reads this string as unknown in a preview, as for any provider.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# Workload clusters answer in parallel, this many at a time (each call bounded by its timeout).
MAX_PARALLEL_GRANTS = 16


class GrantCalls:
    """Check, Diff, Create, Update, Delete and Read of grants, against one ``Minter``."""

    def __init__(self, minter: Minter, plain: Any, wrap: Any) -> None:
        self.minter = minter
        self._plain, self._wrap = plain, wrap
        # Its own threads: the default executor has min(32, CPUs + 4), six on two cores.
        self._pool = ThreadPoolExecutor(MAX_PARALLEL_GRANTS, thread_name_prefix="grant")

    def _props(self, values: dict[str, PropertyValue]) -> dict[str, Any]:
        return {key: self._plain(value) for key, value in values.items()}

    def _outputs(self, props: dict[str, Any]) -> dict[str, PropertyValue]:
        outputs = {key: self._wrap(props.get(key)) for key in (*INPUTS, *OUTPUTS)}
        outputs["token"] = outputs["token"].with_secret(True)
        return outputs

    async def check(self, request: CheckRequest) -> CheckResponse:
        news = request.new_inputs
        failures = [CheckFailure(key, f"{key} is required") for key in
                    ("clusterNamespace", "clusterName", "consumer", "kubeconfigSecret", "serviceAccount")
                    if news.get(key) is None or news[key].value in (None, "")]
        lifetime = self._plain(news.get("tokenLifetimeSeconds") or PropertyValue(None))
        if isinstance(lifetime, int | float) and lifetime < MIN_TOKEN_LIFETIME_SECONDS:
            failures.append(CheckFailure("tokenLifetimeSeconds", f"must be at least {MIN_TOKEN_LIFETIME_SECONDS}"))
        inputs = {key: news.get(key, PropertyValue(None)) for key in INPUTS}
        return CheckResponse(inputs=inputs, failures=failures or None)

    async def diff(self, request: DiffRequest) -> DiffResponse:
        olds, news = self._props(request.old_state), self._props(request.new_inputs)
        replaces = [key for key in REPLACING if olds.get(key) != news.get(key)]
        if replaces:
            return DiffResponse(changes=True, replaces=replaces, diffs=replaces, delete_before_replace=True,
                                detailed_diff={key: PropertyDiff(PropertyDiffKind.UPDATE_REPLACE, True)
                                               for key in replaces})
        reason = refresh_reason(olds, news, now())
        if reason is None:
            return DiffResponse(changes=False)
        # The token always changes; the preview also names the inputs that changed (the token's
        # value stays secret).
        applied = olds.get("appliedGrant") or {}
        changed = [key for key, value in applied_grant(news).items() if applied and applied.get(key) != value]
        detail = {key: PropertyDiff(PropertyDiffKind.UPDATE, True) for key in changed}
        detail["token"] = PropertyDiff(PropertyDiffKind.UPDATE, False)
        return DiffResponse(changes=True, diffs=[*changed, "token"], detailed_diff=detail)

    async def create(self, request: CreateRequest) -> CreateResponse:
        props = self._props(request.properties)
        resource_id = f"{props['clusterNamespace']}/{props['clusterName']}/{props['consumer']}"
        if request.preview:
            return CreateResponse(resource_id, self._unknown_outputs(props))
        return CreateResponse(resource_id, self._outputs({**props, **await self._apply(props, {})}))

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        olds, props = self._props(request.olds), self._props(request.news)
        if request.preview:
            return UpdateResponse(self._unknown_outputs(props))
        return UpdateResponse(self._outputs({**props, **await self._apply(props, olds)}))

    async def _apply(self, props: dict[str, Any], olds: dict[str, Any]) -> dict[str, Any]:
        """The new outputs; a failure keeps the previous ones (the token delivered stays) with ``error``."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self.minter.apply, props)
        except GrantError as err:
            error = str(err)
        except Exception as err:  # noqa: BLE001 - one grant's surprise must not end the run
            # Only the type: a parser's message may quote the admin kubeconfig it read.
            error = f"unexpected {type(err).__name__} while granting on Cluster {props.get('clusterNamespace')}/" \
                    f"{props.get('clusterName')}"
        return {**{key: olds.get(key) for key in OUTPUTS}, "error": error}

    def _unknown_outputs(self, props: dict[str, Any]) -> dict[str, PropertyValue]:
        outputs = self._outputs(props)
        for key in ("token", "expirationTimestamp", "issuedAt", "error"):
            outputs[key] = PropertyValue(UNKNOWN).with_secret(key == "token")
        return outputs

    async def delete(self, request: DeleteRequest) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self.minter.delete,
                                                         self._props(request.properties))

    async def read(self, request: ReadRequest) -> ReadResponse:
        """Refresh keeps the state as it is: a token cannot be read back, and what is on the
        workload cluster is re-applied by the next update that needs it."""
        return ReadResponse(resource_id=request.resource_id, properties=request.properties, inputs=request.inputs)
