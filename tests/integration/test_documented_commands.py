"""The commands README.md and docs/ give run as written. Every fenced block a page marks with
`<!-- doc-test: run -->` runs in page order (README.md first, then docs/ by name) from the root of a
fresh copy of the repository, in a shell with none of the test's environment (no activated
virtualenv, backend or passphrase): what a reader who has just cloned the repository would type.
The README's `make demo` starts the copy's own local control plane; the commands the demo then
prints for the reader run too. Only `make test`, which runs this test, is left out of its block.

Every shell block (```sh, ```bash, ```shell, ```console) carries one of two markers on the line
before it: `run`, or `<!-- doc-test: skip reason="..." -->` naming why it cannot run here (a real
cluster, a bucket, a GitHub runner). An unmarked one fails, and so does an unlabelled block that
starts with a command: a new command in the docs is either run or visibly excused.

The copy is what `git clone` of the working tree gives (tracked and new, unignored files), with the
virtualenv linked rather than installed again; the built tools come from the shared cache."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MARK = "<!-- doc-test: run -->"
SKIP = re.compile(r'^<!-- doc-test: skip reason="([^"]+)" -->$')
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
# An unlabelled block whose first line starts so is a command a reader would type, not output.
COMMAND_START = re.compile(r"^(\$ )?(pulumi|python|\.venv/|make|kubectl|eval|export|source|cp|git|cd|pip|curl) ")
FENCE = re.compile(r"^([ \t]*)```([\w-]*)\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
THIS_TEST = "make test"
# A fresh shell: the test's own Pulumi, Kubernetes and Python settings stay out.
DROPPED_ENV = re.compile(r"^(PULUMI_|KUBECONFIG$|PYTHONPATH$|VIRTUAL_ENV$|CLUSTER_INVENTORY_SDK_DEBUG$)")
BLOCK_TIMEOUT_S = 900


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    commands: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass(frozen=True)
class Fenced:
    page: str
    line: int  # of the opening fence
    language: str
    marker: str  # the line before the fence, stripped
    body: str  # dedented by the fence's own indentation (a block inside a list item)


def fenced_blocks(page: Path) -> Iterator[Fenced]:
    text = page.read_text(encoding="utf-8")
    for found in FENCE.finditer(text):
        indent = found.group(1)
        before = text[:found.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        body = "\n".join(line.removeprefix(indent) for line in found.group(3).splitlines())
        yield Fenced(page.relative_to(REPO).as_posix(), text.count("\n", 0, found.start()) + 1, found.group(2),
                     before, body)


def marked_blocks() -> list[Block]:
    blocks = []
    for page in PAGES:
        for fenced in fenced_blocks(page):
            if fenced.marker == MARK and fenced.language in SHELL_LANGUAGES:
                lines = [line for line in fenced.body.splitlines() if line.split("#")[0].strip() != THIS_TEST]
                blocks.append(Block(fenced.page, fenced.line + 1, "\n".join(lines)))
    return blocks


def unmarked_shell_blocks() -> list[str]:
    """Shell blocks with neither marker, and unlabelled blocks that start with a command: page:line."""
    found = []
    for page in PAGES:
        for fenced in fenced_blocks(page):
            where = f"{fenced.page}:{fenced.line}"
            if fenced.language in SHELL_LANGUAGES and fenced.marker != MARK and not SKIP.match(fenced.marker):
                found.append(f"{where}: a ```{fenced.language} block with neither {MARK} nor a skip marker with a reason")
            elif not fenced.language and COMMAND_START.match(fenced.body):
                found.append(f"{where}: an unlabelled block starting with a command: label it sh and mark it")
    return found


def fresh_copy(destination: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination / name, follow_symlinks=False)  # mtimes kept: make sees the venv is current
    (destination / ".venv").symlink_to(REPO / ".venv")
    return destination


def shell(checkout: Path, commands: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not DROPPED_ENV.match(key)}
    return subprocess.run(["bash", "-c", f"set -eo pipefail\n{commands}"], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = fresh_copy(tmp_path_factory.mktemp("fresh") / "cluster-inventory")
    try:
        yield root
    finally:
        shell(root, "make demo-down")


def test_some_blocks_are_marked_and_the_demo_comes_first() -> None:
    blocks = marked_blocks()
    assert blocks and blocks[0].page == "README.md" and "make demo" in blocks[0].commands


def test_every_shell_block_is_run_or_skipped_with_a_reason() -> None:
    assert unmarked_shell_blocks() == []


@pytest.mark.parametrize("block", marked_blocks(), ids=str)
def test_the_marked_block_runs_as_written(checkout: Path, block: Block) -> None:
    ran = shell(checkout, block.commands)
    assert ran.returncode == 0, f"{block} failed ({ran.returncode}):\n{block.commands}\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"


def test_the_commands_the_demo_prints_run_as_printed(checkout: Path) -> None:
    summary = shell(checkout, "source .local/demo.env\npython tools/demo.py summary --stack dev")
    assert summary.returncode == 0, summary.stderr
    printed = summary.stdout.split("  next (first: source .local/demo.env", 1)[1].splitlines()[1:]
    commands = [line.strip() for line in printed if line.startswith("    ")]
    assert any(command.startswith("pulumi preview --stack dev") for command in commands)
    for command in commands:
        ran = shell(checkout, f"source .local/demo.env\n{command}")
        assert ran.returncode == 0, f"{command!r} failed ({ran.returncode}):\n{ran.stdout[-2000:]}\n{ran.stderr[-2000:]}"
