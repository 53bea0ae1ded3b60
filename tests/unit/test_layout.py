"""The package's shape (docs/architecture.md): imports point down the flow, and a folder is
entered only through the names its ``__init__.py`` exports.

    model < settings < credentials < sources < plan | events < pipeline | rbac < stack | render < __main__

A module may import its own folder's modules freely. From outside a folder it imports only
names in that folder's ``__all__``. ``plan/`` and everything below it import neither Pulumi
nor anything that talks to a cluster, and no module imports another in a cycle.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "inventory"

# Each top-level unit of the package and its rank in the flow: a unit imports only units of
# a lower rank. Units of one rank (plan and events; pipeline and rbac; stack and render) do not import each other.
RANKS = {
    "model": 0,
    "settings": 1,
    "credentials": 2,
    "sources": 3,
    "plan": 4,
    "events": 4,
    "pipeline": 5,
    "rbac": 5,
    "stack": 6,
    "render": 6,
    "__main__": 7,
}
# Units that must stay pure: no Pulumi, no Kubernetes client, no processes.
PURE_UNITS = {"model", "settings", "plan", "events", "rbac"}
IMPURE_MODULES = ("pulumi", "pulumi_kubernetes", "kubernetes", "subprocess", "socket", "urllib")
# Units allowed to import Pulumi's SDK at all.
PULUMI_UNITS = {"stack"}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name, e.g. inventory.plan.push
    module: str  # the module named in the statement
    names: tuple[str, ...]  # names imported from it (empty for ``import module``)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").is_file()


def is_module(module: str) -> bool:
    return is_package(module) or (PACKAGE.parent / (module.replace(".", "/") + ".py")).is_file()


def package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports_of(path: Path) -> Iterator[Import]:
    """Every import in the module, module level and inside functions alike."""
    importer = module_name(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield Import(importer, node.module, tuple(a.name for a in node.names), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            yield Import(importer, f"<relative import level {node.level}>", (), node.lineno)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(importer, alias.name, (), node.lineno)


def unit_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else module


def folder_of(module: str) -> str:
    """The package holding ``module``'s file (a package holds its own ``__init__``)."""
    return module if is_package(module) else module.rpartition(".")[0]


def entry_package(importer: str, target: str) -> str | None:
    """The package an import of ``target`` from ``importer`` must name, or None when ``target``
    sits directly in a folder that also holds ``importer`` (or one above it)."""
    importer_folder = folder_of(importer).split(".")
    target_parts = target.split(".")
    shared = 0
    while (shared < min(len(importer_folder), len(target_parts))
           and importer_folder[shared] == target_parts[shared]):
        shared += 1
    if shared == len(target_parts):
        return None  # an ancestor package of the importer
    if shared + 1 == len(target_parts) and not is_package(target):
        return None  # a module in a folder the importer is inside
    return ".".join(target_parts[: shared + 1])


def exported(package: str) -> set[str]:
    return set(getattr(importlib.import_module(package), "__all__", ()))


def layer_problem(imp: Import) -> str | None:
    if imp.module.startswith("<relative"):
        return f"{imp.importer}:{imp.line} uses a relative import; name the module"
    if not imp.module.startswith("inventory."):
        first = imp.module.split(".")[0]
        unit = unit_of(imp.importer)
        if unit in PURE_UNITS and first in IMPURE_MODULES:
            return f"{imp.importer}:{imp.line} imports {imp.module}, but {unit}/ must stay pure"
        if first in ("pulumi", "pulumi_kubernetes") and unit not in PULUMI_UNITS:
            return f"{imp.importer}:{imp.line} imports {imp.module}; only stack/ declares Pulumi resources"
        return None
    source, target = unit_of(imp.importer), unit_of(imp.module)
    if source == target:
        return None
    if RANKS[target] >= RANKS[source]:
        return (f"{imp.importer}:{imp.line} imports {imp.module}: {source} (rank {RANKS[source]}) may import only "
                f"units below it, not {target} (rank {RANKS[target]})")
    return None


def entry_problems(imp: Import) -> list[str]:
    if not imp.module.startswith("inventory.") or unit_of(imp.importer) == "inventory":
        return []
    entry = entry_package(imp.importer, imp.module)
    if entry is None:
        return []
    if entry != imp.module:
        return [f"{imp.importer}:{imp.line} imports {imp.module}; import it from {entry} (its __init__) instead"]
    if not imp.names:
        return []
    public = exported(entry)
    return [f"{imp.importer}:{imp.line} imports {name} from {entry}, which does not export it (__all__)"
            for name in imp.names if name not in public]


def import_edges() -> dict[str, set[str]]:
    """Module -> the package modules it imports; ``from pkg import submodule`` leads to the submodule,
    and a package leads to what its ``__init__`` imports."""
    edges: dict[str, set[str]] = {}
    for path in package_modules():
        importer = module_name(path)
        targets = edges.setdefault(importer, set())
        for imp in imports_of(path):
            if not imp.module.startswith("inventory"):
                continue
            for name in imp.names or ("",):
                submodule = f"{imp.module}.{name}"
                targets.add(submodule if name and is_module(submodule) else imp.module)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for successor in sorted(edges.get(node, ())):
            if state.get(successor) == 1:
                return path[path.index(successor):] + [successor]
            if successor not in state and (found := visit(successor)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def all_imports() -> list[Import]:
    return [imp for path in package_modules() for imp in imports_of(path)]


def test_every_unit_of_the_package_has_a_rank() -> None:
    units = {unit_of(module_name(path)) for path in package_modules()} - {"inventory"}
    assert units <= RANKS.keys(), f"give these a rank in RANKS and docs/architecture.md: {units - RANKS.keys()}"


def test_imports_point_down_the_flow() -> None:
    problems = [p for imp in all_imports() if (p := layer_problem(imp))]
    assert not problems, "\n".join(problems)


def test_folders_are_entered_only_through_their_exports() -> None:
    problems = [p for imp in all_imports() for p in entry_problems(imp)]
    assert not problems, "\n".join(problems)


def test_no_module_imports_itself_through_a_cycle() -> None:
    cycle = find_cycle(import_edges())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_export_exists() -> None:
    for path in package_modules():
        if path.name == "__init__.py":
            package = importlib.import_module(module_name(path))
            missing = [name for name in getattr(package, "__all__", ()) if not hasattr(package, name)]
            assert not missing, f"{module_name(path)}.__all__ names what it does not define: {missing}"


# The checks themselves, on imports that break the rules.
@pytest.mark.parametrize(("importer", "module", "names", "reason"), [
    ("inventory.model.names", "inventory.settings", ("Settings",), "may import only units below it"),
    ("inventory.credentials.kubeconfig", "inventory.plan", ("Plan",), "may import only units below it"),
    ("inventory.plan.push", "inventory.stack", ("deploy",), "may import only units below it"),
    ("inventory.plan.push", "inventory.events", ("plan_events",), "may import only units below it"),
    ("inventory.plan.push", "pulumi", (), "must stay pure"),
    ("inventory.plan.push", "subprocess", (), "must stay pure"),
    ("inventory.sources.live", "pulumi_kubernetes", (), "only stack/ declares Pulumi resources"),
])
def test_a_layer_violation_is_reported(importer: str, module: str, names: tuple[str, ...], reason: str) -> None:
    problem = layer_problem(Import(importer, module, names, 1))
    assert problem is not None and reason in problem


def test_reaching_into_another_folder_is_reported() -> None:
    (problem,) = entry_problems(Import("inventory.stack.program", "inventory.plan.handover", ("HandOver",), 3))
    assert "import it from inventory.plan" in problem
    (problem,) = entry_problems(Import("inventory.plan.push", "inventory.credentials.exec",
                                       ("REFRESH_AT_ANNOTATION",), 4))
    assert "import it from inventory.credentials" in problem


def test_a_name_the_folder_does_not_export_is_reported() -> None:
    (problem,) = entry_problems(Import("inventory.stack.program", "inventory.plan", ("PlanContext",), 5))
    assert "does not export it" in problem


def test_a_folders_own_modules_import_each_other_freely() -> None:
    assert entry_problems(Import("inventory.plan.push", "inventory.plan.context", ("PlanContext",), 1)) == []
    assert entry_problems(Import("inventory.credentials.exec.run", "inventory.credentials.kubeconfig",
                                 ("validate_kubeconfig",), 1)) == []


def test_a_cycle_is_found() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_planning_and_offline_rendering_load_neither_pulumi_nor_the_kubernetes_client() -> None:
    probe = ("import sys, inventory.plan, inventory.events, inventory.render, inventory.pipeline; "
             "print(sorted(m for m in ('pulumi', 'pulumi_kubernetes', 'kubernetes') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=PACKAGE.parent, capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
