"""The state backend's growth (SPEC §8): what a self-managed backend keeps after every update,
and how this program keeps it bounded.

After every update that is not a preview, Pulumi 3.259's self-managed ("DIY") backend writes
(pkg/backend/diy/state.go, backend.go):

- the state file, after copying the previous one to ``<stack>.json.bak``: replaced, never growing;
- a full copy of the state in ``.pulumi/backups/<project>/<stack>/`` (``backupStack``), unless
  ``PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS`` is true;
- the update's record (``*.history.json``, a few KB, what `pulumi stack history` shows) and one
  more full copy of the state (``*.checkpoint.json``, ``addToHistory``) in
  ``.pulumi/history/<project>/<stack>/``; no switch turns that copy off.

Nothing ever removes either copy: at 1,000 objects each no-op `up` added 58 MB, two states'
worth (docs/sizing.md). The driver switches the backups off and keeps only the newest
``KEEP_STATE_COPIES`` copies of the state in the history (``prune``); with plain `pulumi`, the
program warns and names what to set and to run (``growth_problem``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

DISABLE_BACKUPS = "PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS"
# Copies of past states kept in the history (newest first), beside the state file's own `.bak`:
# enough to `pulumi stack import` the state of one of the last few runs after a bad update.
KEEP_STATE_COPIES = 3
BOOKKEEPING_DIR = ".pulumi"
# Suffixes of the full state copies; the update records (`.history.json`) are never removed.
STATE_COPY_SUFFIXES = (".json", ".json.gz", ".json.zst")
HISTORY_COPY_MARK = ".checkpoint."
ATTRIBUTES_SUFFIX = ".attrs"


def backend_url(environ: Mapping[str, str]) -> str | None:
    """The state backend the CLI uses: PULUMI_BACKEND_URL, else the one `pulumi login` chose."""
    if environ.get("PULUMI_BACKEND_URL"):
        return environ["PULUMI_BACKEND_URL"]
    home = environ.get("PULUMI_HOME") or os.path.join(os.path.expanduser("~"), ".pulumi")
    try:
        with open(os.path.join(home, "credentials.json"), encoding="utf-8") as handle:
            current = json.load(handle).get("current")
    except (OSError, ValueError, AttributeError):
        return None
    return current if isinstance(current, str) else None


def is_self_managed(backend: str | None) -> bool:
    """A backend in a directory or bucket of the user's (`file://`, `s3://`, ...), not Pulumi Cloud."""
    return backend is not None and not backend.startswith(("https://", "http://"))


def local_root(backend: str | None) -> Path | None:
    """The directory of a `file://` backend (None for any other)."""
    if not backend or not backend.startswith("file://"):
        return None
    path = urlparse(backend).netloc + urlparse(backend).path if backend.startswith("file://~") else backend[7:]
    return Path(os.path.expanduser(path.split("?", 1)[0]))


def truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


@dataclass(frozen=True)
class StateCopies:
    """The full copies of one stack's state a file backend holds beside the state file."""

    history: tuple[Path, ...]  # oldest first
    backups: tuple[Path, ...]  # oldest first

    @classmethod
    def of(cls, root: Path, project: str, stack: str) -> StateCopies:
        bookkeeping = root / BOOKKEEPING_DIR
        history = [p for p in _files(bookkeeping / "history" / project / stack)
                   if p.name.startswith(f"{stack}-") and HISTORY_COPY_MARK in p.name
                   and p.name.endswith(STATE_COPY_SUFFIXES)]
        backups = [p for p in _files(bookkeeping / "backups" / project / stack)
                   if p.name.startswith(f"{stack}.") and p.name.endswith(STATE_COPY_SUFFIXES)]
        return cls(tuple(sorted(history, key=_written)), tuple(sorted(backups, key=_written)))

    def beyond(self, keep: int) -> list[Path]:
        """The copies older than the newest ``keep`` of each kind."""
        return [*self.history[:max(len(self.history) - keep, 0)], *self.backups[:max(len(self.backups) - keep, 0)]]


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.is_file()] if directory.is_dir() else []


def _written(path: Path) -> tuple[int, str]:
    """A copy's time from its name (`<stack>-<unix ns>.checkpoint.json`, `<stack>.<unix ns>.json`)."""
    digits = "".join(c if c.isdigit() else " " for c in path.name).split()
    return (int(max(digits, key=len)) if digits else 0, path.name)


@dataclass(frozen=True)
class Pruned:
    files: int
    bytes: int


def prune(root: Path, project: str, stack: str, keep: int = KEEP_STATE_COPIES) -> Pruned:
    """Remove every full copy of the state older than the newest ``keep`` (history and backups);
    the state file, its `.bak` and the update records stay."""
    removed = Pruned(0, 0)
    for path in StateCopies.of(root, project, stack).beyond(keep):
        size = path.stat().st_size
        path.unlink(missing_ok=True)
        # The file backend keeps each blob's attributes in a sidecar file.
        path.with_name(path.name + ATTRIBUTES_SUFFIX).unlink(missing_ok=True)
        removed = Pruned(removed.files + 1, removed.bytes + size)
    return removed


def growth_problem(environ: Mapping[str, str], project: str, stack: str,
                   keep: int = KEEP_STATE_COPIES) -> str | None:
    """Why this stack's state backend grows by whole states per update, and what to set or run;
    None when it does not (Pulumi Cloud, or backups off and nothing piled up)."""
    backend = backend_url(environ)
    if not is_self_managed(backend):
        return None
    prune_command = f"`python -m inventory deploy prune --stack {stack}`"
    problems = []
    if not truthy(environ.get(DISABLE_BACKUPS)):
        problems.append(f"set {DISABLE_BACKUPS}=true in the environment of `pulumi up`, `refresh` and `destroy`: "
                        f"without it the backend keeps a full copy of the state in {BOOKKEEPING_DIR}/backups after "
                        f"every update, forever")
    root = local_root(backend)
    piled = len(StateCopies.of(root, project, stack).beyond(keep)) if root else 0
    if piled:
        problems.append(f"{BOOKKEEPING_DIR}/history holds {piled} more full copies of the state than the newest "
                        f"{keep}: run {prune_command} after `pulumi up` (`python -m inventory deploy up` prunes "
                        f"by itself)")
    elif problems and root is None:
        problems.append(f"Pulumi also copies the whole state into {BOOKKEEPING_DIR}/history after every update "
                        f"with no switch to stop it: expire those copies with a lifecycle rule on the bucket")
    if not problems:
        return None
    return f"the state backend {backend} grows by whole copies of the state on every run: " + "; ".join(
        problems) + " (docs/sizing.md, 'Keeping the state backend bounded')"
