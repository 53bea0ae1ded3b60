"""Feature A (SPEC §3 A, seed 000): a push-model kubeconfig Secret per CAPI Cluster x consumer namespace."""

from __future__ import annotations

from dataclasses import replace

from inventory.model.diagnostics import ObjectRef, Severity
from inventory.model.inventory import CapiCluster, Namespace
from inventory.model.objects import Feature
from inventory.settings import Mode
from tests.unit.inventory_support import (
    capi_kubeconfig_secret,
    cluster,
    clusterset_namespace,
    consumer,
    find,
    kubeconfig,
    plan_of,
    reasons,
    refs,
    seeded,
)


def test_push_secret_for_every_cluster_and_consumer_namespace() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        cluster("mgmt", "c2"),
        capi_kubeconfig_secret("mgmt", "c2"),
        consumer("team-a"),
        consumer("team-b"),
        Namespace("not-a-consumer"),
    )
    assert refs(plan) == [
        "Secret team-a/default-c1-kubeconfig",
        "Secret team-a/default-c2-kubeconfig",
        "Secret team-b/default-c1-kubeconfig",
        "Secret team-b/default-c2-kubeconfig",
    ]
    assert plan.diagnostics == ()


def test_push_secret_has_kep_4322_labels_type_and_config_key() -> None:
    plan = plan_of(
        cluster("mgmt", "c1", "prod", clusterprofile_namespace="fleet"),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("team-a"),
    )
    secret = find(plan, "Secret", "team-a", "fleet-prod-kubeconfig")
    assert secret.feature is Feature.PUSH
    assert secret.source == ObjectRef("Cluster", "mgmt", "c1")
    assert secret.labels == {
        "x-k8s.io/cluster-profile": "prod",
        "x-k8s.io/cluster-profile-namespace": "fleet",
        "app.kubernetes.io/managed-by": "cluster-inventory",
    }
    assert secret.fields == {"type": "Opaque"}
    assert secret.secret_data == {"config": kubeconfig("c1")}


def test_terminating_consumer_namespace_gets_no_push_secrets_and_one_warning() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        cluster("mgmt", "c2"),
        capi_kubeconfig_secret("mgmt", "c2"),
        consumer("team-a"),
        replace(consumer("team-b"), terminating=True),
    )
    assert refs(plan) == ["Secret team-a/default-c1-kubeconfig", "Secret team-a/default-c2-kubeconfig"]
    assert [str(d) for d in plan.diagnostics] == [
        (
            "warning: Namespace team-b: skipped: consumer namespace is terminating (being deleted), so no push "
            "Secrets are written to it: the API server forbids creating objects there"
        )
    ]


def test_terminating_namespace_that_is_not_a_consumer_is_not_reported() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("team-a"),
        Namespace("leaving", terminating=True),
    )
    assert refs(plan) == ["Secret team-a/default-c1-kubeconfig"]
    assert plan.diagnostics == ()


def test_profile_namespace_label_wins_over_clusterset() -> None:
    plan = plan_of(
        cluster("mgmt", "c1", clusterprofile_namespace="explicit", clusterset="east"),
        clusterset_namespace("fleet-east", "east"),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("team-a"),
    )
    assert refs(plan) == ["Secret team-a/explicit-c1-kubeconfig"]


def test_clusterset_namespace_wins_over_default() -> None:
    plan = plan_of(
        cluster("mgmt", "c1", clusterset="east"),
        clusterset_namespace("fleet-east", "east"),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("team-a"),
    )
    assert refs(plan) == ["Secret team-a/fleet-east-c1-kubeconfig"]


def test_upstream_clusterset_label_key_is_accepted_too() -> None:
    plan = plan_of(
        cluster("mgmt", "c1", clusterset="east"),
        Namespace("fleet-east", {"multicluster.x-k8s.io/clusterset": "east"}),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("team-a"),
    )
    assert refs(plan) == ["Secret team-a/fleet-east-c1-kubeconfig"]


def test_default_namespace_when_neither_label_nor_clusterset_namespace() -> None:
    plan = plan_of(cluster("mgmt", "c1", clusterset="unclaimed"), capi_kubeconfig_secret("mgmt", "c1"), consumer("t"))
    assert refs(plan) == ["Secret t/default-c1-kubeconfig"]


def test_default_profile_namespace_is_configurable() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("t"),
        settings=seeded(default_profile_namespace="fleet"),
    )
    assert refs(plan) == ["Secret t/fleet-c1-kubeconfig"]


def test_clusterset_claimed_by_several_namespaces_uses_the_lexicographic_first_and_warns() -> None:
    objects = [
        cluster("mgmt", "c1", clusterset="east"),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("t"),
        clusterset_namespace("zeta", "east"),
        clusterset_namespace("alpha", "east"),
    ]
    plan = plan_of(*objects)
    assert refs(plan) == ["Secret t/alpha-c1-kubeconfig"]
    assert reasons(plan, ObjectRef("ClusterSet", None, "east")) == [
        ("claimed by namespaces alpha, zeta: each Cluster of the set uses the first of them, in lexicographic "
         "order, that clusterPlacementRoutes lets it publish into")
    ]
    assert plan_of(*reversed(objects)) == plan


def test_kubeconfig_secret_is_matched_in_the_clusters_own_namespace() -> None:
    # Seed 000 indexed Secrets by cluster name only: same-named Clusters got each other's credentials.
    plan = plan_of(
        cluster("east", "c1", "east-c1"),
        capi_kubeconfig_secret("east", "c1", data={"value": kubeconfig("east")}),
        cluster("west", "c1", "west-c1"),
        capi_kubeconfig_secret("west", "c1", data={"value": kubeconfig("west")}),
        consumer("t"),
    )
    assert find(plan, "Secret", "t", "default-east-c1-kubeconfig").secret_data == {"config": kubeconfig("east")}
    assert find(plan, "Secret", "t", "default-west-c1-kubeconfig").secret_data == {"config": kubeconfig("west")}


def test_kubeconfig_under_value_wins_over_kubeconfig_key() -> None:
    data = {"kubeconfig": kubeconfig("old"), "value": kubeconfig("new")}
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1", data=data), consumer("t"))
    assert plan.objects[0].secret_data == {"config": kubeconfig("new")}


def test_kubeconfig_key_is_used_when_value_is_absent() -> None:
    data = {"kubeconfig": kubeconfig("old")}
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1", data=data), consumer("t"))
    assert plan.objects[0].secret_data == {"config": kubeconfig("old")}


def test_cluster_without_kubeconfig_secret_is_reported() -> None:
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("other", "c1"), consumer("t"))
    assert plan.objects == ()
    (diagnostic,) = plan.diagnostics
    assert diagnostic.severity is Severity.WARNING
    assert str(diagnostic) == (
        "warning: Cluster mgmt/c1: skipped: no kubeconfig Secret in namespace mgmt "
        "(labelled cluster.x-k8s.io/cluster-name=c1, named *-kubeconfig)"
    )


def test_kubeconfig_secret_of_the_wrong_type_is_reported() -> None:
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1", secret_type="Opaque"), consumer("t"))
    assert reasons(plan) == [
        "skipped: no kubeconfig Secret of type cluster.x-k8s.io/secret (c1-kubeconfig has type Opaque)"
    ]


def test_kubeconfig_secret_without_value_or_kubeconfig_key_is_reported() -> None:
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1", data={"other": b"x"}), consumer("t"))
    assert reasons(plan) == ["skipped: kubeconfig Secret mgmt/c1-kubeconfig has no data key value or kubeconfig"]


def test_empty_kubeconfig_is_reported() -> None:
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1", data={"value": b""}), consumer("t"))
    assert reasons(plan) == ["skipped: kubeconfig Secret mgmt/c1-kubeconfig key value: kubeconfig is empty"]


def test_kubeconfig_that_is_not_a_kubeconfig_is_reported() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1", data={"value": b"hello: world"}), consumer("t")
    )
    (reason,) = reasons(plan)
    assert reason.startswith("skipped: kubeconfig Secret mgmt/c1-kubeconfig key value: not a kubeconfig")


def test_secret_named_after_the_cluster_wins_over_other_labelled_secrets() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1", name="c1-user-kubeconfig", data={"value": b""}),
        consumer("t"),
    )
    assert plan.objects[0].secret_data == {"config": kubeconfig("c1")} and plan.diagnostics == ()


def test_several_kubeconfig_secrets_without_the_expected_name_are_reported() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1", name="a-kubeconfig"),
        capi_kubeconfig_secret("mgmt", "c1", name="b-kubeconfig"),
        consumer("t"),
    )
    assert reasons(plan) == [
        "skipped: several kubeconfig Secrets labelled cluster.x-k8s.io/cluster-name=c1: a-kubeconfig, b-kubeconfig"
    ]


def test_clusters_clashing_on_one_secret_name_are_both_reported_and_neither_wins() -> None:
    plan = plan_of(
        cluster("east", "c1", "prod", clusterprofile_namespace="fleet"),
        capi_kubeconfig_secret("east", "c1"),
        cluster("west", "c2", "prod", clusterprofile_namespace="fleet"),
        capi_kubeconfig_secret("west", "c2"),
        cluster("mgmt", "ok"),
        capi_kubeconfig_secret("mgmt", "ok"),
        consumer("t"),
    )
    assert refs(plan) == ["Secret t/default-ok-kubeconfig"]
    assert reasons(plan, ObjectRef("Cluster", "east", "c1")) == [
        (
            "skipped: push Secret name fleet-prod-kubeconfig is also claimed by Cluster west/c2; neither is written "
            "(give the Clusters distinct clusterprofile-name / clusterprofile-namespace labels)"
        )
    ]
    assert len(reasons(plan, ObjectRef("Cluster", "west", "c2"))) == 1


def test_names_that_concatenate_alike_clash_too() -> None:
    plan = plan_of(
        cluster("mgmt", "c1", "b-c", clusterprofile_namespace="a"),
        capi_kubeconfig_secret("mgmt", "c1"),
        cluster("mgmt", "c2", "c", clusterprofile_namespace="a-b"),
        capi_kubeconfig_secret("mgmt", "c2"),
        consumer("t"),
    )
    assert plan.objects == () and len(plan.diagnostics) == 2


def test_longest_valid_profile_labels_still_give_a_valid_secret_name() -> None:
    plan = plan_of(
        cluster("mgmt", "c1", "p" * 63, clusterprofile_namespace="n" * 63),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("t"),
    )
    assert len(plan.objects) == 1 and plan.diagnostics == ()


def test_push_secret_name_breaking_dns_rules_is_reported_naming_the_cluster() -> None:
    plan = plan_of(
        cluster("mgmt", "c1", "Prod_1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("t"),
        cluster("mgmt", "fine"),
        capi_kubeconfig_secret("mgmt", "fine"),
    )
    assert refs(plan) == ["Secret t/default-fine-kubeconfig"]
    (diagnostic,) = plan.diagnostics
    assert diagnostic.subject == ObjectRef("Cluster", "mgmt", "c1")
    assert "push Secret name 'default-Prod_1-kubeconfig' is not a DNS-1123 subdomain" in diagnostic.reason


def test_profile_name_label_over_63_characters_is_reported() -> None:
    plan = plan_of(cluster("mgmt", "c1", "p" * 64), capi_kubeconfig_secret("mgmt", "c1"), consumer("t"))
    (reason,) = reasons(plan, ObjectRef("Cluster", "mgmt", "c1"))
    assert "label x-k8s.io/cluster-profile value 'ppp" in reason and "is not a valid label value" in reason


def test_empty_profile_name_label_is_reported() -> None:
    unnamed = CapiCluster("mgmt", "c1", {"clusterprofile-name": ""})
    plan = plan_of(unnamed, capi_kubeconfig_secret("mgmt", "c1"), consumer("t"))
    assert plan.objects == () and len(plan.diagnostics) == 1


def test_cluster_without_profile_name_label_is_not_an_input() -> None:
    plan = plan_of(CapiCluster("mgmt", "c1", {}), capi_kubeconfig_secret("mgmt", "c1"), consumer("t"))
    assert plan.objects == () and plan.diagnostics == ()


def test_bad_cluster_does_not_affect_the_others() -> None:
    plan = plan_of(
        cluster("mgmt", "bad"), cluster("mgmt", "good"), capi_kubeconfig_secret("mgmt", "good"), consumer("t")
    )
    assert refs(plan) == ["Secret t/default-good-kubeconfig"]
    assert [d.subject for d in plan.diagnostics] == [ObjectRef("Cluster", "mgmt", "bad")]


def test_missing_kubeconfig_is_reported_even_without_consumer_namespaces() -> None:
    plan = plan_of(cluster("mgmt", "c1"))
    assert plan.objects == () and len(plan.diagnostics) == 1


def test_push_secret_that_would_overwrite_a_kubeconfig_source_is_skipped() -> None:
    # Cluster "default-x" in consumer namespace "mgmt": its CAPI Secret is mgmt/default-x-kubeconfig,
    # exactly the push Secret name of a Cluster whose profile is default/x.
    plan = plan_of(
        cluster("mgmt", "default-x", "other"),
        capi_kubeconfig_secret("mgmt", "default-x"),
        cluster("capi", "c2", "x"),
        capi_kubeconfig_secret("capi", "c2"),
        consumer("mgmt"),
    )
    assert "Secret mgmt/default-x-kubeconfig" not in refs(plan)
    assert "Secret mgmt/default-other-kubeconfig" in refs(plan)
    assert reasons(plan, ObjectRef("Cluster", "capi", "c2")) == [
        "skipped: Secret mgmt/default-x-kubeconfig would overwrite the credential source of Cluster mgmt/default-x"
    ]


def test_configured_label_keys_and_secret_key_are_used() -> None:
    settings = seeded(
        cluster_profile_name_label="inventory/profile",
        push_secret_key="kubeconfig",
        consumer_namespace_label="inventory/consumer",
        managed_by_label="owner",
        managed_by_value="me",
    )
    plan = plan_of(
        CapiCluster("mgmt", "c1", {"inventory/profile": "p"}),
        capi_kubeconfig_secret("mgmt", "c1"),
        Namespace("t", {"inventory/consumer": ""}),
        settings=settings,
    )
    (secret,) = plan.objects
    assert secret.labels["owner"] == "me" and set(secret.secret_data) == {"kubeconfig"}


def test_push_mode_other_than_direct_plans_no_push_secrets() -> None:
    objects = (cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"), consumer("t"))
    assert plan_of(*objects, settings=seeded(push_mode=Mode.OFF)).objects == ()
    assert plan_of(*objects, settings=seeded(push_mode=Mode.EVENTS)).objects == ()
