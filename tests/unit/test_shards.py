"""Splitting a fleet across stacks (docs/sizing.md): the shards partition the plan, an object
stays with its source, the assignment does not move when the fleet changes, and a change of
shardCount by one moves only the objects that go to (or come from) the shard added (or removed)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inventory import pipeline
from inventory.model import DesiredObject, Feature
from inventory.model.diagnostics import ObjectRef
from inventory.plan import in_shard
from inventory.plan.shards import shard_of
from inventory.settings import Mode, Settings, SettingsError, ShardAssignment
from tests.unit.inventory_support import FIXTURES, NOW

SOURCES = st.builds(ObjectRef, st.sampled_from(["Cluster", "ClusterProfile"]),
                    st.text("abc-", min_size=1, max_size=8), st.text("abcdef-0123", min_size=1, max_size=12))


def _plan(**values: object) -> pipeline.Plan:
    return pipeline.compute_plan(Settings(inventory_dir=str(FIXTURES / "basic"), **values), NOW)  # type: ignore[arg-type]


ASSIGNMENTS = st.sampled_from(list(ShardAssignment))
# A fleet large enough that the share moved is within a few points of its expectation.
EXPECTED_RENDEZVOUS = [1, 1, 1, 1, 2, 0, 2, 0]
FLEET = [ObjectRef("Cluster", f"capi-{i % 7}", f"c-{i}") for i in range(3000)]


@pytest.mark.parametrize("assignment", list(ShardAssignment))
@pytest.mark.parametrize("count", [2, 3, 7])
def test_the_shards_together_declare_exactly_the_unsharded_plan(count: int, assignment: ShardAssignment) -> None:
    whole = _plan()
    shards = [_plan(shard_count=count, shard_index=i, shard_assignment=assignment) for i in range(count)]
    objects = Counter(o.logical_name for shard in shards for o in shard.objects)
    assert objects == Counter(o.logical_name for o in whole.objects)  # each object in exactly one shard
    assert sorted(d for shard in shards for d in shard.diagnostics) == sorted(whole.diagnostics)


def test_every_object_of_one_source_is_in_one_shard() -> None:
    for index in range(3):
        for obj in _plan(shard_count=3, shard_index=index).objects:
            assert shard_of(obj.source, 3) == index


def test_event_framework_objects_are_declared_by_shard_zero_only() -> None:
    kinds = [{o.kind for o in _plan(sveltos_mode=Mode.EVENTS, shard_count=2, shard_index=i).objects} for i in (0, 1)]
    assert "EventTrigger" in kinds[0] and "EventTrigger" not in kinds[1]


@given(SOURCES, st.integers(min_value=1, max_value=64), ASSIGNMENTS)
def test_a_source_maps_to_one_valid_shard_the_same_way_every_time(source: ObjectRef, count: int,
                                                                   assignment: ShardAssignment) -> None:
    shard = shard_of(source, count, assignment)
    assert 0 <= shard < count
    assert shard_of(ObjectRef(source.kind, source.namespace, source.name), count, assignment) == shard


@given(st.lists(SOURCES, max_size=40), st.integers(min_value=1, max_value=12), ASSIGNMENTS)
def test_every_object_is_declared_by_exactly_one_shard(sources: list[ObjectRef], count: int,
                                                       assignment: ShardAssignment) -> None:
    objects = tuple(DesiredObject("v1", "Secret", "team", f"s-{i}", Feature.PUSH, source)
                    for i, source in enumerate([*sources, None]))
    shards = [in_shard(objects, Settings(shard_count=count, shard_index=i, shard_assignment=assignment))
              for i in range(count)]
    assert sorted(o.name for shard in shards for o in shard) == sorted(o.name for o in objects)


@given(SOURCES, st.integers(min_value=1, max_value=32))
def test_growing_by_one_shard_moves_a_source_only_to_the_new_shard(source: ObjectRef, count: int) -> None:
    assert shard_of(source, count + 1) in (shard_of(source, count), count)


@given(SOURCES, st.integers(min_value=2, max_value=32))
def test_shrinking_by_one_shard_moves_only_the_removed_shards_sources(source: ObjectRef, count: int) -> None:
    before = shard_of(source, count)
    assert shard_of(source, count - 1) == before or before == count - 1


@pytest.mark.parametrize("count", [1, 2, 3, 4, 8])
def test_growing_by_one_shard_moves_about_one_in_count_plus_one(count: int) -> None:
    moved = sum(shard_of(ref, count) != shard_of(ref, count + 1) for ref in FLEET) / len(FLEET)
    assert abs(moved - 1 / (count + 1)) < 0.03


def test_modulo_keeps_the_assignment_of_stacks_sharded_before_rendezvous() -> None:
    # SHA-256 of "Cluster capi/c-0" etc. mod 3, as every version before shardAssignment computed it.
    import hashlib

    for ref in FLEET[:50]:
        digest = hashlib.sha256(str(ref).encode("utf-8")).digest()
        assert shard_of(ref, 3, ShardAssignment.MODULO) == int.from_bytes(digest[:8], "big") % 3
    moved = sum(shard_of(ref, 2, ShardAssignment.MODULO) != shard_of(ref, 3, ShardAssignment.MODULO)
                for ref in FLEET) / len(FLEET)
    assert moved > 0.6  # why rendezvous is the default


def test_the_assignment_does_not_depend_on_the_process() -> None:
    # Fixed values: Python's per-process string hash must never leak into the assignment.
    assert [shard_of(ObjectRef("Cluster", "capi", f"c{i}"), 3) for i in range(8)] == EXPECTED_RENDEZVOUS


def test_a_cluster_that_joins_moves_no_other() -> None:
    fleet = [ObjectRef("Cluster", "capi", f"c-{i}") for i in range(200)]
    before = {ref: shard_of(ref, 5) for ref in fleet}
    fleet.append(ObjectRef("Cluster", "capi", "newcomer"))
    assert all(shard_of(ref, 5) == shard for ref, shard in before.items())
    assert len(set(before.values())) == 5  # 200 clusters reach every shard


def test_shard_settings_are_checked() -> None:
    with pytest.raises(SettingsError, match="shardIndex: 2 must be from 0 to shardCount - 1 \\(1\\)"):
        Settings.from_mapping({"shardCount": 2, "shardIndex": 2})
    with pytest.raises(SettingsError, match="shardCount: 0 must be 1 or more"):
        Settings.from_mapping({"shardCount": 0})
    with pytest.raises(SettingsError, match="shardAssignment: 'jump' is not one of rendezvous, modulo"):
        Settings.from_mapping({"shardAssignment": "jump"})
