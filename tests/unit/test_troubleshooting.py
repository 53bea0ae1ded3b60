"""docs/troubleshooting.md quotes the program's messages as the program prints them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from inventory.sources import InventoryReadError
from inventory.sources.live import read_cluster
from tests.unit.fake_apiserver import FakeApiServer, serving
from tests.unit.inventory_support import seeded
from tests.unit.test_live_source import fixture_documents

PAGE = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"
SERVER = re.compile(r"https?://127\.0\.0\.1:\d+")


def _quoted_errors(section: str) -> list[str]:
    """The `error: ...` lines of the section's first code block, the API server's address made neutral."""
    text = PAGE.read_text(encoding="utf-8").split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\n(.*?)```", text, re.DOTALL)
    assert block, f"troubleshooting.md: no code block under {section!r}"
    return [SERVER.sub("SERVER", line.removeprefix("error: ")) for line in block.group(1).splitlines()
            if line.startswith("error: ")]


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    server.add(*fixture_documents("basic"))
    with serving(server) as running:
        yield running


def _read_error(api: FakeApiServer, tmp_path: Path) -> str:
    with pytest.raises(InventoryReadError) as error:
        read_cluster(seeded(kubeconfig=str(api.kubeconfig(tmp_path))))
    return SERVER.sub("SERVER", str(error.value))


def test_the_crd_not_installed_messages_are_the_programs(api: FakeApiServer, tmp_path: Path) -> None:
    api.failures["/apis/multicluster.x-k8s.io"] = (404, "Not Found")
    profiles_absent = _read_error(api, tmp_path)
    del api.groups["cluster.x-k8s.io"]
    capi_absent = _read_error(api, tmp_path)
    assert _quoted_errors("CRD not installed") == [profiles_absent, capi_absent]
