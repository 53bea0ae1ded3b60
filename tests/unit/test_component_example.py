"""docs/component.md shows examples/component as it is: the program tests/integration/test_component.py
runs is the one the page gives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "component"
PAGE = (REPO / "docs" / "component.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", PAGE, re.MULTILINE | re.DOTALL)


def _statements(source: str) -> list[str]:
    """The program's statements, without its docstring (comments are not in the tree)."""
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return [ast.dump(node) for node in body]


def test_the_pages_program_is_the_examples() -> None:
    (program,) = _blocks("python")
    assert _statements(program) == _statements((EXAMPLE / "__main__.py").read_text(encoding="utf-8"))


def test_the_pages_project_file_and_stack_config_are_the_examples() -> None:
    project, stack = (yaml.safe_load(block) for block in _blocks("yaml"))
    assert project == yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert stack == yaml.safe_load((EXAMPLE / "Pulumi.example.yaml").read_text(encoding="utf-8"))
