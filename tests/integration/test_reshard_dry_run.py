"""`python -m inventory reshard --dry-run` changes nothing, not even the list of stacks: with the
real CLI and a file backend, new shard stacks that do not exist yet stay uncreated. The inventory
comes from a directory of YAML files, so no cluster is needed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from inventory.stack import reshard
from tests.integration.cli import pulumi
from tests.integration.controlplane import REPO
from tests.integration.project import project_dir
from tests.integration.pulumi_stack import local_backend_env


def _config(workdir: Path, stack: str, **values: object) -> None:
    routes = yaml.safe_load((REPO / "tests" / "fixtures" / "basic-routes.yaml").read_text())
    config = {"inventoryDir": str(REPO / "tests" / "fixtures" / "basic"), **routes, **values}
    document = {"config": {f"cluster-inventory:{key}": value for key, value in config.items()}}
    (workdir / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))


def test_a_dry_run_into_new_stacks_creates_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    workdir = project_dir(tmp_path / "project")
    for key, value in local_backend_env(workdir).items():
        monkeypatch.setenv(key, value)
    pulumi(workdir, "stack", "init", "prod", "--secrets-provider", "passphrase")
    _config(workdir, "prod")
    for index in range(2):
        _config(workdir, f"prod-{index}", shardCount=2, shardIndex=index)

    code = reshard(["--from-stacks", "prod", "--to-stacks", "prod-0,prod-1", "--dry-run", "--cwd", str(workdir)])

    out = capsys.readouterr()
    assert code == 0, out.err
    assert "planning the fleet with the config of prod (2 shards" in out.out
    assert "dry run: nothing moved" in out.out
    assert pulumi(workdir, "stack", "ls", "--json").stdout.count('"name"') == 1
