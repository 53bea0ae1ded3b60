"""Feature E with grants: a published ClusterProfile names each consumer's own token through
cluster-inventory-api's ``secretreader`` access provider (inventory/plan/cluster_manager.py)."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import yaml

from inventory.model import GRANTED_TOKEN, ObjectRef
from inventory.plan.cluster_manager import token_secret_name
from inventory.settings import Mode, Settings
from tests.unit.inventory_support import (
    capi_kubeconfig_secret,
    cluster,
    consumer,
    find,
    kubeconfig,
    plan_of,
    reasons,
    refs,
)
from tests.unit.inventory_support import (
    seeded as seeded_settings,
)

VIEW = {"access": [{"clusterRole": "view"}]}
C1 = (cluster("mgmt", "c1", clusterprofile_namespace="fleet"), capi_kubeconfig_secret("mgmt", "c1"))


def granted(grants: dict[str, Any] | None, **values: Any) -> Settings:
    """Feature E alone (push off) with ``grants`` (config keys, validated as stack config is)."""
    settings = seeded_settings(**{"cluster_profile_mode": Mode.DIRECT, "push_mode": Mode.OFF,
                                  "sveltos_mode": Mode.OFF, **values})
    if grants is None:
        return settings
    return replace(settings, grants=Settings.from_mapping({"grants": grants}).grants)


def providers(plan: Any, namespace: str = "fleet", name: str = "c1") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = find(plan, "ClusterProfile", namespace, name).fields["status"]["accessProviders"]
    return found


def token_secrets(plan: Any) -> list[str]:
    return [ref for ref in refs(plan) if ref.startswith("Secret ")]


def test_with_grants_the_profile_lists_secretreader_with_the_endpoint_and_its_cluster_name() -> None:
    plan = plan_of(*C1, consumer("team-a"), settings=granted({"team-a": VIEW}))
    assert providers(plan) == [{"name": "secretreader", "cluster": {
        "server": "https://c1.example:6443",
        "certificate-authority-data": base64.b64encode(b"ca-c1").decode(),
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"clusterName": "fleet.c1"}}]}}]


def test_with_grants_the_admin_kubeconfig_secretreader_entry_is_gone_by_default() -> None:
    plan = plan_of(*C1, consumer("team-a"), settings=granted({"team-a": VIEW}))
    assert "kubeconfig-secretreader" not in [provider["name"] for provider in providers(plan)]
    assert "c1-kubeconfig" not in repr(find(plan, "ClusterProfile", "fleet", "c1").fields)


def test_keep_admin_secret_reader_keeps_the_admin_entry_beside_secretreader() -> None:
    plan = plan_of(*C1, consumer("team-a"), settings=granted({"team-a": VIEW}, keep_admin_secret_reader=True))
    assert [provider["name"] for provider in providers(plan)] == ["secretreader", "kubeconfig-secretreader"]


def test_without_grants_keep_admin_secret_reader_changes_nothing() -> None:
    plain = plan_of(*C1, consumer("team-a"), settings=granted(None))
    kept = plan_of(*C1, consumer("team-a"), settings=granted(None, keep_admin_secret_reader=True))
    assert [provider["name"] for provider in providers(plain)] == ["kubeconfig-secretreader"]
    assert providers(plain) == providers(kept)
    assert token_secrets(plain) == []


def test_keep_admin_secret_reader_defaults_to_false_and_is_a_config_key() -> None:
    assert Settings().keep_admin_secret_reader is False
    assert Settings.from_mapping({"keepAdminSecretReader": True}).keep_admin_secret_reader is True


def test_each_granted_consumer_namespace_gets_its_own_token_secret_named_after_the_cluster_name() -> None:
    plan = plan_of(*C1, consumer("team-a"), consumer("team-b"), consumer("team-c"),
                   settings=granted({"team-a": VIEW, "team-b": VIEW}))
    assert token_secrets(plan) == ["Secret team-a/fleet.c1", "Secret team-b/fleet.c1"]


def test_a_token_secret_holds_key_token_filled_from_its_consumers_grant_and_is_labelled_as_the_programs() -> None:
    plan = plan_of(*C1, consumer("team-a"), settings=granted({"team-a": VIEW}))
    secret = find(plan, "Secret", "team-a", "fleet.c1")
    assert secret.secret_data == {"token": GRANTED_TOKEN.encode()}
    assert secret.grant == "ConsumerGrant/mgmt/c1/team-a"
    assert secret.source == ObjectRef("Cluster", "mgmt", "c1")
    assert secret.labels == {"app.kubernetes.io/managed-by": "cluster-inventory",
                             "grants.cluster-inventory.x-k8s.io/consumer": "team-a"}
    assert [grant.logical_name for grant in plan.grants] == ["ConsumerGrant/mgmt/c1/team-a"]


def test_a_token_secret_and_the_push_secret_of_one_consumer_share_one_grant() -> None:
    plan = plan_of(*C1, consumer("team-a"), settings=granted({"team-a": VIEW}, push_mode=Mode.DIRECT))
    push = find(plan, "Secret", "team-a", "fleet-c1-kubeconfig")
    token = find(plan, "Secret", "team-a", "fleet.c1")
    assert push.grant == token.grant == "ConsumerGrant/mgmt/c1/team-a"
    assert len(plan.grants) == 1


def test_a_consumer_whose_entries_select_other_clusters_gets_no_token_secret_for_this_one() -> None:
    plan = plan_of(*C1, consumer("team-a"),
                   settings=granted({"team-a": {"access": [{"clusterRole": "view", "clusterSelector": {"env": "x"}}]}}))
    assert token_secrets(plan) == []
    assert plan.grants == ()


def test_a_namespace_that_receives_no_credentials_gets_no_token_secret_even_with_a_grant_entry() -> None:
    plan = plan_of(*C1, consumer("team-a"), settings=granted({"team-a": VIEW, "elsewhere": VIEW}))
    assert token_secrets(plan) == ["Secret team-a/fleet.c1"]


def test_profiles_of_one_name_in_two_namespaces_get_distinct_cluster_names() -> None:
    plan = plan_of(cluster("blue", "c1", "prod", clusterprofile_namespace="blue"), capi_kubeconfig_secret("blue", "c1"),
                   cluster("green", "c1", "prod", clusterprofile_namespace="green"),
                   capi_kubeconfig_secret("green", "c1"),
                   consumer("team-a"), settings=granted({"team-a": VIEW}))
    names = {namespace: providers(plan, namespace, "prod")[0]["cluster"]["extensions"][0]["extension"]["clusterName"]
             for namespace in ("blue", "green")}
    assert names == {"blue": "blue.prod", "green": "green.prod"}
    assert token_secrets(plan) == ["Secret team-a/blue.prod", "Secret team-a/green.prod"]


def test_the_cluster_name_splits_back_into_profile_namespace_and_name_at_its_first_dot() -> None:
    assert token_secret_name("team", "a.b").split(".", 1) == ["team", "a.b"]
    assert token_secret_name("team-a", "b") != token_secret_name("team", "a-b")


def test_an_admin_consumer_gets_no_token_secret_and_is_told_to_keep_the_admin_entry() -> None:
    plan = plan_of(*C1, consumer("ops"), settings=granted({"ops": {"admin": True}}))
    assert token_secrets(plan) == []
    assert any("keepAdminSecretReader" in reason for reason in reasons(plan, ObjectRef("Namespace", None, "ops")))


def test_an_admin_consumer_reads_the_kept_admin_entry_without_a_complaint() -> None:
    plan = plan_of(*C1, consumer("ops"), settings=granted({"ops": {"admin": True}}, keep_admin_secret_reader=True))
    assert "kubeconfig-secretreader" in [provider["name"] for provider in providers(plan)]
    assert reasons(plan, ObjectRef("Namespace", None, "ops")) == []


def test_tls_server_name_and_proxy_url_of_the_capi_kubeconfig_reach_the_secretreader_entry() -> None:
    admin = yaml.safe_load(kubeconfig("c1"))
    admin["clusters"][0]["cluster"].update({"tls-server-name": "api.c1.internal", "proxy-url": "http://proxy:3128"})
    plan = plan_of(cluster("mgmt", "c1", clusterprofile_namespace="fleet"),
                   capi_kubeconfig_secret("mgmt", "c1", data={"value": yaml.safe_dump(admin).encode()}),
                   consumer("team-a"), settings=granted({"team-a": VIEW}))
    entry = providers(plan)[0]["cluster"]
    assert (entry["tls-server-name"], entry["proxy-url"]) == ("api.c1.internal", "http://proxy:3128")


def test_the_profile_and_its_token_secrets_hold_no_credential() -> None:
    plan = plan_of(*C1, consumer("team-a"), settings=granted({"team-a": VIEW}))
    assert "token-of-c1" not in repr(find(plan, "ClusterProfile", "fleet", "c1").fields)
    assert b"token-of-c1" not in find(plan, "Secret", "team-a", "fleet.c1").secret_data["token"]


def test_a_profile_withheld_until_its_control_plane_is_healthy_gets_no_token_secrets() -> None:
    unhealthy = replace(C1[0], status=replace(C1[0].status, control_plane_ready=False))
    plan = plan_of(unhealthy, C1[1], consumer("team-a"),
                   settings=granted({"team-a": VIEW}, require_healthy_control_plane=True))
    assert "accessProviders" not in find(plan, "ClusterProfile", "fleet", "c1").fields["status"]
    assert token_secrets(plan) == []
