"""Planning (pure): the inventory and settings -> every object that should exist, and every
input skipped with why. No Pulumi, no network, no clock it was not handed.

``build_plan`` composes the feature planners (cluster manager, push, multicluster-runtime, Argo CD, Sveltos),
the credential lookup and the clash check. ``shards`` picks a shard's objects; ``handover``
decides how a feature moves between this program and Sveltos.
"""

from inventory.plan import handover
from inventory.plan.compose import ExecCredentials, Plan, build_plan
from inventory.plan.grants import CONSUMER_LABEL as GRANT_CONSUMER_LABEL
from inventory.plan.grants import Binding, Grant, role_name, token_refresh_reason
from inventory.plan.handover import NOTHING, SVELTOS_OWNER_KIND, HandOver
from inventory.plan.readiness import WAITING
from inventory.plan.shards import in_shard, select_shard, shard_of

__all__ = [
    "GRANT_CONSUMER_LABEL",
    "NOTHING",
    "SVELTOS_OWNER_KIND",
    "WAITING",
    "Binding",
    "ExecCredentials",
    "Grant",
    "HandOver",
    "Plan",
    "build_plan",
    "handover",
    "in_shard",
    "role_name",
    "select_shard",
    "shard_of",
    "token_refresh_reason",
]
