"""Splitting a fleet across stacks (docs/sizing.md): the shards partition the plan, an object
stays with its source, and the assignment does not move when the fleet changes."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inventory import pipeline
from inventory.model.diagnostics import ObjectRef
from inventory.plan.shards import shard_of
from inventory.settings import Mode, Settings, SettingsError
from tests.unit.inventory_support import FIXTURES, NOW

SOURCES = st.builds(ObjectRef, st.sampled_from(["Cluster", "ClusterProfile"]),
                    st.text("abc-", min_size=1, max_size=8), st.text("abcdef-0123", min_size=1, max_size=12))


def _plan(**values: object) -> pipeline.Plan:
    return pipeline.compute_plan(Settings(inventory_dir=str(FIXTURES / "basic"), **values), NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [2, 3, 7])
def test_the_shards_together_declare_exactly_the_unsharded_plan(count: int) -> None:
    whole = _plan()
    shards = [_plan(shard_count=count, shard_index=i) for i in range(count)]
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


@given(SOURCES, st.integers(min_value=1, max_value=64))
def test_a_source_maps_to_one_valid_shard_the_same_way_every_time(source: ObjectRef, count: int) -> None:
    shard = shard_of(source, count)
    assert 0 <= shard < count
    assert shard_of(ObjectRef(source.kind, source.namespace, source.name), count) == shard


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
