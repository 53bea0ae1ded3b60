"""A platform program of its own: a ConfigMap of the team's, and the cluster inventory.

Stack config (Pulumi.<stack>.yaml):
    my-platform:kubeconfig   where the team's own resources go (a path; unset: KUBECONFIG)
    my-platform:namespace    the namespace of its ConfigMap
    my-platform:inventory    the cluster inventory's settings: the keys of cluster-inventory's
                             Pulumi.yaml, without the `cluster-inventory:` prefix
"""

import pulumi
import pulumi_kubernetes as k8s

from inventory.stack import ClusterInventory

config = pulumi.Config()

platform = k8s.Provider("platform", kubeconfig=config.get("kubeconfig"))
settings = k8s.core.v1.ConfigMap(
    "platform-settings",
    metadata={"name": "platform-settings", "namespace": config.require("namespace")},
    data={"owner": "platform-team"},
    opts=pulumi.ResourceOptions(provider=platform),
)

# Validated as cluster-inventory's own stack config: an unknown key or a bad value stops the run.
# The component writes its outputs to the stack output `clusterInventory`, where its next run's
# guards read them back.
fleet = ClusterInventory("fleet", config.require_object("inventory"))

pulumi.export("platformSettings", settings.metadata.name)
pulumi.export("fleetObjects", fleet.counts)
