"""Switching a feature between direct and events hands its objects over without a gap (inventory/plan/handover.py)."""

from __future__ import annotations

from inventory.model.objects import DesiredObject, Feature
from inventory.plan.handover import (
    STACK_OWNER_KIND,
    SVELTOS_OWNER_KIND,
    SVELTOS_OWNER_NAME,
    WAIT_FOR_ANNOTATION,
    WAIT_FOR_SVELTOS,
    Switch,
    events_mode_objects,
    from_sveltos,
    handing_features,
    switch,
    to_sveltos,
)
from inventory.settings import Mode
from inventory.stack.guards import PreviousRun, planned_deletions, shape_of
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
    secret,
    secret_reader,
    seeded,
)

STACK = "org/cluster-inventory/prod"
EVENTS = seeded(push_mode=Mode.EVENTS, sveltos_mode=Mode.EVENTS)


def _fleet() -> list[object]:
    """Two CAPI clusters for two consumers; one ClusterProfile with a labelled Secret, one with
    kubeconfig-secretreader only (which events mode cannot write)."""
    return [
        consumer("team-a"), consumer("team-b"),
        cluster("capi", "alpha"), capi_kubeconfig_secret("capi", "alpha"),
        cluster("capi", "beta"), capi_kubeconfig_secret("capi", "beta"),
        profile("fleet", "east"), labelled_secret("fleet", "east", {"kubeconfig": kubeconfig("east")}),
        profile("fleet", "west", secret_reader({"name": "west-admin", "key": "value"})),
        secret("fleet", "west-admin", {"value": kubeconfig("west")}),
    ]


def _names(objects: tuple[DesiredObject, ...] | list[DesiredObject]) -> set[str]:
    return {o.logical_name for o in objects}


def test_direct_to_events_hands_a_feature_to_sveltos() -> None:
    assert switch({"push": "direct", "sveltos": "direct"}, EVENTS) == Switch(
        frozenset({Feature.PUSH, Feature.SVELTOS}), frozenset())


def test_events_to_direct_takes_a_feature_back_from_sveltos() -> None:
    assert switch({"push": "events", "sveltos": "direct"}, seeded()) == Switch(frozenset(), frozenset({Feature.PUSH}))


def test_no_switch_for_a_new_stack_an_unchanged_mode_or_a_feature_turned_off() -> None:
    assert not switch({}, EVENTS)
    assert not switch({"push": "events", "sveltos": "events"}, EVENTS)
    assert not switch({"push": "direct", "sveltos": "events"}, seeded(push_mode=Mode.OFF, sveltos_mode=Mode.OFF))


def test_sveltos_is_handed_every_push_secret_and_only_profiles_with_a_labelled_secret() -> None:
    fleet = _fleet()
    direct = plan_of(*fleet)
    handed = events_mode_objects(inventory(*fleet), EVENTS, {Feature.PUSH, Feature.SVELTOS}, NOW)
    push = {o.logical_name for o in direct.objects if o.feature is Feature.PUSH}
    assert len(push) == 4
    assert _names(handed) == push | {"SveltosCluster/fleet/east", "Secret/fleet/east-sveltos-kubeconfig"}
    # The west profile's objects (kubeconfig-secretreader) are not Sveltos' to write.
    assert "SveltosCluster/fleet/west" in _names(direct.objects)


def test_objects_handed_to_sveltos_are_what_direct_mode_writes() -> None:
    fleet = _fleet()
    direct = {o.logical_name: o for o in plan_of(*fleet).objects}
    for obj in events_mode_objects(inventory(*fleet), EVENTS, {Feature.PUSH, Feature.SVELTOS}, NOW):
        assert obj == direct[obj.logical_name]


def test_only_the_switching_feature_is_handed_over() -> None:
    handed = events_mode_objects(inventory(*_fleet()), EVENTS, {Feature.SVELTOS}, NOW)
    assert {o.feature for o in handed} == {Feature.SVELTOS}
    assert events_mode_objects(inventory(*_fleet()), EVENTS, set(), NOW) == ()


def _not_written(obj: DesiredObject) -> str | None:
    return None


def _written_by_sveltos(obj: DesiredObject) -> str | None:
    return "ClusterProfile"


def _push_handed() -> tuple[DesiredObject, ...]:
    return events_mode_objects(inventory(*_fleet()), EVENTS, {Feature.PUSH}, NOW)


def test_the_switching_run_waits_for_every_object_this_stack_wrote_and_leaves_new_ones_to_sveltos() -> None:
    handed = _push_handed()
    known = {o.logical_name for o in handed if o.namespace == "team-a"}
    result = to_sveltos(handed, Switch(frozenset({Feature.PUSH})), known, (), (), _not_written)
    assert _names(result.waiting) == known and result.retained == ()
    assert all(o.annotations[WAIT_FOR_ANNOTATION] == WAIT_FOR_SVELTOS for o in result.waiting)
    assert WAIT_FOR_SVELTOS == "jsonpath={.metadata.annotations['projectsveltos.io/owner-kind']}=ClusterProfile"


def test_objects_sveltos_has_not_written_yet_are_waited_for_again() -> None:
    handed = _push_handed()
    names = _names(handed)
    written = {o.logical_name for o in handed if o.namespace == "team-a"}

    def sveltos_kind(obj: DesiredObject) -> str | None:
        return "ClusterProfile" if obj.logical_name in written else None

    result = to_sveltos(handed, Switch(), names, names, (), sveltos_kind)
    assert _names(result.waiting) == names - written
    assert _names(result.retained) == written
    assert all(WAIT_FOR_ANNOTATION not in o.annotations for o in result.retained)


def test_objects_sveltos_has_written_are_retained_then_forgotten_by_the_run_after() -> None:
    handed = _push_handed()
    names = _names(handed)
    marked = to_sveltos(handed, Switch(), names, names, (), _written_by_sveltos)
    assert _names(marked.retained) == names and marked.waiting == ()
    forgotten = to_sveltos(handed, Switch(), names, (), names, _written_by_sveltos)
    assert forgotten.objects == ()


def test_without_a_switch_or_an_unfinished_hand_over_nothing_is_kept() -> None:
    handed = _push_handed()
    assert to_sveltos(handed, Switch(), _names(handed), (), (), _not_written).objects == ()


def test_an_unfinished_hand_over_is_resumed_for_every_feature_in_events_mode() -> None:
    assert handing_features(Switch(), True, EVENTS) == {Feature.PUSH, Feature.SVELTOS}
    assert handing_features(Switch(), True, seeded(push_mode=Mode.EVENTS)) == {Feature.PUSH}
    assert handing_features(Switch(), False, EVENTS) == frozenset()
    assert handing_features(Switch(frozenset({Feature.SVELTOS})), False, EVENTS) == {Feature.SVELTOS}


def test_taking_back_claims_sveltos_owner_annotations_for_the_stack_on_that_feature_only() -> None:
    objects = plan_of(*_fleet()).objects
    claimed = from_sveltos(objects, {Feature.PUSH}, STACK)
    for before, after in zip(objects, claimed, strict=True):
        if before.feature is Feature.PUSH:
            assert after.annotations[SVELTOS_OWNER_KIND] == STACK_OWNER_KIND
            assert after.annotations[SVELTOS_OWNER_NAME] == STACK
            # A waitFor left from an earlier hand-over to Sveltos must not make the take-back wait.
            assert after.annotations[WAIT_FOR_ANNOTATION] == ""
            assert {k: v for k, v in after.annotations.items()
                    if k not in (SVELTOS_OWNER_KIND, SVELTOS_OWNER_NAME, WAIT_FOR_ANNOTATION)} == before.annotations
        else:
            assert after == before
    assert from_sveltos(objects, set(), STACK) == objects


def test_an_object_handed_to_sveltos_is_forgotten_not_deleted_by_the_next_run() -> None:
    handed = events_mode_objects(inventory(*_fleet()), EVENTS, {Feature.PUSH}, NOW)
    gone = DesiredObject("v1", "Secret", "team-a", "old-kubeconfig", Feature.PUSH, fields={"type": "Opaque"})
    previous = PreviousRun({o.logical_name: shape_of(o) for o in [*handed, gone]}, {}, "uid",
                           {"push": "events"}, frozenset(_names(handed)))
    deletions = planned_deletions(previous, [], "uid", lambda name, shape: False)
    assert [d.logical_name for d in deletions] == [gone.logical_name]


def test_previous_run_reads_modes_and_handed_over_objects_from_the_outputs() -> None:
    outputs = {"managedObjects": {"v1 Secret Opaque": ["Secret/a/x", "Secret/a/y"]}, "modes": {"push": "direct"},
               "handedOver": ["Secret/a/x"], "handingOver": ["Secret/a/y"]}
    previous = PreviousRun.from_outputs(outputs)
    assert previous.modes == {"push": "direct"}
    assert previous.handed_over == frozenset({"Secret/a/x"})
    assert previous.handing_over == frozenset({"Secret/a/y"})
    old = PreviousRun.from_outputs({})
    assert old.modes == {} and old.handed_over == frozenset() and old.handing_over == frozenset()


def test_a_switching_run_reads_the_inventory_as_direct_mode_for_the_feature_handed_to_sveltos() -> None:
    from inventory.plan.handover import reading
    from inventory.sources.select import reads_capi, reads_profiles

    assert not reads_capi(EVENTS) and not reads_profiles(EVENTS)
    read = reading(EVENTS, {Feature.PUSH})
    assert reads_capi(read) and not reads_profiles(read)
    assert reading(EVENTS, set()) == EVENTS


def test_while_adopt_existing_is_set_every_direct_feature_claims_sveltos_owner_annotations() -> None:
    from inventory.plan.handover import claiming_features

    adopting = seeded(adopt_existing=True, sveltos_mode=Mode.EVENTS)
    assert claiming_features(Switch(), adopting) == {Feature.PUSH}
    assert claiming_features(Switch(), seeded()) == frozenset()
    assert claiming_features(Switch(frozenset(), frozenset({Feature.SVELTOS})), seeded()) == {Feature.SVELTOS}
