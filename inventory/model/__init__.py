"""The model: what every later stage works on, and nothing that reads or writes a cluster.

* the typed inventory the sources build (``Inventory``, ``CapiCluster``, ``ClusterProfile`` ...);
* the desired objects a plan consists of (``DesiredObject``, ``Feature``);
* diagnostics, one per problem, naming the object (``Diagnostic``, ``ObjectRef``, ``Severity``);
* Kubernetes' rules for names, labels and Secret keys, checked while planning;
* YAML in and out (libyaml when available).

Imports nothing else of the package: every other folder may import it.
"""

from inventory.model.diagnostics import Diagnostic, ObjectRef, Severity
from inventory.model.inventory import (
    CLUSTER_PROFILE_API_VERSION,
    CLUSTER_PROFILE_GROUP,
    CLUSTER_PROFILE_KIND,
    CLUSTER_PROFILE_PLURAL,
    CLUSTER_PROFILE_VERSION,
    AccessProvider,
    CapiCluster,
    CapiClusterStatus,
    ClusterAccess,
    ClusterProfile,
    Condition,
    Inventory,
    Namespace,
    Secret,
)
from inventory.model.names import (
    CAPI_KUBECONFIG_SUFFIX,
    MAX_LABEL_VALUE_LENGTH,
    SVELTOS_KUBECONFIG_SUFFIX,
    is_label_key,
    is_label_value,
    is_secret_data_key,
    label_problems,
    name_problem,
    namespace_problem,
    sveltos_kubeconfig_secret_name,
)
from inventory.model.objects import GRANTED_TOKEN, DesiredObject, Feature
from inventory.model.yamlio import SafeDumper, SafeLoader, StrictLoader, describe_yaml_error, dump_documents

__all__ = [
    "CAPI_KUBECONFIG_SUFFIX",
    "CLUSTER_PROFILE_API_VERSION",
    "CLUSTER_PROFILE_GROUP",
    "CLUSTER_PROFILE_KIND",
    "CLUSTER_PROFILE_PLURAL",
    "CLUSTER_PROFILE_VERSION",
    "GRANTED_TOKEN",
    "MAX_LABEL_VALUE_LENGTH",
    "SVELTOS_KUBECONFIG_SUFFIX",
    "AccessProvider",
    "CapiCluster",
    "CapiClusterStatus",
    "ClusterAccess",
    "ClusterProfile",
    "Condition",
    "DesiredObject",
    "Diagnostic",
    "Feature",
    "Inventory",
    "Namespace",
    "ObjectRef",
    "SafeDumper",
    "SafeLoader",
    "Secret",
    "Severity",
    "StrictLoader",
    "describe_yaml_error",
    "dump_documents",
    "is_label_key",
    "is_label_value",
    "is_secret_data_key",
    "label_problems",
    "name_problem",
    "namespace_problem",
    "sveltos_kubeconfig_secret_name",
]
