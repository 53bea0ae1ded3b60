"""The directory source: every YAML/JSON manifest under a directory, in any layout.

Files are read recursively in path order (hidden files and directories are skipped);
a file may hold several documents and ``kind: List`` objects. A file that does not
parse is an ERROR naming the file and document: the objects it should have held
are unknown, and planning without them would delete what they produced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from inventory.model import Diagnostic, Inventory, ObjectRef, SafeLoader, Severity, describe_yaml_error
from inventory.settings import Settings
from inventory.sources.errors import InventoryReadError
from inventory.sources.parse import RawObject, build_inventory
from inventory.sources.select import select_relevant

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def read_directory(directory: str | Path, settings: Settings) -> Inventory:
    """The inventory held by the manifests under ``directory``."""
    root = Path(directory)
    if not root.is_dir():
        raise InventoryReadError(
            f"inventory directory {str(root)!r} does not exist or is not a directory: "
            "pass the directory holding the manifests (--from-dir / inventoryDir)"
        )
    raws: list[RawObject] = []
    diagnostics: list[Diagnostic] = []
    for path in manifest_files(root):
        relative = path.relative_to(root).as_posix()
        for item in _read_file(path, relative):
            if isinstance(item, Diagnostic):
                diagnostics.append(item)
            else:
                raws.append(item)
    return select_relevant(build_inventory(raws, diagnostics), settings)


def manifest_files(root: Path) -> list[Path]:
    """Every manifest file under ``root``, sorted by relative path; hidden entries are skipped."""
    files = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file():
            files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _read_file(path: Path, relative: str) -> Iterator[RawObject | Diagnostic]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        yield _file_error(relative, f"cannot be read: {err}")
        return
    if path.suffix.lower() == ".json":
        yield from _json_documents(text, relative)
    else:
        yield from _yaml_documents(text, relative)


def _json_documents(text: str, relative: str) -> Iterator[RawObject | Diagnostic]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        yield _file_error(relative, f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}")
        return
    yield from _objects(document, relative, None)


def _yaml_documents(text: str, relative: str) -> Iterator[RawObject | Diagnostic]:
    index = 0
    documents = yaml.load_all(text, Loader=SafeLoader)
    while True:
        index += 1
        try:
            document = next(documents)
        except StopIteration:
            return
        except yaml.YAMLError as err:
            yield _file_error(relative, f"document {index}: not valid YAML: {describe_yaml_error(err)}")
            return
        if document is not None:
            yield from _objects(document, relative, index)


def _objects(document: Any, relative: str, index: int | None) -> Iterator[RawObject | Diagnostic]:
    """The objects of one document: itself, or the items of a List."""
    where = relative if index is None else f"{relative}, document {index}"
    if not isinstance(document, Mapping):
        yield _file_error(
            relative, f"{_document_name(index)} is not a Kubernetes object (a map), got {_kind_of(document)}"
        )
        return
    kind = document.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in document:
        items = document["items"]
        if not isinstance(items, list):
            yield _file_error(relative, f"{_document_name(index)}: {kind} items must be a list")
            return
        for position, item in enumerate(items):
            item_where = f"{where}, item {position + 1}"
            if not isinstance(item, Mapping):
                yield _file_error(relative, f"{_document_name(index)}: item {position + 1} is not a map")
                continue
            yield RawObject(_with_list_type(item, document), item_where)
        return
    yield RawObject(document, where)


def _with_list_type(item: Mapping[str, Any], listing: Mapping[str, Any]) -> Mapping[str, Any]:
    """Items of a typed list (``SecretList``) may omit apiVersion and kind; a ``List``'s may not."""
    kind = listing.get("kind")
    if kind == "List" or ("apiVersion" in item and "kind" in item):
        return item
    filled = dict(item)
    filled.setdefault("apiVersion", listing.get("apiVersion"))
    filled.setdefault("kind", str(kind)[: -len("List")])
    return filled


def _file_error(relative: str, reason: str) -> Diagnostic:
    return Diagnostic(ObjectRef("File", None, relative), reason, Severity.ERROR)


def _document_name(index: int | None) -> str:
    return "the file" if index is None else f"document {index}"


def _kind_of(document: Any) -> str:
    if isinstance(document, list):
        return "a list"
    return f"a scalar {document!r}"[:80]
