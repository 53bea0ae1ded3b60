"""What the feature planners of one plan share: the inputs, the diagnostics, the credentials read.

``inventory.plan.compose.build_plan`` makes one ``PlanContext`` and hands it to feature A's planner
(``inventory.plan.push``), the ClusterProfile credential lookup (``inventory.plan.credentials``)
that feature B (``inventory.plan.sveltos``) and Argo CD's profiles source use, and the clash
check (``inventory.plan.clashes``). Each reports into the one diagnostics list, a kubeconfig
is validated once however many features copy it, and every Secret read as a credential is
recorded with its users so that no planned object may overwrite it. Pure, like all planning.
"""

from __future__ import annotations

from inventory.credentials import runnable_credential_problem, validate_kubeconfig
from inventory.model import Diagnostic, Inventory, ObjectRef, Severity
from inventory.settings import Settings

# The reason of every diagnostic ``PlanContext.wait`` reports starts so.
WAITING = "waiting for a healthy control plane"


class PlanContext:
    """One plan's inputs and the state its planners accumulate while planning."""

    def __init__(self, inventory: Inventory, settings: Settings) -> None:
        self.inventory = inventory
        self.settings = settings
        self.diagnostics: list[Diagnostic] = []
        self.credential_sources: dict[ObjectRef, list[ObjectRef]] = {}  # source Secret -> its users
        self._validated: dict[bytes, str | None] = {}  # one validation per distinct kubeconfig
        self._runnable: dict[bytes, str | None] = {}

    def warn(self, subject: ObjectRef, reason: str) -> None:
        self.diagnostics.append(Diagnostic(subject, reason, Severity.WARNING))

    def wait(self, subject: ObjectRef, reason: str) -> None:
        """A warning that ``subject``'s credentials wait for a healthy control plane: its reason is
        ``WAITING: reason`` and the diagnostic is marked ``waiting`` (the stack's ``waiting`` output)."""
        self.diagnostics.append(Diagnostic(subject, f"{WAITING}: {reason}", Severity.WARNING, waiting=True))

    def kubeconfig_problem(self, data: bytes, source: ObjectRef | None = None) -> str | None:
        """Why ``data`` is not a usable kubeconfig, or None (``inventory.credentials.kubeconfig``).

        ``source`` is the Secret it was read from: unless stack config marks that Secret's namespace
        as the operator's (``trustedKubeconfigNamespaces``), the kubeconfig must carry static
        credentials only (SPEC §9). None: a kubeconfig this program built itself.
        """
        try:
            problem = self._validated[data]
        except KeyError:
            problem = self._validated[data] = validate_kubeconfig(data)
        if problem is not None or source is None or self.settings.is_trusted_kubeconfig_source(source.namespace or ""):
            return problem
        try:
            runnable = self._runnable[data]
        except KeyError:
            runnable = self._runnable[data] = runnable_credential_problem(data)
        if runnable is None:
            return None
        return (f"refused: {runnable} (namespace {source.namespace} is not in trustedKubeconfigNamespaces, "
                "the operator's namespaces whose kubeconfigs may)")

    def used_as_credentials(self, source: ObjectRef, user: ObjectRef) -> None:
        """Record that ``user``'s credentials are copied from the Secret ``source``."""
        self.credential_sources.setdefault(source, []).append(user)
