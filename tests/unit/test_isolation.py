"""SPEC §9, failure isolation: a tenant's input can cost only that tenant's objects. Deletions are
counted per source namespace and held back per namespace; a name another writer holds skips the
objects planned under it."""

from __future__ import annotations

import pytest

from inventory.model import DesiredObject, Feature, ObjectRef
from inventory.settings import Settings
from inventory.stack.guards import (
    GuardError,
    PreviousRun,
    objects_by_shape,
    planned_deletions,
    shape_of,
    skip_taken_names,
)
from inventory.stack.holdback import (
    NOT_RECORDED,
    STACK_CONFIG,
    HeldBack,
    diagnostics,
    hold_back,
    kept_objects,
    objects_by_source,
)

SVELTOS_V1 = "lib.projectsveltos.io/v1beta1"
CAP = Settings(max_deletions=4)


def _profile_objects(namespace: str, name: str) -> list[DesiredObject]:
    """What a ClusterProfile plans in its namespace: a Secret and a SveltosCluster."""
    source = ObjectRef("ClusterProfile", namespace, name)
    return [DesiredObject("v1", "Secret", namespace, f"{name}-sveltos-kubeconfig", Feature.SVELTOS, source,
                          fields={"type": "Opaque"}, secret_data={"kubeconfig": b"SECRET-BYTES"}),
            DesiredObject(SVELTOS_V1, "SveltosCluster", namespace, name, Feature.SVELTOS, source)]


def _push_secret(cluster_namespace: str, consumer: str, name: str) -> DesiredObject:
    return DesiredObject("v1", "Secret", consumer, f"default-{name}-kubeconfig", Feature.PUSH,
                         ObjectRef("Cluster", cluster_namespace, name), fields={"type": "Opaque"})


def _event_source(name: str) -> DesiredObject:
    return DesiredObject("lib.projectsveltos.io/v1beta1", "EventSource", None, name, Feature.EVENTS)


def _fleet(*per_namespace: tuple[str, int]) -> list[DesiredObject]:
    return [obj for namespace, count in per_namespace for i in range(count)
            for obj in _profile_objects(namespace, f"p{i}")]


def _deployed(objects: list[DesiredObject], *, sources: bool = True) -> PreviousRun:
    """The outputs a run that declared ``objects`` wrote, read back by the next run."""
    outputs = {"managedObjects": objects_by_shape(objects), "managementCluster": "uid-1"}
    if sources:
        outputs["managedObjectSources"] = objects_by_source(objects)
    return PreviousRun.from_outputs(outputs)


def _decide(previous: PreviousRun, planned: list[DesiredObject], settings: Settings = CAP) -> HeldBack:
    deletions = planned_deletions(previous, planned, "uid-1", lambda name, shape: False)
    return hold_back(deletions, previous, planned, "uid-1", settings)


def _names(deletions: tuple[object, ...]) -> set[str]:
    return {d.logical_name for d in deletions}  # type: ignore[attr-defined]


def test_an_object_belongs_to_the_namespace_of_the_cluster_or_profile_it_was_planned_from() -> None:
    objects = [*_profile_objects("team-a", "p"), _push_secret("capi-b", "consumer-c", "x"), _event_source("es")]
    assert objects_by_source(objects) == {
        "capi-b": ["Secret/consumer-c/default-x-kubeconfig"],
        STACK_CONFIG: ["EventSource/es"],
        "team-a": ["Secret/team-a/p-sveltos-kubeconfig", "SveltosCluster/team-a/p"],
    }


def test_sources_read_back_into_the_previous_run() -> None:
    previous = _deployed(_profile_objects("team-a", "p"))
    assert previous.sources == {"Secret/team-a/p-sveltos-kubeconfig": "team-a", "SveltosCluster/team-a/p": "team-a"}


def test_a_namespace_over_the_cap_holds_back_its_own_deletions_only() -> None:
    fleet = _fleet(("team-a", 3), ("team-b", 3), ("team-c", 3))
    planned = [o for o in fleet if o.namespace != "team-a"][:-2]  # all of team-a (6), one of team-c's (2)
    held = _decide(_deployed(fleet), planned)
    assert held.counts() == {"team-a": 6}
    assert _names(held.released) == {"Secret/team-c/p2-sveltos-kubeconfig", "SveltosCluster/team-c/p2"}
    assert not held.emptying


def test_a_namespace_at_the_cap_is_not_held_back() -> None:
    fleet = _fleet(("team-a", 3), ("team-b", 3))
    held = _decide(_deployed(fleet), fleet[4:])  # team-a's p0 and p1: 4 objects, the cap
    assert held.counts() == {}
    assert _names(held.released) == {o.logical_name for o in fleet[:4]}


def test_a_replacement_counts_against_its_source_namespace() -> None:
    fleet = _fleet(("team-a", 3))
    retyped = [DesiredObject(o.api_version, o.kind, o.namespace, o.name, o.feature, o.source,
                             fields={"type": "example.com/kubeconfig"}) if o.kind == "Secret" else o for o in fleet]
    held = _decide(_deployed(fleet), retyped, Settings(max_deletions=2))
    assert held.counts() == {"team-a": 3}
    reason = "replaced: Secret type changed from Opaque to example.com/kubeconfig"
    assert {d.reason for d in held.held["team-a"]} == {reason}


def test_objects_planned_from_stack_config_are_one_group() -> None:
    events = [_event_source(f"es-{i}") for i in range(5)]
    held = _decide(_deployed([*events, *_fleet(("team-a", 20))]), _fleet(("team-a", 20)))
    assert held.counts() == {STACK_CONFIG: 5}


def test_allow_mass_deletion_lets_every_namespace_go() -> None:
    fleet = _fleet(("team-a", 3), ("team-b", 3))
    held = _decide(_deployed(fleet), fleet[6:], Settings(max_deletions=4, allow_mass_deletion=True))
    assert held.counts() == {} and len(held.released) == 6


def test_a_run_that_would_empty_most_of_the_stack_holds_back_every_namespace() -> None:
    """An inventory that reads empty, or a config that selects nothing: each namespace within the cap,
    the run as a whole removing most of what the stack manages."""
    fleet = _fleet(("team-a", 2), ("team-b", 2), ("team-c", 2))
    held = _decide(_deployed(fleet), [])
    assert held.emptying
    assert held.released == ()
    assert held.counts() == {"team-a": 4, "team-b": 4, "team-c": 4}


def test_one_namespace_emptying_itself_is_not_the_stack_emptying() -> None:
    fleet = _fleet(("team-a", 2), ("team-b", 10))
    held = _decide(_deployed(fleet), fleet[4:])
    assert not held.emptying and held.counts() == {} and len(held.released) == 4


def test_the_first_run_after_the_upgrade_counts_unrecorded_sources_as_one_group() -> None:
    """Outputs written before managedObjectSources: the deletions of that run are one group, as the
    whole run was before, held back over the cap and let go within it; nothing is deleted that the
    old guard would have kept."""
    fleet = _fleet(("team-a", 3), ("team-b", 3))
    previous = _deployed(fleet, sources=False)
    over = _decide(previous, fleet[6:])
    assert over.counts() == {NOT_RECORDED: 6}
    within = _decide(previous, fleet[2:])
    assert within.counts() == {} and len(within.released) == 2


def test_held_back_objects_are_kept_with_their_recorded_shape_and_source() -> None:
    fleet = _fleet(("team-a", 3))
    previous = _deployed(fleet)
    kept = kept_objects(_decide(previous, []), previous)
    assert {name: (k.shape, k.group) for name, k in kept.items()} == {
        o.logical_name: (shape_of(o), "team-a") for o in fleet}


def test_held_back_objects_recorded_without_shapes_stop_the_run() -> None:
    previous = PreviousRun.from_outputs({"managedObjects": [f"Secret/a/{i}" for i in range(6)]})
    with pytest.raises(GuardError, match="without their types.*allowMassDeletion"):
        kept_objects(_decide(previous, []), previous)


def test_the_report_names_the_namespace_the_count_the_cap_and_how_to_let_them_go() -> None:
    fleet = _fleet(("team-a", 3))
    held = _decide(_deployed(fleet), [])
    [warning] = diagnostics(held, CAP, 6)
    text = str(warning)
    assert text.startswith("warning: Namespace team-a: 6 deletions held back: more than maxDeletions (4)")
    assert "6 deleted: no longer in the inventory" in text
    assert "Secret/team-a/p0-sveltos-kubeconfig" in text and "and 1 more" in text
    assert "allowMassDeletion true" in text
    assert "SECRET-BYTES" not in text


def test_a_move_to_another_management_cluster_still_stops_the_whole_run() -> None:
    fleet = _fleet(("team-a", 3))
    deletions = planned_deletions(_deployed(fleet), fleet, "uid-2", lambda name, shape: False)
    with pytest.raises(GuardError, match="would delete 6 managed objects"):
        hold_back(deletions, _deployed(fleet), fleet, "uid-2", CAP)


# --- names another writer holds ----------------------------------------------------------------


def _held_by(*names: str) -> object:
    return lambda obj: "not written by any stack" if obj.logical_name in names else None


def test_a_taken_name_skips_that_object_and_names_both_objects() -> None:
    planned = [_push_secret("capi", "c1", "x"), _push_secret("capi", "c2", "x")]
    declared, skipped = skip_taken_names(planned, [], _held_by("Secret/c1/default-x-kubeconfig"), Settings())
    assert [o.logical_name for o in declared] == ["Secret/c2/default-x-kubeconfig"]
    [warning] = skipped
    assert warning.subject == ObjectRef("Cluster", "capi", "x")
    assert "Secret c1/default-x-kubeconfig not declared: the name is taken by an existing Secret " \
           "c1/default-x-kubeconfig that this stack does not manage (not written by any stack)" in warning.reason
    assert "adoptExisting" in warning.reason


def test_a_sveltos_cluster_is_not_declared_without_its_secret() -> None:
    planned = [*_profile_objects("team-a", "p"), *_profile_objects("team-a", "q")]
    declared, skipped = skip_taken_names(planned, [], _held_by("Secret/team-a/p-sveltos-kubeconfig"), Settings())
    assert [o.logical_name for o in declared] == ["Secret/team-a/q-sveltos-kubeconfig", "SveltosCluster/team-a/q"]
    assert [str(d.subject) for d in skipped] == ["ClusterProfile team-a/p"] * 2
    assert "goes with Secret team-a/p-sveltos-kubeconfig" in skipped[1].reason


def test_an_object_the_stack_already_manages_is_never_taken() -> None:
    planned = _profile_objects("team-a", "p")
    declared, skipped = skip_taken_names(planned, [o.logical_name for o in planned],
                                         _held_by(*(o.logical_name for o in planned)), Settings())
    assert declared == planned and skipped == []


def test_adopt_existing_takes_names_over_without_looking() -> None:
    def must_not_be_called(obj: DesiredObject) -> str | None:
        raise AssertionError("existence checked although adoptExisting is set")

    planned = _profile_objects("team-a", "p")
    assert skip_taken_names(planned, [], must_not_be_called, Settings(adopt_existing=True)) == (planned, [])
