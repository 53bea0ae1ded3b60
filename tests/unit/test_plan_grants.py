"""Grants (docs/security.md): with stack config ``grants`` set, each consumer gets its own
identity per workload cluster, the admin kubeconfig only by explicit choice, else nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import yaml

from inventory.model import GRANTED_TOKEN
from inventory.model.diagnostics import ObjectRef
from inventory.plan.grants import Binding, token_refresh_reason
from inventory.settings import Mode, PushLayout, Settings, SettingsError
from tests.unit.inventory_support import (
    NOW,
    capi_kubeconfig_secret,
    cluster,
    consumer,
    find,
    kubeconfig,
    plan_of,
    reasons,
    refs,
    seeded,
)

VIEW = {"access": [{"clusterRole": "view"}]}
FLEET = (cluster("mgmt", "c1", env="prod"), capi_kubeconfig_secret("mgmt", "c1"),
         cluster("mgmt", "c2", env="dev"), capi_kubeconfig_secret("mgmt", "c2"))


def granted(grants: dict[str, Any], **values: Any) -> Settings:
    """The seed's routes with ``grants`` (config keys, validated as stack config is) and ``values``."""
    return replace(seeded(**values), grants=Settings.from_mapping({"grants": grants}).grants)


def test_without_grants_every_consumer_gets_the_admin_kubeconfig_as_before() -> None:
    plan = plan_of(*FLEET, consumer("team-a"))
    assert find(plan, "Secret", "team-a", "default-c1-kubeconfig").secret_data == {"config": kubeconfig("c1")}
    assert plan.grants == ()


def test_a_consumer_without_an_entry_gets_no_credential_and_is_told_why() -> None:
    plan = plan_of(*FLEET, consumer("team-a"), consumer("team-b"), settings=granted({"team-a": VIEW}))
    assert refs(plan) == ["Secret team-a/default-c1-kubeconfig", "Secret team-a/default-c2-kubeconfig"]
    assert any("grants is set and has no entry for this consumer" in r
               for r in reasons(plan, ObjectRef("Namespace", None, "team-b")))


def test_an_empty_grants_map_hands_out_nothing() -> None:
    plan = plan_of(*FLEET, consumer("team-a"), settings=granted({}))
    assert refs(plan) == []


def test_admin_is_an_explicit_choice_that_keeps_the_admin_kubeconfig() -> None:
    plan = plan_of(*FLEET, consumer("ops"), settings=granted({"ops": {"admin": True}}))
    secret = find(plan, "Secret", "ops", "default-c1-kubeconfig")
    assert secret.secret_data == {"config": kubeconfig("c1")}
    assert secret.grant is None
    assert plan.grants == ()


def test_a_granted_consumer_gets_a_token_kubeconfig_for_the_same_server_and_no_admin_credential() -> None:
    plan = plan_of(*FLEET, consumer("team-a"), settings=granted({"team-a": VIEW}))
    secret = find(plan, "Secret", "team-a", "default-c1-kubeconfig")
    config = yaml.safe_load(secret.secret_data["config"])
    assert config["users"] == [{"name": "c1", "user": {"token": GRANTED_TOKEN}}]
    assert config["clusters"][0]["cluster"]["server"] == "https://c1.example:6443"
    assert b"token-of-c1" not in secret.secret_data["config"]
    assert secret.grant == "ConsumerGrant/mgmt/c1/team-a"


def test_tls_server_name_and_proxy_url_of_the_capi_kubeconfig_reach_the_token_kubeconfig() -> None:
    admin = yaml.safe_load(kubeconfig("c1"))
    admin["clusters"][0]["cluster"].update({"tls-server-name": "api.c1.internal", "proxy-url": "http://proxy:3128"})
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1", data={"value": yaml.safe_dump(admin).encode()}),
                   consumer("team-a"), settings=granted({"team-a": VIEW}))
    entry = yaml.safe_load(find(plan, "Secret", "team-a", "default-c1-kubeconfig").secret_data["config"])
    assert entry["clusters"][0]["cluster"]["tls-server-name"] == "api.c1.internal"
    assert entry["clusters"][0]["cluster"]["proxy-url"] == "http://proxy:3128"


def test_a_grant_names_the_admin_kubeconfig_secret_never_its_content() -> None:
    plan = plan_of(*FLEET, consumer("team-a"), settings=granted({"team-a": VIEW}))
    grant = plan.grants[0]
    assert grant.kubeconfig_secret == ObjectRef("Secret", "mgmt", "c1-kubeconfig")
    assert grant.kubeconfig_key == "value"
    assert b"token-of-c1" not in repr(grant.spec()).encode()


def test_the_service_account_is_named_after_the_consumer_namespace_in_the_grant_namespace() -> None:
    plan = plan_of(*FLEET, consumer("team-a"), settings=granted({"team-a": VIEW}))
    assert plan.grants[0].username == "system:serviceaccount:cluster-inventory-grants:team-a"
    assert plan.grants[0].labels["grants.cluster-inventory.x-k8s.io/consumer"] == "team-a"


def test_a_cluster_selector_limits_an_entry_to_the_clusters_it_matches() -> None:
    grants = {"team-a": {"access": [{"clusterRole": "view", "clusterSelector": {"env": "prod"}}]}}
    plan = plan_of(*FLEET, consumer("team-a"), settings=granted(grants))
    assert refs(plan) == ["Secret team-a/default-c1-kubeconfig"]
    assert [g.logical_name for g in plan.grants] == ["ConsumerGrant/mgmt/c1/team-a"]


def test_entries_become_one_binding_per_scope_and_cluster_role_and_one_role_per_scope_for_rules() -> None:
    jobs = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}
    nodes = {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}
    grants = {"team-a": {"access": [{"clusterRole": "view"}, {"rules": [nodes]},
                                    {"namespaces": ["apps", "batch"], "rules": [jobs]},
                                    {"namespaces": ["apps"], "clusterRole": "edit"}]}}
    plan = plan_of(*FLEET[:2], consumer("team-a"), settings=granted(grants))
    assert plan.grants[0].bindings == (
        Binding(None, None, (nodes,)), Binding(None, "view"),
        Binding("apps", None, (jobs,)), Binding("apps", "edit"), Binding("batch", None, (jobs,)))


def test_the_token_lifetime_is_the_consumers_own() -> None:
    plan = plan_of(*FLEET[:2], consumer("team-a"), settings=granted({"team-a": {**VIEW, "tokenLifetimeSeconds": 3600}}))
    assert plan.grants[0].token_lifetime_seconds == 3600


def test_multicluster_runtime_secrets_carry_their_consumers_token() -> None:
    plan = plan_of(*FLEET[:2], consumer("team-a"),
                   settings=granted({"team-a": VIEW}, push_layout=PushLayout.MULTICLUSTER_RUNTIME))
    secret = find(plan, "Secret", "default", "true-c1-kubeconfig")
    assert secret.grant == "ConsumerGrant/mgmt/c1/team-a"
    assert GRANTED_TOKEN.encode() in secret.secret_data["Config"]


def test_argo_cd_gets_a_bearer_token_through_its_namespaces_grant() -> None:
    plan = plan_of(*FLEET[:2], settings=granted({"argocd": VIEW}, argocd_mode=Mode.DIRECT))
    secret = find(plan, "Secret", "argocd", "capi-mgmt-c1")
    assert secret.grant == "ConsumerGrant/mgmt/c1/argocd"
    assert f'"bearerToken":"{GRANTED_TOKEN}"'.encode() in secret.secret_data["config"]


def test_argo_cd_without_a_grant_entry_gets_no_cluster() -> None:
    plan = plan_of(*FLEET[:2], settings=granted({}, argocd_mode=Mode.DIRECT))
    assert refs(plan) == []


@pytest.mark.parametrize(("entry", "complaint"), [
    ({"access": [{"clusterRole": "view"}], "tokenLifetimeSeconds": 599}, "must be at least 600"),
    ({"admin": True, "access": [{"clusterRole": "view"}]}, "drop access, or drop admin"),
    ({}, "grants nothing"),
    ({"access": [{"clusterRole": "view", "rules": [{"verbs": ["get"], "resources": ["pods"]}]}]}, "exactly one of"),
    ({"access": [{"rules": [{"resources": ["pods"]}]}]}, "verbs: at least one verb"),
    ({"access": [{"clusterRole": "view", "namespaces": ["Bad_NS"]}]}, "namespaces"),
    ({"access": [{"clusterRole": "view", "clusterSelector": {"bad key!": "x"}}]}, "clusterSelector"),
    ({"acess": []}, "unknown field acess"),
])
def test_a_grant_entry_that_cannot_work_is_refused_by_its_key(entry: dict[str, Any], complaint: str) -> None:
    with pytest.raises(SettingsError, match="team-a") as raised:
        granted({"team-a": entry})
    assert complaint in str(raised.value)


def test_grants_default_to_unset() -> None:
    assert seeded().grants is None
    assert not Settings().grants_enabled


ISSUED = NOW - timedelta(hours=1)
DAY = timedelta(hours=24)


def test_a_token_young_enough_is_kept() -> None:
    assert token_refresh_reason(ISSUED, ISSUED + DAY, NOW, timedelta(minutes=30)) is None


def test_a_token_past_80_percent_of_its_life_is_refreshed() -> None:
    now = ISSUED + DAY * 0.8
    assert "past 80% of its life" in (token_refresh_reason(ISSUED, ISSUED + DAY, now, timedelta(0)) or "")


def test_a_token_that_would_expire_before_the_next_scheduled_run_is_refreshed_now() -> None:
    expires = NOW + timedelta(minutes=20)
    issued = expires - timedelta(hours=2)
    reason = token_refresh_reason(issued, expires, NOW - timedelta(minutes=70), timedelta(hours=2))
    assert reason is not None and "before the next scheduled run" in reason


def test_an_expired_token_is_refreshed() -> None:
    assert "expired" in (token_refresh_reason(ISSUED, NOW - timedelta(seconds=1), NOW, timedelta(0)) or "")


def test_a_day_long_token_on_a_30_minute_schedule_is_minted_about_once_every_39_runs() -> None:
    issued, runs = NOW, 0
    now = NOW
    while token_refresh_reason(issued, issued + DAY, now, timedelta(minutes=30)) is None:
        now += timedelta(minutes=30)
        runs += 1
    assert runs == 39  # 19.2 h / 30 min, rounded up


def test_the_documented_grants_example_is_valid_config() -> None:
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text(encoding="utf-8")
    section = page.split("\n## Grants", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    values = {key.removeprefix("cluster-inventory:"): value for key, value in yaml.safe_load(block.group(1)).items()}
    settings = Settings.from_mapping(values)
    assert settings.grants is not None and settings.grants["ops"].admin


def _sveltos(grants: dict[str, Any]) -> Any:
    """Feature E publishes c1's profile (kubeconfig-secretreader -> its CAPI admin Secret), feature B reads it."""
    return plan_of(*FLEET[:2], settings=granted(grants, cluster_profile_mode=Mode.DIRECT, sveltos_mode=Mode.DIRECT,
                                                push_mode=Mode.OFF))


def test_sveltos_is_the_consumer_named_by_events_namespace_and_gets_its_token() -> None:
    secret = find(_sveltos({"projectsveltos": VIEW}), "Secret", "default", "c1-sveltos-kubeconfig")
    assert secret.grant == "ConsumerGrant/mgmt/c1/projectsveltos"
    assert GRANTED_TOKEN.encode() in next(iter(secret.secret_data.values()))


def test_sveltos_keeps_the_admin_kubeconfig_only_by_choice() -> None:
    secret = find(_sveltos({"projectsveltos": {"admin": True}}), "Secret", "default", "c1-sveltos-kubeconfig")
    assert secret.grant is None and b"token-of-c1" in next(iter(secret.secret_data.values()))


def test_sveltos_without_an_entry_gets_no_sveltos_cluster_for_a_capi_admin_kubeconfig() -> None:
    plan = _sveltos({})
    assert not [obj for obj in plan.objects if obj.kind == "SveltosCluster"]
    assert any("no entry" in r for r in reasons(plan, ObjectRef("Namespace", None, "projectsveltos")))
