"""Kubernetes limits on names, label values and Secret data keys (checked at planning time)."""

from __future__ import annotations

import pytest

from inventory.model.names import (
    is_label_value,
    is_secret_data_key,
    label_problems,
    name_problem,
    namespace_problem,
)


@pytest.mark.parametrize("name", ["a", "fleet-prod-1-kubeconfig", "a.b-c", "x" * 253])
def test_valid_object_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("x" * 254, "254 characters long, the limit is 253"),
        ("Prod", "DNS-1123"),
        ("a_b", "DNS-1123"),
        ("-a", "DNS-1123"),
    ],
)
def test_invalid_object_names(name: str, reason: str) -> None:
    problem = name_problem(name)
    assert problem is not None and reason in problem


def test_namespace_names_are_dns_labels() -> None:
    assert namespace_problem("team-a") is None
    assert "DNS-1123 label" in (namespace_problem("team.a") or "")
    assert "limit is 63" in (namespace_problem("n" * 64) or "")


@pytest.mark.parametrize(
    ("value", "valid"),
    [("", True), ("Prod_1.x", True), ("x" * 63, True), ("x" * 64, False), ("a b", False), ("-a", False)],
)
def test_label_values(value: str, valid: bool) -> None:
    assert is_label_value(value) is valid


def test_label_problems_name_the_key_and_the_limit() -> None:
    problems = label_problems({"team": "x" * 64, "Bad Key": "v"})
    assert any("label 'team'" in p and "limit is 63" in p for p in problems)
    assert any("'Bad Key' is not a valid label key" in p for p in problems)


@pytest.mark.parametrize(("key", "valid"), [("config", True), ("tls.crt", True), ("a/b", False), ("", False)])
def test_secret_data_keys(key: str, valid: bool) -> None:
    assert is_secret_data_key(key) is valid
