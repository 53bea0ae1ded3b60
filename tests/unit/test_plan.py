"""Rules of the plan as a whole: order, ownership label, where credentials live, clashes, errors."""

from __future__ import annotations

from inventory.model.diagnostics import Diagnostic, ObjectRef, Severity
from inventory.model.objects import DesiredObject, Feature
from inventory.plan.compose import build_plan
from tests.unit.inventory_support import (
    NOW,
    capi_kubeconfig_secret,
    cluster,
    consumer,
    inventory,
    kubeconfig,
    labelled_secret,
    plan_of,
    profile,
    reasons,
    refs,
    secret,
    secret_reader,
    seeded,
)


def full_inventory() -> tuple[object, ...]:
    return (
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        cluster("mgmt", "c2", clusterprofile_namespace="fleet"),
        capi_kubeconfig_secret("mgmt", "c2"),
        consumer("team-b"),
        consumer("team-a"),
        profile("fleet", "p2", secret_reader({"name": "c2-kubeconfig", "key": "value", "namespace": "mgmt"})),
        profile("fleet", "p1"),
        labelled_secret("fleet", "p1", {"config": kubeconfig("p1")}),
    )


def test_objects_are_sorted_by_kind_api_version_namespace_and_name() -> None:
    plan = plan_of(*full_inventory())
    assert [o.sort_key for o in plan.objects] == sorted(o.sort_key for o in plan.objects)
    assert refs(plan) == [
        "Secret fleet/p1-sveltos-kubeconfig",
        "Secret fleet/p2-sveltos-kubeconfig",
        "Secret team-a/default-c1-kubeconfig",
        "Secret team-a/fleet-c2-kubeconfig",
        "Secret team-b/default-c1-kubeconfig",
        "Secret team-b/fleet-c2-kubeconfig",
        "SveltosCluster fleet/p1",
        "SveltosCluster fleet/p2",
    ]


def test_plan_does_not_depend_on_input_order() -> None:
    assert plan_of(*full_inventory()) == plan_of(*reversed(full_inventory()))


def test_every_object_carries_the_managed_by_label() -> None:
    plan = plan_of(*full_inventory())
    assert all(o.labels["app.kubernetes.io/managed-by"] == "cluster-inventory" for o in plan.objects)


def test_credentials_travel_only_in_secret_data() -> None:
    plan = plan_of(*full_inventory())
    for obj in plan.objects:
        text = repr((obj.labels, obj.annotations, obj.fields))
        assert "token-of-" not in text
        assert not obj.secret_data or obj.kind == "Secret"
    assert all(obj.secret_data for obj in plan.objects if obj.kind == "Secret")


def test_plan_remembers_when_it_was_made() -> None:
    assert plan_of(*full_inventory()).planned_at == NOW


def test_inventory_with_errors_plans_nothing() -> None:
    broken = Diagnostic(ObjectRef("File", None, "bad.yaml"), "not valid YAML", Severity.ERROR)
    plan = plan_of(*full_inventory(), broken)
    assert plan.objects == ()
    assert plan.errors == (broken,)


def test_parse_warnings_are_carried_into_the_plan() -> None:
    warning = Diagnostic(ObjectRef("Secret", "x", "y"), "data['a']: not valid base64")
    assert warning in plan_of(*full_inventory(), warning).warnings


def test_push_secret_clashing_with_a_profile_secret_drops_both_and_the_whole_profile() -> None:
    # Consumer namespace "fleet" gets push Secret "{cpNs}-{cpName}-kubeconfig" = "x-y-sveltos-kubeconfig",
    # which is also the kubeconfig Secret of ClusterProfile fleet/x-y.
    plan = plan_of(
        cluster("mgmt", "c1", "y-sveltos", clusterprofile_namespace="x"),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("fleet"),
        consumer("team"),
        profile("fleet", "x-y"),
        labelled_secret("fleet", "x-y", {"kubeconfig": kubeconfig("p")}),
    )
    assert refs(plan) == ["Secret team/x-y-sveltos-kubeconfig"]
    assert reasons(plan, ObjectRef("Cluster", "mgmt", "c1")) == [
        "skipped: Secret fleet/x-y-sveltos-kubeconfig is also planned for ClusterProfile fleet/x-y; neither is written"
    ]
    assert reasons(plan, ObjectRef("ClusterProfile", "fleet", "x-y")) == [
        "skipped: Secret fleet/x-y-sveltos-kubeconfig is also planned for Cluster mgmt/c1; neither is written"
    ]


def test_extra_objects_are_merged_in_order() -> None:
    config_map = DesiredObject("v1", "ConfigMap", "projectsveltos", "template", Feature.EVENTS)
    source = DesiredObject("lib.projectsveltos.io/v1beta1", "EventSource", None, "push", Feature.EVENTS)
    plan = build_plan(inventory(*full_inventory()), seeded(), {}, NOW, extra_objects=[source, config_map])
    assert refs(plan)[:2] == ["ConfigMap projectsveltos/template", "EventSource push"]
    assert [o.sort_key for o in plan.objects] == sorted(o.sort_key for o in plan.objects)


def test_extra_object_clashing_with_a_planned_one_drops_both() -> None:
    extra = DesiredObject("v1", "Secret", "team-a", "default-c1-kubeconfig", Feature.EVENTS)
    plan = build_plan(inventory(*full_inventory()), seeded(), {}, NOW, extra_objects=[extra])
    assert "Secret team-a/default-c1-kubeconfig" not in refs(plan)
    assert "Secret team-b/default-c1-kubeconfig" in refs(plan)
    assert reasons(plan, ObjectRef("Secret", "team-a", "default-c1-kubeconfig")) == [
        "skipped: Secret team-a/default-c1-kubeconfig is also planned for Cluster mgmt/c1; neither is written"
    ]
    assert reasons(plan, ObjectRef("Cluster", "mgmt", "c1")) == [
        (
            "skipped: Secret team-a/default-c1-kubeconfig is also planned for the configured "
            "Secret team-a/default-c1-kubeconfig; neither is written"
        )
    ]


def test_diagnostics_are_sorted() -> None:
    plan = plan_of(cluster("mgmt", "b"), cluster("mgmt", "a"), profile("fleet", "z"), consumer("t"))
    assert [d.sort_key for d in plan.diagnostics] == sorted(d.sort_key for d in plan.diagnostics)
    assert [str(d.subject) for d in plan.diagnostics] == ["Cluster mgmt/a", "Cluster mgmt/b", "ClusterProfile fleet/z"]


def test_one_source_secret_may_feed_both_features() -> None:
    plan = plan_of(
        cluster("mgmt", "c1"),
        capi_kubeconfig_secret("mgmt", "c1"),
        consumer("t"),
        profile("fleet", "c1", secret_reader({"name": "c1-kubeconfig", "key": "value", "namespace": "mgmt"})),
        secret("other", "unrelated", {"a": b"b"}),
    )
    assert len(plan.objects) == 3 and plan.diagnostics == ()
