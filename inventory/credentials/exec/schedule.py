"""Sharing exec-plugin time between ClusterProfile namespaces (SPEC §9: fair exec-plugin time).

Part of running plugins (``inventory.credentials.exec.resolve``): which plugin starts next. A
namespace is usually one team's, and a team decides how many profiles it creates and which
(possibly slow, possibly hung) servers they name. So that one team's plugins cannot take the run's
time from the others:

- a free slot goes to the namespace with profiles waiting that has the fewest plugins running,
  the one served longest ago first (round-robin on ties): with k namespaces waiting each holds at
  least ``slots // k`` slots, and a namespace alone uses them all;
- each namespace has a time budget per run (``execNamespaceBudgetSeconds``) counted in seconds of
  its plugins running; a plugin starts only when its whole time limit fits in what is left (time
  used, minus the whole limit of each of its plugins still running), so a namespace never runs
  past its budget. Once nothing more fits, its remaining profiles are skipped, each with a
  diagnostic, while the other namespaces carry on.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from inventory.credentials.exec.invocation import Invocation
from inventory.credentials.exec.reuse import ExecResult
from inventory.model import ObjectRef

# The stack config key of the budget, named by every skip.
BUDGET_KEY = "execNamespaceBudgetSeconds"


@dataclass(frozen=True)
class OverBudget:
    """A profile whose plugin was not started: its namespace's budget had no room left."""

    namespace: str
    used_seconds: float
    budget_seconds: float
    timeout_seconds: float

    @property
    def message(self) -> str:
        return (f"exec plugin not run: namespace {self.namespace} has used {self.used_seconds:.1f}s of its "
                f"{self.budget_seconds:g}s of exec-plugin time for this run (stack config {BUDGET_KEY}) and "
                f"another call may take {self.timeout_seconds:g}s; other namespaces are not affected")


@dataclass
class _Namespace:
    name: str
    waiting: deque[Invocation]
    last_served: int
    running: int = 0
    used: float = 0.0  # seconds its finished plugins ran

    def fits(self, timeout: float, budget: float) -> bool:
        return self.used + (self.running + 1) * timeout <= budget


@dataclass
class _Started:
    invocation: Invocation
    namespace: _Namespace
    outcome: Future[tuple[ExecResult, float]] = field(repr=False)


def run_fairly(
    invocations: Sequence[Invocation],
    mint: Callable[[Invocation], ExecResult],
    *,
    slots: int,
    timeout: float,
    budget: float,
) -> dict[ObjectRef, ExecResult | OverBudget]:
    """``mint`` for each invocation, ``slots`` at a time, shared between namespaces as above.

    ``timeout`` is one call's time limit (``mint`` enforces it); ``budget`` a namespace's seconds.
    """
    by_name: dict[str, deque[Invocation]] = {}
    for invocation in invocations:
        by_name.setdefault(invocation.profile.namespace, deque()).append(invocation)
    # Served-turn counters start at each namespace's rank, so the first round goes in name order.
    namespaces = [_Namespace(name, by_name[name], last_served=rank) for rank, name in enumerate(sorted(by_name))]
    turns = itertools.count(len(namespaces))
    outcomes: dict[ObjectRef, ExecResult | OverBudget] = {}
    started: list[_Started] = []
    if not namespaces:
        return outcomes
    with ThreadPoolExecutor(max_workers=min(slots, len(invocations))) as pool:
        while True:
            while len(started) < slots and (namespace := _next(namespaces, timeout, budget)) is not None:
                invocation = namespace.waiting.popleft()
                namespace.running += 1
                namespace.last_served = next(turns)
                started.append(_Started(invocation, namespace, pool.submit(_timed, mint, invocation)))
            for namespace in namespaces:
                if namespace.waiting and not namespace.running and not namespace.fits(timeout, budget):
                    skipped = OverBudget(namespace.name, namespace.used, budget, timeout)
                    outcomes.update((invocation.profile.ref, skipped) for invocation in namespace.waiting)
                    namespace.waiting.clear()
            if not started:
                return outcomes
            done, _ = wait([run.outcome for run in started], return_when=FIRST_COMPLETED)
            for run in [run for run in started if run.outcome in done]:
                started.remove(run)
                result, seconds = run.outcome.result()
                run.namespace.running -= 1
                run.namespace.used += seconds
                outcomes[run.invocation.profile.ref] = result


def _next(namespaces: Sequence[_Namespace], timeout: float, budget: float) -> _Namespace | None:
    """The namespace whose plugin starts next: waiting, within budget, fewest running, longest unserved."""
    candidates = [ns for ns in namespaces if ns.waiting and ns.fits(timeout, budget)]
    return min(candidates, key=lambda ns: (ns.running, ns.last_served), default=None)


def _timed(mint: Callable[[Invocation], ExecResult], invocation: Invocation) -> tuple[ExecResult, float]:
    started = time.monotonic()
    result = mint(invocation)
    return result, time.monotonic() - started
