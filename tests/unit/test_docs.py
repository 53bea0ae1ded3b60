"""README.md, CHANGELOG.md and docs/*.md say only what is true of the repository: links, make targets, commands, paths.

Read as text, never imported: the pages must stay checkable while the package is mid-change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, REPO / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 260

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
MAKE = re.compile(r"(?<![\w./-])make[ \t]+([a-z][a-z0-9-]*)")
MAKEFILE_TARGET = re.compile(r"^([a-z][a-z0-9-]*)\s*:(?!=)", re.MULTILINE)
PYTHON_M_INVENTORY = re.compile(r"python -m inventory[ \t]+([a-z]+)(?:[ \t]+([a-z|]+))?")
# Repository paths as the pages write them: `tools/cluster.py`, bench/bench_deploy.py, rbac/...
REPO_PATH = re.compile(r"(?<![\w./~$-])((?:bench|docs|examples|inventory|rbac|stacks|tests|tools|\.github)/[\w./<>{}*-]*)")
# A path with one of these in it names a family of files, not one file: stacks/Pulumi.<stack>.yaml.
PLACEHOLDER = re.compile(r"[<>{}*]|NAME|\.\.\.")
# Files the pages tell the reader to create, so they do not exist in the repository.
CREATED_BY_THE_READER = {"stacks/Pulumi.mgmt.yaml", "stacks/Pulumi.scratch.yaml", "rbac/admission-policy.dev.yaml"}


def _rel(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


def _prose(text: str) -> str:
    """The text a reader sees as prose: fenced blocks and code spans removed."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _code(text: str) -> list[str]:
    """Every fenced block and code span: where the pages write commands."""
    blocks = [match.group(0) for match in FENCE.finditer(text)]
    spans = [match.group(2) for match in CODE_SPAN.finditer(FENCE.sub("", text))]
    return blocks + spans


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = _slug(heading)
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _gitignored(path: str) -> bool:
    """Whether a path from the repository's root is ignored by a rooted `.gitignore` line (`/bench/results/`)."""
    lines = [line.strip() for line in (REPO / ".gitignore").read_text().splitlines()]
    rooted = [line[1:].rstrip("/") for line in lines if line.startswith("/") and len(line) > 1]
    return any(path.rstrip("/") == entry or path.startswith(entry + "/") for entry in rooted)


def test_readme_is_short() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"


def test_readme_links_every_docs_page() -> None:
    linked = {(REPO / target.split("#", 1)[0]).resolve() for target in LINK.findall(_prose(README.read_text()))}
    unlinked = [_rel(page) for page in PAGES[1:] if page.resolve() not in linked]
    assert not unlinked, f"README.md links no page for {unlinked}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_point_at_existing_files_and_headings(page: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:: not this repository's
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading with that anchor in {_rel(resolved)}")
    assert not broken, f"{_rel(page)}: broken links: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_make_targets_exist(page: Path) -> None:
    targets = set(MAKEFILE_TARGET.findall((REPO / "Makefile").read_text()))
    named = {target for code in _code(page.read_text(encoding="utf-8")) for target in MAKE.findall(code)}
    assert named <= targets, f"{_rel(page)} names make targets the Makefile lacks: {sorted(named - targets)}"


def _deploy_actions() -> set[str]:
    """The actions `python -m inventory deploy` accepts, read from the ACTIONS its parser is built from."""
    text = (REPO / "inventory" / "stack" / "driver.py").read_text(encoding="utf-8")
    actions = re.search(r"^ACTIONS = \{(.*?)^\}", text, re.MULTILINE | re.DOTALL)
    assert actions, "inventory/stack/driver.py: no ACTIONS mapping"
    return set(re.findall(r'^    "([a-z]+)":', actions.group(1), re.MULTILINE))


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_python_m_inventory_commands_exist(page: Path) -> None:
    entry = (REPO / "inventory" / "__main__.py").read_text(encoding="utf-8")
    wrong = []
    for code in _code(page.read_text(encoding="utf-8")):
        for command, action in PYTHON_M_INVENTORY.findall(code):
            if f'"{command}"' not in entry:
                wrong.append(f"python -m inventory {command}: inventory/__main__.py has no such command")
            elif command == "deploy" and action:
                wrong += [f"deploy {name}: not an action" for name in action.split("|") if name not in _deploy_actions()]
    assert not wrong, f"{_rel(page)}: {wrong}"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_repository_paths_exist(page: Path) -> None:
    missing = []
    for found in REPO_PATH.findall(page.read_text(encoding="utf-8")):
        path = found.rstrip(".,:;")
        if PLACEHOLDER.search(path) or path in CREATED_BY_THE_READER or _gitignored(path):
            continue
        if not (REPO / path).exists():
            missing.append(path)
    assert not missing, f"{_rel(page)} names paths that do not exist: {sorted(set(missing))}"


def _architecture_rows() -> list[tuple[str, str]]:
    """(path in inventory/, what it owns) for each row of the table under docs/architecture.md's "The folders"."""
    section = (DOCS / "architecture.md").read_text().split("\n## The folders\n", 1)[1].split("\n## ", 1)[0]
    rows: list[tuple[str, str]] = re.findall(r"^\| `([\w/.]+)` \| (.+?) \| .+ \|$", section, re.MULTILINE)
    assert rows, 'docs/architecture.md: no folder table under "## The folders"'
    return rows


def test_architecture_page_has_a_row_for_every_folder_of_the_package() -> None:
    rows = {path.rstrip("/") for path, _ in _architecture_rows()}
    folders = {
        module.parent.relative_to(REPO / "inventory").as_posix()
        for module in (REPO / "inventory").rglob("*.py")
        if module.parent != REPO / "inventory" and "__pycache__" not in module.parts
    }
    assert folders <= rows, f"docs/architecture.md has no row for inventory/{sorted(folders - rows)}"


def test_architecture_page_names_only_existing_modules() -> None:
    missing = []
    for path, owns in _architecture_rows():
        folder = REPO / "inventory" / path
        if not folder.exists():
            missing.append(f"inventory/{path}")
        elif folder.is_dir():
            names = re.findall(r"`([\w-]+(?:\.py|/))`", owns)
            missing += [f"inventory/{path}{name}" for name in names if not (folder / name).exists()]
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"
