"""Memory that fits (issue 18): a stack whose `pulumi` process would pass memoryBudgetMib is
flagged with a shardCount that fits; the estimate is the one docs/sizing.md derives."""

from __future__ import annotations

import pytest

from inventory.settings import Settings, SettingsError
from inventory.stack.memory import objects_within, over_budget, pulumi_peak_mib


def test_the_estimate_covers_the_measured_peaks() -> None:
    # make bench-deploy: 636 MiB at 1,000 objects, 2,550 MiB at 5,000, 2,894 MiB at 5,046 (a shard of
    # 20,000); the issue: 3.8 GiB at 7,000.
    assert 636 <= pulumi_peak_mib(1_000) <= 1.1 * 636
    assert 2_550 <= pulumi_peak_mib(5_000) <= 1.2 * 2_550
    assert 2_894 <= pulumi_peak_mib(5_046) <= 1.1 * 2_894
    assert 3.8 * 1024 <= pulumi_peak_mib(7_000) <= 1.1 * 3.8 * 1024


def test_a_stack_within_the_default_budget_passes() -> None:
    assert over_budget(objects_within(Settings().memory_budget_mib), Settings()) is None
    assert over_budget(1_000, Settings()) is None


def test_the_default_budget_keeps_pulumi_within_one_and_a_half_gib() -> None:
    assert Settings().memory_budget_mib == 1536
    assert pulumi_peak_mib(objects_within(1536)) <= 1536


def test_a_stack_over_the_budget_is_told_a_shard_count_that_fits() -> None:
    over = over_budget(5_000, Settings())
    assert over is not None
    assert over.fitting_shards == 3  # 5,000 x 1.1 / 2,472 objects per stack
    assert pulumi_peak_mib(5_000 * 1.1 // over.fitting_shards) <= 1536
    message = over.message(stopping=True)
    assert "5000 objects" in message and "`shardCount: 3`" in message
    assert "allowOverMemoryBudget true" in message


def test_a_shard_over_the_budget_counts_the_whole_fleet() -> None:
    over = over_budget(3_000, Settings(shard_count=2, shard_index=1))
    assert over is not None and over.fitting_shards == 3  # 6,000 objects in all


def test_each_shard_names_the_count_its_own_size_implies() -> None:
    # docs/sizing.md, 20,000 objects as 4 shards of 5,062, 4,834, 4,932 and 5,172 objects.
    named = [over_budget(size, Settings(shard_count=4)) for size in (5_062, 4_834, 4_932, 5_172)]
    assert [over.fitting_shards if over else None for over in named] == [10, 9, 9, 10]


def test_a_larger_budget_lets_the_same_stack_pass() -> None:
    assert over_budget(5_000, Settings(memory_budget_mib=3072)) is None


def test_the_warning_of_an_allowed_run_names_no_override() -> None:
    over = over_budget(5_000, Settings())
    assert over is not None and "allowOverMemoryBudget" not in over.message(stopping=False)


def test_a_budget_that_holds_nothing_says_to_raise_it() -> None:
    over = over_budget(10, Settings(memory_budget_mib=50))
    assert over is not None and over.fitting_shards is None
    assert "raise memoryBudgetMib" in over.message(stopping=True)


def test_a_budget_below_one_mib_is_refused() -> None:
    with pytest.raises(SettingsError, match="memoryBudgetMib"):
        Settings.from_mapping({"memoryBudgetMib": 0})
