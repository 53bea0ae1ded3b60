"""A self-managed state backend stays bounded (issue 18): the copies of the state Pulumi's file
backend piles up are pruned to the newest few, and a run that would let them pile up says what
to set and to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from inventory.stack.backend import DISABLE_BACKUPS, growth_problem, local_root, prune

PROJECT, STACK = "cluster-inventory", "prod"


def write_backend(root: Path, updates: int, backups: bool = True) -> None:
    """What Pulumi 3.259's file backend leaves after ``updates`` updates (names as in diy/state.go)."""
    history = root / ".pulumi" / "history" / PROJECT / STACK
    history.mkdir(parents=True)
    stacks = root / ".pulumi" / "stacks" / PROJECT
    stacks.mkdir(parents=True)
    for name in (f"{STACK}.json", f"{STACK}.json.bak"):
        (stacks / name).write_text("{}")
    for update in range(updates):
        stamp = 1_796_000_000_000_000_000 + update
        for name in (f"{STACK}-{stamp}.checkpoint.json", f"{STACK}-{stamp}.history.json"):
            (history / name).write_text("x" * 100)
            (history / f"{name}.attrs").write_text("{}")
        if backups:
            (root / ".pulumi" / "backups" / PROJECT / STACK).mkdir(parents=True, exist_ok=True)
            (root / ".pulumi" / "backups" / PROJECT / STACK / f"{STACK}.{stamp}.json").write_text("x" * 100)


def test_prune_keeps_the_newest_copies_the_state_and_every_update_record(tmp_path: Path) -> None:
    write_backend(tmp_path, updates=5)

    pruned = prune(tmp_path, PROJECT, STACK, keep=2)

    history = sorted(p.name for p in (tmp_path / ".pulumi" / "history" / PROJECT / STACK).iterdir())
    assert [n for n in history if n.endswith(".checkpoint.json")] == [
        f"{STACK}-1796000000000000003.checkpoint.json", f"{STACK}-1796000000000000004.checkpoint.json"]
    assert len([n for n in history if n.endswith(".history.json")]) == 5
    assert len([n for n in history if n.endswith(".attrs")]) == 5 + 2
    assert len(list((tmp_path / ".pulumi" / "backups" / PROJECT / STACK).iterdir())) == 2
    assert (tmp_path / ".pulumi" / "stacks" / PROJECT / f"{STACK}.json.bak").exists()
    assert pruned.files == 6 and pruned.bytes == 600


def test_prune_of_a_backend_without_copies_removes_nothing(tmp_path: Path) -> None:
    assert prune(tmp_path, PROJECT, STACK).files == 0


def test_backups_left_on_are_named_with_the_variable_to_set(tmp_path: Path) -> None:
    write_backend(tmp_path, updates=1)
    problem = growth_problem({"PULUMI_BACKEND_URL": f"file://{tmp_path}"}, PROJECT, STACK)
    assert problem is not None and f"{DISABLE_BACKUPS}=true" in problem


def test_piled_up_history_copies_are_named_with_the_prune_command(tmp_path: Path) -> None:
    write_backend(tmp_path, updates=5, backups=False)
    problem = growth_problem({"PULUMI_BACKEND_URL": f"file://{tmp_path}", DISABLE_BACKUPS: "true"}, PROJECT, STACK,
                             keep=3)
    assert problem is not None and "2 more full copies" in problem
    assert f"python -m inventory deploy prune --stack {STACK}" in problem
    assert DISABLE_BACKUPS not in problem


def test_backups_off_and_history_pruned_is_quiet(tmp_path: Path) -> None:
    write_backend(tmp_path, updates=3, backups=False)
    assert growth_problem({"PULUMI_BACKEND_URL": f"file://{tmp_path}", DISABLE_BACKUPS: "true"}, PROJECT, STACK,
                          keep=3) is None


def test_a_bucket_backend_is_told_about_the_history_copies_too() -> None:
    problem = growth_problem({"PULUMI_BACKEND_URL": "s3://bucket/state"}, PROJECT, STACK)
    assert problem is not None and DISABLE_BACKUPS in problem and "lifecycle rule" in problem


def test_pulumi_cloud_keeps_its_own_history() -> None:
    assert growth_problem({"PULUMI_BACKEND_URL": "https://api.pulumi.com"}, PROJECT, STACK) is None


def test_file_backend_urls_map_to_their_directory() -> None:
    assert local_root("file:///var/state") == Path("/var/state")
    assert local_root("file://~/state") == Path.home() / "state"
    assert local_root("file:///var/state?no_tmp_dir=true") == Path("/var/state")
    assert local_root("s3://bucket") is None


def test_deploy_prune_prunes_the_stacks_file_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from inventory.stack.driver import main

    write_backend(tmp_path / "state", updates=5)
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / f"Pulumi.{STACK}.yaml").write_text("config: {}\n")
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")

    assert main(["prune", "--stack", STACK, "--cwd", str(tmp_path), "--keep-state-copies", "1"]) == 0

    assert "pruned 8 old copies of the state" in capsys.readouterr().out
    assert len(list((tmp_path / "state" / ".pulumi" / "history").rglob("*.checkpoint.json"))) == 1
