"""Memory never grows without bound by default (issue 8): a large stack in a self-managed
backend needs PULUMI_SKIP_CHECKPOINTS, and the program says so before it starts."""

from __future__ import annotations

import json
from pathlib import Path

from inventory.stack.backend import backend_url
from inventory.stack.resources import LARGE_STACK_OBJECTS, checkpoint_problem

FILE_BACKEND = {"PULUMI_BACKEND_URL": "file:///var/state"}


def test_a_large_stack_in_a_file_backend_without_skip_checkpoints_is_told_what_to_set() -> None:
    problem = checkpoint_problem(LARGE_STACK_OBJECTS, FILE_BACKEND)
    assert problem is not None
    assert "PULUMI_SKIP_CHECKPOINTS=true" in problem and f"{LARGE_STACK_OBJECTS} objects" in problem
    assert "file:///var/state" in problem


def test_skip_checkpoints_set_or_a_small_stack_is_fine() -> None:
    assert checkpoint_problem(LARGE_STACK_OBJECTS, {**FILE_BACKEND, "PULUMI_SKIP_CHECKPOINTS": "true"}) is None
    assert checkpoint_problem(LARGE_STACK_OBJECTS - 1, FILE_BACKEND) is None


def test_pulumi_cloud_patches_its_checkpoints_and_needs_nothing() -> None:
    assert checkpoint_problem(10 * LARGE_STACK_OBJECTS, {"PULUMI_BACKEND_URL": "https://api.pulumi.com"}) is None


def test_the_backend_chosen_by_pulumi_login_counts_too(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text(json.dumps({"current": "s3://bucket/state"}))
    environ = {"PULUMI_HOME": str(tmp_path)}
    assert backend_url(environ) == "s3://bucket/state"
    assert checkpoint_problem(LARGE_STACK_OBJECTS, environ) is not None
    assert backend_url({"PULUMI_HOME": str(tmp_path / "nowhere")}) is None
