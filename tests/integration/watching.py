"""Test support: every event the API server sends on a set of objects while a step runs (a real watch)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from kubernetes import watch
from urllib3.exceptions import ProtocolError


def _metadata(obj: Any) -> tuple[str, str, str]:
    """(namespace/name, uid, resourceVersion) of a typed object or of a custom object's dict."""
    if isinstance(obj, dict):
        meta = obj["metadata"]
        return f"{meta.get('namespace')}/{meta['name']}", meta["uid"], meta["resourceVersion"]
    return f"{obj.metadata.namespace}/{obj.metadata.name}", obj.metadata.uid, obj.metadata.resource_version


@dataclass
class ObjectWatch:
    """Watches what ``list_objects`` (a kubernetes client list call, e.g.
    ``core.list_secret_for_all_namespaces``) lists under ``selector``, from a list made on entry."""

    list_objects: Callable[..., Any]
    selector: str
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, namespace/name, uid)
    on_event: Callable[[str, Any], None] | None = None  # sees each event's type and object as it comes

    def __enter__(self) -> Self:
        listed = self.list_objects(label_selector=self.selector)
        version = listed["metadata"]["resourceVersion"] if isinstance(listed, dict) else listed.metadata.resource_version
        self._watch = watch.Watch()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(version,), daemon=True)
        self._thread.start()
        return self

    def _run(self, resource_version: str) -> None:
        try:
            for event in self._watch.stream(self.list_objects, label_selector=self.selector,
                                            resource_version=resource_version, timeout_seconds=600):
                name, uid, _ = _metadata(event["object"])
                self.events.append((event["type"], name, uid))
                if self.on_event is not None:
                    self.on_event(event["type"], event["object"])
        except ProtocolError:
            if not self._stopping.is_set():
                raise

    def __exit__(self, *exc: object) -> None:
        # The API server sends events within milliseconds; give the last ones a moment.
        self._stopping.wait(1.0)
        self._stopping.set()
        self._watch.stop()
        self._thread.join(timeout=10)

    def of(self, kind: str) -> set[str]:
        return {name for event_type, name, _ in self.events if event_type == kind}
