"""The guards every run passes before it declares anything (SPEC §4, §8): deletions as consumers feel them."""

from __future__ import annotations

import pytest

from inventory.model.objects import DesiredObject, Feature
from inventory.settings import Settings
from inventory.stack.guards import (
    GuardError,
    PreviousRun,
    check_cluster_move,
    check_deletion_cap,
    check_pinned_cluster,
    objects_by_shape,
    planned_deletions,
    shape_of,
)

SVELTOS_V1 = "lib.projectsveltos.io/v1beta1"


def _secret(namespace: str, name: str, type_: str = "Opaque") -> DesiredObject:
    return DesiredObject("v1", "Secret", namespace, name, Feature.PUSH, fields={"type": type_},
                         secret_data={"config": b"SECRET-BYTES"})


def _sveltos_cluster(namespace: str, name: str, api_version: str = SVELTOS_V1) -> DesiredObject:
    return DesiredObject(api_version, "SveltosCluster", namespace, name, Feature.SVELTOS)


def _previous(*objects: DesiredObject, cluster: str | None = "uid-1", **pending: str) -> PreviousRun:
    return PreviousRun({o.logical_name: shape_of(o) for o in objects}, pending, cluster)


def _nothing_exists(name: str, shape: str | None) -> bool:
    return False


def _deletions(previous: PreviousRun, planned: list[DesiredObject], cluster: str = "uid-1") -> dict[str, str]:
    return {d.logical_name: d.reason for d in planned_deletions(previous, planned, cluster, _nothing_exists)}


def test_an_object_that_leaves_the_inventory_is_a_deletion() -> None:
    assert _deletions(_previous(_secret("a", "x"), _secret("a", "y")), [_secret("a", "x")]) == {
        "Secret/a/y": "deleted: no longer in the inventory"}


def test_a_changed_secret_type_is_a_replacement_and_counts_as_a_deletion() -> None:
    deletions = _deletions(_previous(_secret("a", "x")), [_secret("a", "x", "kubernetes.io/opaque-new")])
    assert deletions == {"Secret/a/x": "replaced: Secret type changed from Opaque to kubernetes.io/opaque-new"}


def test_a_changed_api_version_is_a_replacement_and_counts_as_a_deletion() -> None:
    deletions = _deletions(_previous(_sveltos_cluster("a", "p", "lib.projectsveltos.io/v1alpha1")),
                           [_sveltos_cluster("a", "p")])
    assert deletions == {"SveltosCluster/a/p": f"replaced: apiVersion changed from lib.projectsveltos.io/v1alpha1 "
                                               f"to {SVELTOS_V1}"}


def test_a_new_management_cluster_replaces_every_object() -> None:
    previous = _previous(_secret("a", "x"), _sveltos_cluster("a", "p"))
    deletions = _deletions(previous, [_secret("a", "x"), _sveltos_cluster("a", "p")], cluster="uid-2")
    assert set(deletions) == {"Secret/a/x", "SveltosCluster/a/p"}
    assert all("management cluster changed from uid-1 to uid-2" in reason for reason in deletions.values())


def test_data_label_and_annotation_changes_are_not_deletions() -> None:
    before = _secret("a", "x")
    after = DesiredObject("v1", "Secret", "a", "x", Feature.PUSH, labels={"new": "label"},
                          annotations={"rotated": "yes"}, fields={"type": "Opaque"}, secret_data={"config": b"NEW"})
    assert _deletions(_previous(before), [after]) == {}


def test_a_deletion_an_earlier_failed_run_left_undone_counts_while_the_object_exists() -> None:
    previous = PreviousRun({}, {"Secret/a/left": "v1 Secret Opaque"}, "uid-1")
    asked: list[tuple[str, str | None]] = []

    def exists(name: str, shape: str | None) -> bool:
        asked.append((name, shape))
        return True

    deletions = planned_deletions(previous, [], "uid-1", exists)
    assert [d.logical_name for d in deletions] == ["Secret/a/left"]
    assert "failed" in deletions[0].reason
    assert asked == [("Secret/a/left", "v1 Secret Opaque")]
    assert planned_deletions(previous, [], "uid-1", _nothing_exists) == []


def test_outputs_in_the_format_before_shapes_still_count_removals() -> None:
    previous = PreviousRun.from_outputs({"managedObjects": ["Secret/a/x", "Secret/a/y"]})
    assert previous.cluster is None
    assert _deletions(previous, [_secret("a", "x", "other")]) == {"Secret/a/y": "deleted: no longer in the inventory"}


def test_outputs_grouped_by_shape_read_back_into_the_same_previous_run() -> None:
    objects = [_secret("a", "x"), _sveltos_cluster("a", "p")]
    outputs = {"managedObjects": objects_by_shape(objects), "pendingDeletions": {}, "managementCluster": "uid-1"}
    assert PreviousRun.from_outputs(outputs) == \
        _previous(*objects)


def test_deletions_up_to_the_cap_are_allowed() -> None:
    check_deletion_cap(planned_deletions(_previous(_secret("a", "x")), [], "uid-1", _nothing_exists),
                       Settings(max_deletions=1))


def test_deletions_over_the_cap_stop_the_run_naming_objects_and_causes() -> None:
    previous = _previous(_secret("a", "x"), _secret("a", "y"))
    deletions = planned_deletions(previous, [_secret("a", "x", "other")], "uid-1", _nothing_exists)
    with pytest.raises(GuardError) as raised:
        check_deletion_cap(deletions, Settings(max_deletions=1))
    message = str(raised.value)
    assert "would delete 2 managed objects" in message
    assert "1 replaced: Secret type changed from Opaque to other" in message
    assert "1 deleted: no longer in the inventory" in message
    assert "Secret/a/x, Secret/a/y" in message
    assert "allowMassDeletion" in message


def test_replacements_over_the_cap_stop_the_run_like_deletions() -> None:
    objects = [_secret("a", str(i)) for i in range(3)]
    deletions = planned_deletions(_previous(*objects), objects, "uid-2", _nothing_exists)
    with pytest.raises(GuardError, match="would delete 3 managed objects.*management cluster changed"):
        check_deletion_cap(deletions, Settings(max_deletions=2))


def test_allow_mass_deletion_lifts_the_cap() -> None:
    deletions = planned_deletions(_previous(_secret("a", "x"), _secret("a", "y")), [], "uid-1", _nothing_exists)
    check_deletion_cap(deletions, Settings(max_deletions=1, allow_mass_deletion=True))


def test_a_kubeconfig_reaching_another_cluster_is_refused_with_the_way_to_move() -> None:
    with pytest.raises(GuardError, match="reaches another cluster \\(uid-2\\).*managementClusterId uid-2"):
        check_cluster_move(_previous(_secret("a", "x")), "uid-2", Settings())


def test_naming_the_new_cluster_in_config_allows_the_move() -> None:
    check_cluster_move(_previous(_secret("a", "x")), "uid-2", Settings(management_cluster_id="uid-2"))


def test_a_new_stack_or_the_same_cluster_is_no_move() -> None:
    check_cluster_move(PreviousRun(), "uid-2", Settings())
    check_cluster_move(_previous(_secret("a", "x")), "uid-1", Settings())


def test_a_pinned_stack_refuses_another_cluster() -> None:
    with pytest.raises(GuardError, match="managementClusterId is uid-1, but the kubeconfig reaches cluster uid-2"):
        check_pinned_cluster("uid-2", Settings(management_cluster_id="uid-1"))
    check_pinned_cluster("uid-1", Settings(management_cluster_id="uid-1"))
    check_pinned_cluster("uid-2", Settings())
