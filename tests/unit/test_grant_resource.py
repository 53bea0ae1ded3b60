"""The ConsumerGrant resource's own decisions (inventory/stack/grants.py): when a grant needs an
update, what it makes on a workload cluster, and how failed grants are reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from inventory.stack.grants import applied_grant, binding_objects, failed_grants, refresh_reason

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
INPUTS: dict[str, Any] = {
    "clusterNamespace": "capi", "clusterName": "c1", "consumer": "team-a",
    "kubeconfigSecret": {"namespace": "capi", "name": "c1-kubeconfig", "key": "value"},
    "serviceAccount": {"namespace": "cluster-inventory-grants", "name": "team-a"},
    "bindings": [{"namespace": "", "clusterRole": "view", "rules": []}], "labels": {"a": "b"},
    "tokenLifetimeSeconds": 86400, "runIntervalSeconds": 1800, "timeoutSeconds": 10,
}
ACCOUNT = {"namespace": "cluster-inventory-grants", "name": "team-a"}


def state(issued: datetime, lifetime: timedelta = timedelta(hours=24), **changes: Any) -> dict[str, Any]:
    return {**INPUTS, "token": "t", "issuedAt": issued.isoformat(), "expirationTimestamp": (issued + lifetime).isoformat(),
            "appliedGrant": applied_grant(INPUTS), "error": "", **changes}


def test_a_fresh_grant_needs_nothing() -> None:
    assert refresh_reason(state(NOW - timedelta(hours=1)), INPUTS, NOW) is None


def test_a_changed_binding_needs_an_update() -> None:
    news = {**INPUTS, "bindings": [{"namespace": "", "clusterRole": "edit", "rules": []}]}
    assert refresh_reason(state(NOW), news, NOW) == "bindings changed"


def test_a_new_schedule_or_timeout_alone_mints_no_token() -> None:
    news = {**INPUTS, "runIntervalSeconds": 3600, "timeoutSeconds": 5}
    assert refresh_reason(state(NOW - timedelta(hours=1)), news, NOW) is None


def test_a_token_past_80_percent_needs_an_update() -> None:
    reason = refresh_reason(state(NOW - timedelta(hours=20)), INPUTS, NOW)
    assert reason is not None and "80%" in reason


def test_a_failed_last_attempt_is_retried() -> None:
    reason = refresh_reason(state(NOW, error="workload cluster ... does not answer"), INPUTS, NOW)
    assert reason is not None and "last attempt failed" in reason


def test_a_grant_without_a_token_needs_one() -> None:
    assert refresh_reason(state(NOW, token=None), INPUTS, NOW) == "it has no token"


def test_an_existing_cluster_role_is_bound_without_a_role_of_the_programs() -> None:
    objects = binding_objects("team-a", ACCOUNT, {"a": "b"}, {"namespace": "", "clusterRole": "view", "rules": []})
    assert [path for path, _ in objects] == [
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cluster-inventory:team-a:view"]
    body = objects[0][1]
    assert body["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    assert body["subjects"] == [{"kind": "ServiceAccount", **ACCOUNT}]


def test_rules_in_a_namespace_make_a_role_and_a_role_binding_there() -> None:
    rule = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}
    objects = binding_objects("team-a", ACCOUNT, {}, {"namespace": "apps", "clusterRole": "", "rules": [rule]})
    assert [path for path, _ in objects] == [
        "/apis/rbac.authorization.k8s.io/v1/namespaces/apps/roles/cluster-inventory:team-a",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/apps/rolebindings/cluster-inventory:team-a"]
    assert objects[0][1]["rules"] == [rule]
    assert objects[1][1]["roleRef"]["kind"] == "Role"


def test_a_failed_grant_says_what_its_consumer_still_holds() -> None:
    expires = (NOW + timedelta(minutes=20)).isoformat()
    lines = failed_grants(["ConsumerGrant/capi/c1/team-a", "ConsumerGrant/capi/c2/team-a"],
                          [["c1 does not answer", expires], ["", None]], NOW, timedelta(minutes=30))
    assert len(lines) == 1
    assert lines[0].startswith("ConsumerGrant/capi/c1/team-a: c1 does not answer; the token delivered earlier")
    assert "soon" in lines[0]


def test_a_grant_that_never_delivered_says_so() -> None:
    (line,) = failed_grants(["ConsumerGrant/capi/c1/team-a"], [["refused", None]], NOW, timedelta(0))
    assert line.endswith("no token was delivered yet")
