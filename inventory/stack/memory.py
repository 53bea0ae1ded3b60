"""Memory that fits (SPEC §8, issue 18): would this stack's `pulumi` process pass its budget,
and which shardCount would fit? Pure: the program decides, warns in a preview and stops in `up`.

The `pulumi` process holds the whole state in memory (about 30 KB per object, each credential
three times) and peaks in a no-op or changing `up`, with the old and the new snapshot at once.
`make bench-deploy` samples its RSS (every 0.1 s, /proc/PID/status VmRSS of the process tree):
636 MiB at 1,000 objects, 2,550 MiB at 5,000 and 2,894 MiB at 5,046 (plain `pulumi`, 2 cores),
and the issue's 7,000-object fleet reached 3.8 GiB. A line above all of those: 100 MiB plus
0.58 MiB per object (docs/sizing.md, "Memory").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inventory.settings import Settings

PULUMI_BASE_MIB = 100.0
PULUMI_MIB_PER_OBJECT = 0.58
# Shards hash clusters, so their sizes differ a little: the suggested count leaves this much room.
SHARD_IMBALANCE = 1.1
# What every stack declares besides its objects: the stack, the provider, the ClusterInventory component.
FIXED_RESOURCES = 3


def pulumi_peak_mib(objects: int) -> float:
    """The estimated peak RSS of the `pulumi` process for a stack declaring ``objects``."""
    return PULUMI_BASE_MIB + PULUMI_MIB_PER_OBJECT * (objects + FIXED_RESOURCES)


def objects_within(budget_mib: int) -> int:
    """The most objects one stack may declare within ``budget_mib``."""
    return max(int((budget_mib - PULUMI_BASE_MIB) / PULUMI_MIB_PER_OBJECT) - FIXED_RESOURCES, 0)


@dataclass(frozen=True)
class OverBudget:
    objects: int
    estimate_mib: float
    budget_mib: int
    fitting_shards: int | None  # None: the budget holds no object at all

    def message(self, stopping: bool) -> str:
        fits = (f"split the fleet into `shardCount: {self.fitting_shards}` stacks (docs/sizing.md, 'Splitting a "
                f"fleet across stacks') or raise memoryBudgetMib where the machine has the memory"
                if self.fitting_shards else "raise memoryBudgetMib: it holds no object at all")
        override = ("; to run it anyway, `pulumi config set cluster-inventory:allowOverMemoryBudget true`"
                    if stopping else "")
        return (f"this stack declares {self.objects} objects: its `pulumi` process would peak at about "
                f"{self.estimate_mib:.0f} MiB ({PULUMI_MIB_PER_OBJECT} MiB per object), over memoryBudgetMib "
                f"({self.budget_mib} MiB holds at most {objects_within(self.budget_mib)} objects per stack): "
                f"{fits}{override}")


def over_budget(objects: int, settings: Settings) -> OverBudget | None:
    """The stack's estimated `pulumi` peak against ``memoryBudgetMib``; None when it fits."""
    estimate = pulumi_peak_mib(objects)
    if estimate <= settings.memory_budget_mib:
        return None
    per_stack = objects_within(settings.memory_budget_mib)
    fleet = objects * settings.shard_count  # this shard's size stands for every shard's
    shards = math.ceil(fleet * SHARD_IMBALANCE / per_stack) if per_stack else None
    return OverBudget(objects, estimate, settings.memory_budget_mib, shards)
