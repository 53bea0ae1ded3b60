"""Diagnostics: one line per problem, naming the object and the reason."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(enum.Enum):
    """How bad a problem is.

    WARNING: something was dropped or adjusted, the rest is fine (``--strict`` fails on it).
    ERROR: the input or configuration itself is unusable; the run must not go on.
    """

    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Identifies a source or output object in messages: ``Kind namespace/name``."""

    kind: str
    namespace: str | None
    name: str

    @property
    def sort_key(self) -> tuple[str, str, str]:
        """Orders refs with and without a namespace alike (``None`` and ``str`` do not compare)."""
        return (self.kind, self.namespace or "", self.name)

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A problem with one input object; the object was skipped (WARNING) or the run stops (ERROR)."""

    subject: ObjectRef
    reason: str
    severity: Severity = field(default=Severity.WARNING, compare=False)
    # The subject's credentials wait for a healthy control plane (requireHealthyControlPlane):
    # the stack lists it in its ``waiting`` output (``PlanContext.wait`` sets it).
    waiting: bool = field(default=False, compare=False)

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (*self.subject.sort_key, self.reason)

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.subject}: {self.reason}"
