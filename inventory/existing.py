"""Which planned objects already exist in the cluster under another owner (adoption, SPEC §4).

An object that carries this program's managed-by label (same key and value) was
written by this program, e.g. by a run that failed before it could record its
outputs; only the others (the controller's, the seeds' Event Framework's, hand-made)
need ``adoptExisting``. Lists each (apiVersion, kind, namespace) once and answers
from that list, so a first run over thousands of objects costs a handful of requests.
"""

from __future__ import annotations

from typing import Any

from inventory.objects import DesiredObject
from inventory.settings import Settings


class ExistingObjects:
    """Callable: does this planned object exist with another owner?"""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._names: dict[tuple[str, str, str | None], frozenset[str]] = {}
        self._client: Any = None

    def __call__(self, obj: DesiredObject) -> bool:
        key = (obj.api_version, obj.kind, obj.namespace)
        if key not in self._names:
            self._names[key] = self._list(*key)
        return obj.name in self._names[key]

    def _dynamic(self) -> Any:
        if self._client is None:
            from kubernetes.dynamic import DynamicClient

            from inventory.sources.live import api_client

            self._client = DynamicClient(api_client(self._settings))  # type: ignore[no-untyped-call]
        return self._client

    def _list(self, api_version: str, kind: str, namespace: str | None) -> frozenset[str]:
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        try:
            resource = self._dynamic().resources.get(api_version=api_version, kind=kind)
            items = resource.get(namespace=namespace).items if namespace else resource.get().items
        except (ResourceNotFoundError, NotFoundError):
            return frozenset()  # no such kind or namespace: nothing can clash
        key, value = self._settings.managed_by_label, self._settings.managed_by_value
        return frozenset(
            item.metadata.name for item in items if ((item.metadata.labels or {}).get(key)) != value
        )
