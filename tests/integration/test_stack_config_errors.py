"""A stack config the program cannot use stops the run with one message naming the key, under
plain `pulumi preview` (language host, config in PULUMI_CONFIG) and `python -m inventory deploy`
(Automation API, program inline) alike: a misspelt key as render refuses it, a value that is not
JSON without a traceback. Both stop before the cluster is read, so none is needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli import driver, pulumi
from tests.integration.project import project_dir

CASES = [
    pytest.param("shardCont", "3", "unknown config key 'shardCont' (did you mean 'shardCount'?)", id="misspelt key"),
    pytest.param("managementClusterSelector", "type=mgmt", "managementClusterSelector: not valid JSON",
                 id="value not JSON"),
]


def _stack(tmp_path: Path, key: str, value: str) -> Path:
    workdir = project_dir(tmp_path / "project")
    pulumi(workdir, "stack", "init", "bad", "--secrets-provider", "passphrase")
    pulumi(workdir, "config", "set", f"cluster-inventory:{key}", value)
    return workdir


@pytest.mark.parametrize(("key", "value", "message"), CASES)
def test_plain_pulumi_preview_names_the_key(tmp_path: Path, key: str, value: str, message: str) -> None:
    workdir = _stack(tmp_path, key, value)
    result = pulumi(workdir, "preview", check=False)
    printed = result.stdout + result.stderr
    assert result.returncode != 0
    diagnostics = printed.partition("Diagnostics:")[2].partition("\nResources:")[0]
    assert diagnostics.count("error:") == 1 and message in diagnostics, printed
    assert "Traceback" not in printed


@pytest.mark.parametrize(("key", "value", "message"), CASES)
def test_the_driver_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], key: str, value: str, message: str) -> None:
    workdir = _stack(tmp_path, key, value)
    assert driver(monkeypatch, workdir, "preview", "--stack", "bad") == 1
    printed = capsys.readouterr()
    assert message in printed.out + printed.err
    assert "Traceback" not in printed.out + printed.err
