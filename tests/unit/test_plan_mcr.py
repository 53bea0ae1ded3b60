"""Feature A in multicluster-runtime's layout (SPEC §3 D): the Secrets its Secret strategy finds."""

from __future__ import annotations

import pytest

from inventory.model.diagnostics import ObjectRef
from inventory.model.inventory import Namespace
from inventory.model.objects import Feature
from inventory.settings import Mode, PushLayout, Settings, SettingsError
from tests.unit.inventory_support import (
    CONSUMER_LABEL,
    capi_kubeconfig_secret,
    cluster,
    find,
    kubeconfig,
    labelled_secret,
    plan_of,
    profile,
    reasons,
    refs,
    seeded,
)

MCR = seeded(push_layout=PushLayout.MULTICLUSTER_RUNTIME, sveltos_mode=Mode.OFF)


def named_consumer(namespace: str, consumer: str) -> Namespace:
    return Namespace(namespace, {CONSUMER_LABEL: consumer})


def test_one_secret_per_profile_and_consumer_in_the_profiles_namespace() -> None:
    plan = plan_of(
        cluster("mgmt", "c1", "prod", clusterprofile_namespace="fleet"),
        capi_kubeconfig_secret("mgmt", "c1"),
        cluster("mgmt", "c2"),
        capi_kubeconfig_secret("mgmt", "c2"),
        named_consumer("team-a", "argo"),
        named_consumer("team-b", "kueue"),
        settings=MCR,
    )
    assert refs(plan) == [
        "Secret default/argo-c2-kubeconfig",
        "Secret default/kueue-c2-kubeconfig",
        "Secret fleet/argo-prod-kubeconfig",
        "Secret fleet/kueue-prod-kubeconfig",
    ]
    assert plan.diagnostics == ()


def test_secret_has_the_consumer_and_profile_labels_and_the_config_key() -> None:
    plan = plan_of(
        cluster("mgmt", "c1", "prod", clusterprofile_namespace="fleet"),
        capi_kubeconfig_secret("mgmt", "c1"),
        named_consumer("team-a", "argo"),
        settings=MCR,
    )
    secret = find(plan, "Secret", "fleet", "argo-prod-kubeconfig")
    assert secret.feature is Feature.PUSH
    assert secret.source == ObjectRef("Cluster", "mgmt", "c1")
    assert secret.labels == {
        "x-k8s.io/cluster-inventory-consumer": "argo",
        "x-k8s.io/cluster-profile": "prod",
        "app.kubernetes.io/managed-by": "cluster-inventory",
    }
    assert secret.fields == {"type": "Opaque"}
    assert secret.secret_data == {"Config": kubeconfig("c1")}


def test_namespaces_naming_one_consumer_share_its_secret() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        named_consumer("argo-1", "argo"),
        named_consumer("argo-2", "argo"),
        settings=MCR,
    )
    assert refs(plan) == ["Secret default/argo-c1-kubeconfig"]


def test_consumer_namespace_with_an_empty_label_value_is_reported_and_gets_nothing() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        named_consumer("unnamed", ""),
        named_consumer("team-a", "argo"),
        settings=MCR,
    )
    assert refs(plan) == ["Secret default/argo-c1-kubeconfig"]
    assert reasons(plan, ObjectRef("Namespace", None, "unnamed")) == [
        (f"skipped: label {CONSUMER_LABEL} has an empty value, and pushLayout multicluster-runtime names each "
        f"consumer by it (label {CONSUMER_LABEL}=<consumer>): set the value to the consumer's name")
    ]


def test_empty_label_value_is_fine_in_the_seed_layout() -> None:
    plan = plan_of(cluster("mgmt", "c1"), capi_kubeconfig_secret("mgmt", "c1"), named_consumer("unnamed", ""))
    assert refs(plan) == ["Secret unnamed/default-c1-kubeconfig"]
    assert plan.diagnostics == ()


def test_pairs_whose_names_run_together_are_reported_and_neither_is_written() -> None:
    # consumer "a-b" + profile "c" and consumer "a" + profile "b-c" both give a-b-c-kubeconfig.
    plan = plan_of(
        cluster("mgmt", "c1", "c"),
        capi_kubeconfig_secret("mgmt", "c1"),
        cluster("mgmt", "c2", "b-c"),
        capi_kubeconfig_secret("mgmt", "c2"),
        named_consumer("ns-1", "a-b"),
        named_consumer("ns-2", "a"),
        settings=MCR,
    )
    assert "Secret default/a-b-c-kubeconfig" not in refs(plan)
    assert reasons(plan, ObjectRef("Cluster", "mgmt", "c1")) == [
        ("skipped for consumer a-b: Secret default/a-b-c-kubeconfig is also planned for Cluster mgmt/c2 for "
        "consumer a; neither is written")
    ]
    assert len(reasons(plan, ObjectRef("Cluster", "mgmt", "c2"))) == 1


def test_two_clusters_for_one_profile_are_reported_not_written_twice() -> None:
    plan = plan_of(
        cluster("mgmt", "c1", "prod"),
        capi_kubeconfig_secret("mgmt", "c1"),
        cluster("other", "c1", "prod"),
        capi_kubeconfig_secret("other", "c1"),
        named_consumer("team-a", "argo"),
        settings=MCR,
    )
    assert refs(plan) == []
    assert all("also claimed by" in reason for reason in reasons(plan))
    assert len(reasons(plan)) == 2


def test_consumer_name_that_makes_an_invalid_secret_name_is_reported() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        named_consumer("team-a", "Argo_CD"),
        settings=MCR,
    )
    assert refs(plan) == []
    assert reasons(plan, ObjectRef("Cluster", "mgmt", "c1")) == [
        ("skipped for consumer Argo_CD: name 'Argo_CD-c1-kubeconfig' is not a DNS-1123 subdomain "
        "(lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)")
    ]


def test_secret_that_would_overwrite_a_sveltos_secret_is_reported_and_neither_is_written() -> None:
    # Consumer "x" of profile "sveltos" meets feature B's Secret of ClusterProfile default/x.
    plan = plan_of(
        cluster("mgmt", "c1", "sveltos"),
        capi_kubeconfig_secret("mgmt", "c1"),
        named_consumer("team-a", "x"),
        profile("default", "x"),
        labelled_secret("default", "x", {"config": kubeconfig("x")}),
        settings=seeded(push_layout=PushLayout.MULTICLUSTER_RUNTIME),
    )
    assert refs(plan) == []
    assert reasons(plan, ObjectRef("Cluster", "mgmt", "c1")) == [
        "skipped: Secret default/x-sveltos-kubeconfig is also planned for ClusterProfile default/x; neither is written"
    ]


def test_multicluster_runtime_layout_needs_direct_mode() -> None:
    with pytest.raises(SettingsError, match="pushLayout: multicluster-runtime needs pushMode direct"):
        Settings.from_mapping({"pushLayout": "multicluster-runtime", "pushMode": "events"})


def test_unknown_push_layout_is_a_config_error() -> None:
    with pytest.raises(SettingsError, match="pushLayout: 'kep' is not one of seed, multicluster-runtime"):
        Settings.from_mapping({"pushLayout": "kep"})


def test_a_foreign_secret_with_the_same_labels_is_reported_because_the_consumer_wants_exactly_one() -> None:
    from tests.unit.inventory_support import secret

    plan = plan_of(
        cluster("mgmt", "c1", "prod", clusterprofile_namespace="fleet"),
        capi_kubeconfig_secret("mgmt", "c1"),
        named_consumer("team-a", "argo"),
        secret("fleet", "hand-made", {"Config": kubeconfig("old")},
               **{"x-k8s.io/cluster-inventory-consumer": "argo", "x-k8s.io/cluster-profile": "prod"}),
        settings=MCR,
    )
    assert refs(plan) == []
    assert reasons(plan, ObjectRef("Cluster", "mgmt", "c1")) == [
        ("skipped for consumer argo: Secret fleet/hand-made already carries x-k8s.io/cluster-inventory-consumer=argo "
        "and x-k8s.io/cluster-profile=prod, and multicluster-runtime wants exactly one such Secret: delete it (or "
        "rename it to argo-prod-kubeconfig and adopt it)")
    ]


def test_the_lookalike_secrets_are_read_only_in_the_multicluster_runtime_layout() -> None:
    from inventory.sources.select import mcr_lookalike_selector

    assert mcr_lookalike_selector(seeded()) is None
    assert mcr_lookalike_selector(MCR) == (
        "x-k8s.io/cluster-inventory-consumer,x-k8s.io/cluster-profile,app.kubernetes.io/managed-by!=cluster-inventory")
