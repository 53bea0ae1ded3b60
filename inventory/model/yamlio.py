"""YAML in and out, through libyaml when PyYAML has it (about 20x faster than pure Python)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class StrictLoader(SafeLoader):  # type: ignore[valid-type,misc]
    """``SafeLoader`` that refuses a key given twice in one mapping: PyYAML keeps the last silently,
    while ``pulumi`` refuses such a stack file, so a config file would mean one thing here and
    another there."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"mapping key {key!r} is given twice", key_node.start_mark)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def describe_yaml_error(err: yaml.YAMLError) -> str:
    """One line: the problem and where it is (1-based line and column)."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        text = f"{err.problem} at {_position(err.problem_mark)}"
        if err.context and err.context_mark is not None:
            text += f" ({err.context} started at {_position(err.context_mark)})"
        return text
    return str(err).splitlines()[0]


def _position(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def dump_documents(documents: Iterable[Any]) -> str:
    """A multi-document YAML stream, keys in the order given."""
    return yaml.dump_all(documents, Dumper=SafeDumper, sort_keys=False, default_flow_style=False, explicit_start=True)
