"""Configuration: every tunable of the program, validated once, from Pulumi config or a YAML file.

Keys are the Pulumi config keys of ``Pulumi.yaml`` (camelCase, without the project
prefix); the render CLI's ``--config FILE`` takes the same keys. Every label key of
SPEC §2 is the default of one of these values.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from inventory.model import (
    StrictLoader,
    describe_yaml_error,
    is_label_key,
    is_label_value,
    is_secret_data_key,
    namespace_problem,
)


class Mode(str, enum.Enum):
    """Who writes a feature's objects: this program (direct), Sveltos in-cluster (events), nobody (off)."""

    DIRECT = "direct"
    EVENTS = "events"
    OFF = "off"


class PushLayout(str, enum.Enum):
    """Where feature A's Secrets live and how they are labelled (SPEC §3 A and D)."""

    # Seed 000: `{cpNs}-{cpName}-kubeconfig` in every consumer namespace, key pushSecretKey.
    SEED = "seed"
    # multicluster-runtime's Secret strategy: one Secret per ClusterProfile x consumer in the
    # profile's namespace, labelled with both names, kubeconfig under key `Config`.
    MULTICLUSTER_RUNTIME = "multicluster-runtime"


# multicluster-runtime's own constants (kubeconfigstrategy/secret.go: SecretLabelKeyClusterInventoryConsumer,
# SecretLabelKeyClusterProfile, SecretDataKeyKubeConfig): the consumer looks for exactly these.
MCR_CONSUMER_LABEL = "x-k8s.io/cluster-inventory-consumer"
MCR_PROFILE_LABEL = "x-k8s.io/cluster-profile"
MCR_KUBECONFIG_KEY = "Config"


class ArgoCDSource(str, enum.Enum):
    """What an Argo CD cluster Secret is made from (SPEC §3 D)."""

    CLUSTERS = "clusters"  # CAPI Clusters and their kubeconfig Secrets (as capi2argo-cluster-operator)
    PROFILES = "profiles"  # ClusterProfiles and the credentials feature B resolves


class ShardAssignment(str, enum.Enum):
    """How a source object's shard is chosen (inventory/plan/shards.py, docs/sizing.md)."""

    # Highest random weight: changing shardCount by one moves only about 1/N of the fleet.
    RENDEZVOUS = "rendezvous"
    # SHA-256 mod shardCount, the only assignment before shardAssignment existed: changing
    # shardCount moves most of the fleet. Kept so stacks sharded that way keep their objects.
    MODULO = "modulo"


# Fields an Argo CD name template may use; each names the source object.
ARGOCD_TEMPLATE_FIELDS = ("source", "namespace", "name")

# In a list of namespaces or label keys of the trust settings (SPEC §9, docs/security.md), this
# stands for "any": an explicit, visible choice to trust whoever can write the objects it admits.
ANY = "*"


@dataclass(frozen=True)
class ExecBinding:
    """Which ClusterProfiles may use one exec provider, and what they may hand its plugin (SPEC §9).

    A profile is bound when it is in one of ``namespaces`` (``*``: any) and its labels match every
    pair of ``match_labels``; either may be left empty, not both. Labels are written by whoever
    writes the profile, so ``namespaces`` is the binding that holds against tenants. Only the
    variable names of ``profile_env`` and the flag names of ``profile_args`` pass from a profile's
    KEP-5339 extensions to the plugin.
    """

    namespaces: tuple[str, ...] = ()
    match_labels: Mapping[str, str] = field(default_factory=dict)
    profile_env: tuple[str, ...] = ()
    profile_args: tuple[str, ...] = ()

    def binds(self, namespace: str, labels: Mapping[str, str]) -> bool:
        if not self.namespaces and not self.match_labels:
            return False
        in_namespace = not self.namespaces or ANY in self.namespaces or namespace in self.namespaces
        return in_namespace and labels_match(self.match_labels, labels)


# Environment variables a ClusterProfile may never hand an exec plugin, whatever a binding's profileEnv
# lists (SPEC §9). The one list: settings validation refuses a binding naming one, and the plugin
# invocation (inventory/credentials/exec/invocation.py) refuses a profile setting one.
# Interpreters, loaders and shells read these to decide which code runs (PATH, LD_PRELOAD, BASH_ENV,
# PYTHONSTARTUP, NODE_OPTIONS, exported bash functions, glibc's GCONV_PATH and GLIBC_TUNABLES ...).
_CODE_LOADING_NAMES = frozenset({
    "PATH", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "CDPATH", "GLOBIGNORE", "PROMPT_COMMAND",
    "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS", "CLASSPATH", "GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH", "MALLOC_CONF",
})
_CODE_LOADING_PREFIXES = ("LD_", "DYLD_", "PYTHON", "PERL5", "BASH_FUNC_", "GEM_", "BUNDLE_")
# Where the plugin connects and whom it trusts: name resolution, proxies, CA bundles, TLS key logs.
_NETWORK_TRUST_NAMES = frozenset({
    "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "SSL_CERT_FILE", "SSL_CERT_DIR", "SSLKEYLOGFILE",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "AWS_CA_BUNDLE",
})
_NETWORK_TRUST_SUFFIXES = ("_PROXY", "_CA_BUNDLE")  # compared case-insensitively: curl reads http_proxy
# The deploy job's own context: its request to the plugin, its cluster, its files and its tools' secrets.
_JOB_CONTEXT_NAMES = frozenset({"KUBERNETES_EXEC_INFO", "KUBECONFIG", "HOME", "TMPDIR", "XDG_CONFIG_HOME"})
_JOB_CONTEXT_PREFIXES = ("GIT_", "PULUMI_")


def profile_env_refusal(name: str) -> str | None:
    """Why no ClusterProfile may set the plugin variable ``name`` even when a binding lists it, or None."""
    if name in _CODE_LOADING_NAMES or name.startswith(_CODE_LOADING_PREFIXES):
        return "interpreters, loaders and shells read it to decide which code runs"
    if name in _NETWORK_TRUST_NAMES or name.upper().endswith(_NETWORK_TRUST_SUFFIXES):
        return "it changes where the plugin connects or which certificates it trusts"
    if name in _JOB_CONTEXT_NAMES or name.startswith(_JOB_CONTEXT_PREFIXES):
        return "it belongs to the deploy job (its plugin request, cluster access, files or tools)"
    return None


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A flag a binding lets a profile pass: long form only, so that "--name" or "--name=value" is unambiguous.
_FLAG_NAME = re.compile(r"--[A-Za-z0-9][A-Za-z0-9._-]*")


def is_env_name(name: str) -> bool:
    return _ENV_NAME.fullmatch(name) is not None


def is_flag_name(name: str) -> bool:
    return _FLAG_NAME.fullmatch(name) is not None


# Grants (docs/security.md, "Grants"): the least a token may live (the API server's own minimum
# for a TokenRequest's expirationSeconds is 600 s) and how long a consumer's token lives by default
# (24 h, as OCM's managed-serviceaccount: refreshed at 80 %, so about every 19 h).
MIN_TOKEN_LIFETIME_SECONDS = 600
DEFAULT_TOKEN_LIFETIME_SECONDS = 86400


@dataclass(frozen=True)
class GrantAccess:
    """One entry of a consumer's ``access`` list: what its identity may do on the workload clusters
    whose CAPI Cluster labels match ``cluster_selector`` (empty: every cluster).

    Exactly one of ``cluster_role`` (an existing ClusterRole on the workload cluster, bound by name)
    and ``rules`` (PolicyRules, made into a role of the program's). Without ``namespaces`` the grant
    is cluster-wide (a ClusterRoleBinding); with them, a RoleBinding in each named namespace.
    """

    cluster_role: str | None = None
    rules: tuple[Mapping[str, Any], ...] = ()
    namespaces: tuple[str, ...] = ()
    cluster_selector: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsumerGrants:
    """What one consumer namespace may do on workload clusters (stack config ``grants``).

    ``admin`` is the explicit choice to keep handing this consumer the CAPI admin kubeconfig;
    otherwise it gets a ServiceAccount token per workload cluster that some ``access`` entry
    selects, and nothing for the others."""

    admin: bool = False
    access: tuple[GrantAccess, ...] = ()
    token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS

    def selected_access(self, cluster_labels: Mapping[str, str]) -> tuple[GrantAccess, ...]:
        return tuple(entry for entry in self.access if labels_match(entry.cluster_selector, cluster_labels))


class SettingsError(ValueError):
    """The configuration is unusable; the message lists every problem, one per line."""


@dataclass(frozen=True)
class Settings:
    # Where the inventory is read from, and where objects are written.
    kubeconfig: str | None = None  # a path, or the kubeconfig content itself (keep it a Pulumi secret)
    context: str | None = None
    # The UID of the management cluster's kube-system namespace, when the stack is pinned to
    # one cluster; changing it is how a stack moves to another cluster (inventory/stack/guards.py).
    management_cluster_id: str | None = None
    inventory_dir: str | None = None  # read manifests from here instead of the live cluster

    push_mode: Mode = Mode.DIRECT  # feature A
    sveltos_mode: Mode = Mode.DIRECT  # feature B
    push_layout: PushLayout = PushLayout.SEED  # feature A's shape

    capi_namespaces: tuple[str, ...] = ()  # empty: all namespaces
    profile_namespaces: tuple[str, ...] = ()  # empty: all namespaces

    # Input label conventions (SPEC §2).
    cluster_profile_name_label: str = "clusterprofile-name"
    cluster_profile_namespace_label: str = "clusterprofile-namespace"
    cluster_set_label: str = "clusterset.k8s.io"
    consumer_namespace_label: str = "x-k8s.io/cluster-inventory-consumer"
    # The seed's convention first, then the upstream API's own key.
    cluster_set_namespace_labels: tuple[str, ...] = (
        "clusterset.multicluster.x-k8s.io",
        "multicluster.x-k8s.io/clusterset",
    )
    capi_cluster_name_label: str = "cluster.x-k8s.io/cluster-name"
    default_profile_namespace: str = "default"

    # Output conventions (SPEC §3).
    profile_label: str = "x-k8s.io/cluster-profile"
    profile_namespace_label: str = "x-k8s.io/cluster-profile-namespace"
    push_secret_key: str = "config"
    sveltos_kubeconfig_key: str = "kubeconfig"
    display_name_annotation: str = "clusterinventory.projectsveltos.io/display-name"
    managed_by_label: str = "app.kubernetes.io/managed-by"
    managed_by_value: str = "cluster-inventory"

    # Argo CD declarative cluster Secrets (SPEC §3 D): direct or off; Sveltos has no part in them.
    argocd_mode: Mode = Mode.OFF
    argocd_sources: tuple[ArgoCDSource, ...] = (ArgoCDSource.CLUSTERS,)
    argocd_namespace: str = "argocd"
    argocd_project: str = ""  # empty: not a project-scoped cluster
    argocd_secret_name_template: str = "{source}-{namespace}-{name}"
    argocd_cluster_name_template: str = "{namespace}-{name}"
    argocd_labels: tuple[str, ...] = ()  # label keys copied from the source object
    argocd_cluster_namespaces: tuple[str, ...] = ()  # empty: every namespace of the cluster
    argocd_cluster_resources: bool = False  # only written with argocd_cluster_namespaces

    # Cluster manager for Cluster API (SPEC §3 E): direct or off; Sveltos cannot write a status.
    cluster_profile_mode: Mode = Mode.OFF
    # spec.clusterManager.name and label x-k8s.io/cluster-manager of every published profile.
    # The API server makes spec.clusterManager.name immutable: changing it later needs the
    # profiles deleted and created again.
    cluster_manager_name: str = "cluster-inventory"
    # Also publish every Cluster of capiNamespaces without the clusterprofile-name label, under its own name.
    cluster_profile_all_clusters: bool = False
    cluster_profile_labels: tuple[str, ...] = ()  # label keys copied from the Cluster to its profile

    # The readiness gate (inventory/plan/readiness.py): credentials of every feature (A, B, D and
    # E's access providers) wait for a healthy control plane; those already written are kept.
    require_healthy_control_plane: bool = False

    # Exec credential plugins (SPEC §3 B.2).
    exec_provider_file: str | None = None
    exec_timeout_seconds: float = 30.0
    # Plugin time (seconds of plugins running) one ClusterProfile namespace may use in one run: a
    # plugin starts only while its whole time limit fits in what is left, so one tenant's slow or
    # hung plugins cost that tenant's profiles, not the run (inventory/credentials/exec/schedule.py).
    exec_namespace_budget_seconds: float = 900.0
    schedule_interval_minutes: int = 60  # 0: not run on a schedule

    # Trust boundaries (SPEC §9, docs/security.md): everything a tenant writes is a request; these
    # are the only routes a credential may take. The defaults route nothing across namespaces.
    # Namespaces that may receive credentials (they carry consumerNamespaceLabel too); "*" is
    # seed 000's rule: every labelled namespace, i.e. whoever may label a namespace.
    consumer_namespaces: tuple[str, ...] = ()
    # Also every labelled namespace whose labels match all of these (labels only the operator sets).
    consumer_namespace_selector: Mapping[str, str] = field(default_factory=dict)
    # ClusterProfile namespace ("*": any) -> the further namespaces its kubeconfig-secretreader
    # provider may read a Secret from; its own namespace is always allowed.
    secret_reader_routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # CAPI Cluster namespace ("*": any) -> the further namespaces its labels may place its
    # ClusterProfile, Secrets and SveltosCluster in ("*": any); its own namespace is always allowed.
    cluster_placement_routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Secrets in these namespaces are the operator's: their kubeconfigs may carry exec,
    # auth-provider, tokenFile and file paths. Any other source keeps static credentials only.
    trusted_kubeconfig_namespaces: tuple[str, ...] = ()
    # Exec provider name -> the profiles it serves; a provider without a binding serves none.
    exec_provider_bindings: Mapping[str, ExecBinding] = field(default_factory=dict)
    # ClusterProfile label keys carried onto its SveltosCluster ("*": all, "prefix/*": a prefix).
    sveltos_cluster_labels: tuple[str, ...] = ()

    # Grants (docs/security.md): consumer namespace -> what it may do on workload clusters. None
    # (the key unset): every consumer gets the CAPI admin kubeconfig, as before grants existed.
    # Set (even empty): a consumer gets only what its entry grants, nothing without one.
    grants: Mapping[str, ConsumerGrants] | None = None
    # The namespace on each workload cluster that holds the consumers' ServiceAccounts.
    grant_service_account_namespace: str = "cluster-inventory-grants"
    # Per workload cluster call: a cluster that does not answer within it costs only its grants.
    grant_timeout_seconds: float = 10.0
    # With grants, feature E's published ClusterProfiles name the consumer's own token (the
    # ``secretreader`` access provider) and no longer the CAPI admin kubeconfig Secret (the
    # ``kubeconfig-secretreader`` one); True keeps that admin entry beside it (consumers with
    # ``admin: true`` read it). Without grants the admin entry is published as before.
    keep_admin_secret_reader: bool = False

    # Safety and migration (SPEC §4).
    max_deletions: int = 20
    allow_mass_deletion: bool = False
    adopt_existing: bool = False
    # How long the `up` that hands a feature to Sveltos waits for Sveltos (inventory/plan/handover.py).
    hand_over_timeout_seconds: int = 300

    # One fleet split across several stacks (inventory/plan/shards.py): this stack declares the
    # objects of shard shard_index of shard_count, chosen by shard_assignment.
    shard_count: int = 1
    shard_index: int = 0
    shard_assignment: ShardAssignment = ShardAssignment.RENDEZVOUS
    # The peak memory the stack's `pulumi` process may reach, estimated from the objects it
    # declares (inventory/stack/memory.py): over it, `up` stops and names a shardCount that fits.
    memory_budget_mib: int = 1536
    allow_over_memory_budget: bool = False

    # Event Framework mode (SPEC §3 C).
    events_name_prefix: str = "cluster-inventory"
    events_namespace: str = "projectsveltos"  # where the ConfigMap templates live
    management_cluster_selector: Mapping[str, str] = field(default_factory=lambda: {"type": "mgmt"})
    extra_event_sources: tuple[Mapping[str, Any], ...] = ()
    extra_event_triggers: tuple[Mapping[str, Any], ...] = ()
    extra_config_maps: tuple[Mapping[str, Any], ...] = ()
    extra_secrets: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def config_keys(cls) -> tuple[str, ...]:
        """The config keys, as declared in Pulumi.yaml."""
        return tuple(_config_key(f.name) for f in fields(cls))

    @staticmethod
    def is_string_key(key: str) -> bool:
        """True for keys whose raw config value is the string itself (others hold JSON)."""
        attr = _attr_of(key)
        return attr not in _TUPLE_OF_STR | _TUPLE_OF_OBJECTS | _BOOLS | _INTS | _ROUTES | _LABEL_MAPS | {
            "exec_timeout_seconds", "exec_namespace_budget_seconds", "exec_provider_bindings", "grants",
            "grant_timeout_seconds"}

    def receives_credentials(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether stack config routes credentials into this consumer namespace (named or selected)."""
        if ANY in self.consumer_namespaces or namespace in self.consumer_namespaces:
            return True
        selector = self.consumer_namespace_selector
        return bool(selector) and labels_match(selector, labels)

    def may_read_secret(self, profile_namespace: str, secret_namespace: str) -> bool:
        """Whether a ClusterProfile in ``profile_namespace`` may copy a Secret of ``secret_namespace``."""
        return secret_namespace == profile_namespace or _routed(self.secret_reader_routes, profile_namespace,
                                                                secret_namespace)

    def may_place(self, cluster_namespace: str, profile_namespace: str) -> bool:
        """Whether a CAPI Cluster of ``cluster_namespace`` may publish into ``profile_namespace``."""
        return profile_namespace == cluster_namespace or _routed(self.cluster_placement_routes, cluster_namespace,
                                                                 profile_namespace)

    def may_place_anywhere(self, cluster_namespace: str) -> bool:
        """Whether CAPI Clusters of ``cluster_namespace`` may publish into any namespace (a "*" route)."""
        return any(ANY in self.cluster_placement_routes.get(key, ()) for key in (cluster_namespace, ANY))

    def is_trusted_kubeconfig_source(self, secret_namespace: str) -> bool:
        """Whether Secrets of ``secret_namespace`` are the operator's, so may carry runnable credentials."""
        return ANY in self.trusted_kubeconfig_namespaces or secret_namespace in self.trusted_kubeconfig_namespaces

    def carries_sveltos_label(self, key: str) -> bool:
        """Whether a ClusterProfile label ``key`` is carried onto its SveltosCluster."""
        return label_key_allowed(key, self.sveltos_cluster_labels)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Settings:
        """Build settings from config keys; unknown keys and bad values raise SettingsError."""
        problems: list[str] = []
        by_key = {_config_key(f.name): f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            attr = by_key.get(key)
            if attr is None:
                close = difflib.get_close_matches(key, by_key, n=1)
                problems.append(f"unknown config key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
                continue
            try:
                values[attr] = _coerce(attr, value)
            except (TypeError, ValueError) as err:
                problems.append(f"{key}: {err}")
        if problems:
            raise SettingsError("\n".join(problems))
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        problems: list[str] = []
        for attr in (
            "cluster_profile_name_label",
            "cluster_profile_namespace_label",
            "cluster_set_label",
            "consumer_namespace_label",
            "capi_cluster_name_label",
            "profile_label",
            "profile_namespace_label",
            "display_name_annotation",
            "managed_by_label",
        ):
            value = getattr(self, attr)
            if not is_label_key(value):
                problems.append(f"{_config_key(attr)}: {value!r} is not a valid label key")
        for key in self.cluster_set_namespace_labels:
            if not is_label_key(key):
                problems.append(f"clusterSetNamespaceLabels: {key!r} is not a valid label key")
        if not self.cluster_set_namespace_labels:
            problems.append("clusterSetNamespaceLabels: at least one label key is needed")
        if self.exec_timeout_seconds <= 0:
            problems.append(f"execTimeoutSeconds: {self.exec_timeout_seconds!r} must be positive")
        elif self.exec_namespace_budget_seconds < self.exec_timeout_seconds:
            problems.append(f"execNamespaceBudgetSeconds: {self.exec_namespace_budget_seconds!r} must be at least "
                            f"execTimeoutSeconds ({self.exec_timeout_seconds!r}): a plugin starts only when its "
                            "whole time limit fits in its namespace's budget")
        if self.schedule_interval_minutes < 0:
            problems.append(f"scheduleIntervalMinutes: {self.schedule_interval_minutes!r} must be 0 or more")
        if self.hand_over_timeout_seconds < 1:
            problems.append(f"handOverTimeoutSeconds: {self.hand_over_timeout_seconds!r} must be 1 or more")
        if self.max_deletions < 0:
            problems.append(f"maxDeletions: {self.max_deletions!r} must be 0 or more")
        if self.memory_budget_mib < 1:
            problems.append(f"memoryBudgetMib: {self.memory_budget_mib!r} must be 1 or more")
        if self.shard_count < 1:
            problems.append(f"shardCount: {self.shard_count!r} must be 1 or more")
        elif not 0 <= self.shard_index < self.shard_count:
            problems.append(f"shardIndex: {self.shard_index!r} must be from 0 to shardCount - 1 ({self.shard_count - 1})")
        problems.extend(self._output_value_problems())
        problems.extend(self._consumer_shape_problems())
        problems.extend(self._trust_problems())
        problems.extend(self._grant_problems())
        for key, value in self.management_cluster_selector.items():
            if not is_label_key(key):
                problems.append(f"managementClusterSelector: {key!r} is not a valid label key")
            if not isinstance(value, str):
                problems.append(f"managementClusterSelector: value of {key!r} must be a string")
        if problems:
            raise SettingsError("\n".join(problems))

    def _output_value_problems(self) -> list[str]:
        """Values written into every planned object: caught here rather than by the API server."""
        problems = []
        if not self.managed_by_value or not is_label_value(self.managed_by_value):
            problems.append(f"managedByValue: {self.managed_by_value!r} is not a valid label value")
        for attr in ("push_secret_key", "sveltos_kubeconfig_key"):
            if not is_secret_data_key(getattr(self, attr)):
                problems.append(f"{_config_key(attr)}: {getattr(self, attr)!r} is not a valid Secret data key")
        problem = namespace_problem(self.default_profile_namespace)
        if problem is not None:
            problems.append(f"defaultProfileNamespace: {problem}")
        return problems


    @property
    def grants_enabled(self) -> bool:
        return self.grants is not None

    def consumer_grants(self, consumer_namespace: str) -> ConsumerGrants | None:
        """The consumer's entry of ``grants``; None without one (or without grants)."""
        return None if self.grants is None else self.grants.get(consumer_namespace)

    def _grant_problems(self) -> list[str]:
        problems = []
        problem = namespace_problem(self.grant_service_account_namespace)
        if problem is not None:
            problems.append(f"grantServiceAccountNamespace: {problem}")
        if self.grant_timeout_seconds <= 0:
            problems.append(f"grantTimeoutSeconds: {self.grant_timeout_seconds!r} must be positive")
        for consumer, entry in (self.grants or {}).items():
            problems.extend(_consumer_grant_problems(f"grants[{consumer!r}]", consumer, entry))
        return problems

    def _trust_problems(self) -> list[str]:
        """The routes of SPEC §9: namespaces and label keys that can exist, "*" where it means any."""
        problems = []
        namespace_lists: list[tuple[str, tuple[str, ...]]] = [
            ("consumerNamespaces", self.consumer_namespaces),
            ("trustedKubeconfigNamespaces", self.trusted_kubeconfig_namespaces),
        ]
        for key, routes in (("secretReaderRoutes", self.secret_reader_routes),
                            ("clusterPlacementRoutes", self.cluster_placement_routes)):
            namespace_lists.append((key, tuple(routes)))
            namespace_lists.extend((f"{key}[{origin!r}]", targets) for origin, targets in routes.items())
        for provider, binding in self.exec_provider_bindings.items():
            namespace_lists.append((f"execProviderBindings[{provider!r}].namespaces", binding.namespaces))
            problems.extend(_exec_binding_problems(f"execProviderBindings[{provider!r}]", binding))
        for key, namespaces in namespace_lists:
            for namespace in namespaces:
                problem = None if namespace == ANY else namespace_problem(namespace)
                if problem is not None:
                    problems.append(f"{key}: {problem} (or \"{ANY}\" for any namespace)")
        for label in self.consumer_namespace_selector:
            if not is_label_key(label):
                problems.append(f"consumerNamespaceSelector: {label!r} is not a valid label key")
        for pattern in self.sveltos_cluster_labels:
            if pattern != ANY and not is_label_key(pattern.removesuffix(ANY).rstrip("/") or "x"):
                problems.append(f"sveltosClusterLabels: {pattern!r} is not a label key, \"{ANY}\" or a prefix ending in \"{ANY}\"")
        return problems

    def _consumer_shape_problems(self) -> list[str]:
        """The push layout and the Argo CD feature's values (SPEC §3 D)."""
        problems = []
        if self.push_layout is PushLayout.MULTICLUSTER_RUNTIME and self.push_mode is Mode.EVENTS:
            problems.append(
                "pushLayout: multicluster-runtime needs pushMode direct (the Event Framework templates write "
                "seed 000's layout)"
            )
        if self.argocd_mode is Mode.EVENTS:
            problems.append("argocdMode: 'events' is not available for Argo CD cluster Secrets: choose direct or off")
        if self.cluster_profile_mode is Mode.EVENTS:
            problems.append(
                "clusterProfileMode: 'events' is not available: the Event Framework cannot write a ClusterProfile's "
                "status (ControlPlaneHealthy, accessProviders), which consumers need; choose direct or off")
        if not self.cluster_manager_name or not is_label_value(self.cluster_manager_name):
            problems.append(f"clusterManagerName: {self.cluster_manager_name!r} is not a valid label value "
                            "(1 to 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit)")
        for key in self.cluster_profile_labels:
            if not is_label_key(key):
                problems.append(f"clusterProfileLabels: {key!r} is not a valid label key")
        if self.argocd_mode is Mode.DIRECT and not self.argocd_sources:
            problems.append("argocdSources: at least one of clusters, profiles is needed when argocdMode is direct")
        problem = namespace_problem(self.argocd_namespace)
        if problem is not None:
            problems.append(f"argocdNamespace: {problem}")
        for attr in ("argocd_secret_name_template", "argocd_cluster_name_template"):
            problem = template_problem(getattr(self, attr))
            if problem is not None:
                problems.append(f"{_config_key(attr)}: {problem}")
        for key in self.argocd_labels:
            if not is_label_key(key):
                problems.append(f"argocdLabels: {key!r} is not a valid label key")
        for namespace in self.argocd_cluster_namespaces:
            problem = namespace_problem(namespace)
            if problem is not None:
                problems.append(f"argocdClusterNamespaces: {problem}")
        return problems


def _exec_binding_problems(key: str, binding: ExecBinding) -> list[str]:
    """A binding's labels, and profileEnv / profileArgs names that a profile could actually pass."""
    problems = [f"{key}.matchLabels: {label!r} is not a valid label key"
                for label in binding.match_labels if not is_label_key(label)]
    for name in binding.profile_env:
        refusal = profile_env_refusal(name)
        if not is_env_name(name):
            problems.append(f"{key}.profileEnv: {name!r} is not an environment variable name")
        elif refusal is not None:
            problems.append(f"{key}.profileEnv: {name} can never come from a ClusterProfile: {refusal}")
    for flag in binding.profile_args:
        if not is_flag_name(flag):
            problems.append(f"{key}.profileArgs: {flag!r} is not a flag name of the form --name "
                            "(a profile passes it as --name or --name=value)")
    return problems


def _consumer_grant_problems(key: str, consumer: str, entry: ConsumerGrants) -> list[str]:
    problems = []
    problem = namespace_problem(consumer)
    if problem is not None:
        problems.append(f"{key}: the consumer {problem}")
    if entry.admin and entry.access:
        problems.append(f"{key}: admin: true hands out the CAPI admin kubeconfig, which already allows everything; "
                        "drop access, or drop admin to grant only access")
    if not entry.admin and not entry.access:
        problems.append(f"{key}: grants nothing: give access entries, or admin: true to keep the admin kubeconfig")
    if entry.token_lifetime_seconds < MIN_TOKEN_LIFETIME_SECONDS:
        problems.append(f"{key}.tokenLifetimeSeconds: {entry.token_lifetime_seconds!r} must be at least "
                        f"{MIN_TOKEN_LIFETIME_SECONDS} (the API server's minimum for a TokenRequest)")
    for index, access in enumerate(entry.access):
        where = f"{key}.access[{index}]"
        if (access.cluster_role is None) == (not access.rules):
            problems.append(f"{where}: give exactly one of clusterRole (an existing ClusterRole to bind) and rules")
        if access.cluster_role is not None and not _DNS_SUBDOMAIN.fullmatch(access.cluster_role):
            problems.append(f"{where}.clusterRole: {access.cluster_role!r} is not a valid ClusterRole name")
        for number, rule in enumerate(access.rules):
            problems.extend(f"{where}.rules[{number}]: {problem}" for problem in policy_rule_problems(rule))
        for namespace in access.namespaces:
            problem = namespace_problem(namespace)
            if problem is not None:
                problems.append(f"{where}.namespaces: {problem}")
        problems.extend(f"{where}.clusterSelector: {label!r} is not a valid label key"
                        for label in access.cluster_selector if not is_label_key(label))
    return problems


_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.:]{0,251}[a-z0-9])?")
_RULE_LISTS = ("apiGroups", "resources", "resourceNames", "nonResourceURLs", "verbs")


def policy_rule_problems(rule: Mapping[str, Any]) -> list[str]:
    """Why ``rule`` is not an rbac.authorization.k8s.io/v1 PolicyRule the API server takes."""
    unknown = sorted(set(rule) - set(_RULE_LISTS))
    problems = [f"unknown field {', '.join(unknown)} (fields: {', '.join(_RULE_LISTS)})"] if unknown else []
    for name in _RULE_LISTS:
        value = rule.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            problems.append(f"{name}: expected a list of strings, got {value!r}")
    if not rule.get("verbs"):
        problems.append("verbs: at least one verb is needed")
    if not rule.get("resources") and not rule.get("nonResourceURLs"):
        problems.append("give resources (with apiGroups) or nonResourceURLs")
    return problems


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` hold every pair of ``selector`` (an empty selector matches everything)."""
    return all(labels.get(key) == value for key, value in selector.items())


def label_key_allowed(key: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``key`` is in the allow-list ``allowed``: a key, "*", or a prefix ending in "*"."""
    return any(pattern == key or (pattern.endswith(ANY) and key.startswith(pattern[:-1])) for pattern in allowed)


def _routed(routes: Mapping[str, tuple[str, ...]], origin: str, target: str) -> bool:
    for key in (origin, ANY):
        allowed = routes.get(key, ())
        if ANY in allowed or target in allowed:
            return True
    return False


def template_problem(template: str) -> str | None:
    """Why ``template`` cannot make names from a source object, or None."""
    import string

    try:
        fields_used = [field_name for _, field_name, _, _ in string.Formatter().parse(template) if field_name is not None]
    except ValueError as err:
        return f"{template!r} is not a valid template: {err}"
    unknown = sorted({name for name in fields_used if name not in ARGOCD_TEMPLATE_FIELDS})
    if unknown:
        return f"{template!r} uses {', '.join(unknown)}; the fields are {', '.join(ARGOCD_TEMPLATE_FIELDS)}"
    if not fields_used:
        return f"{template!r} uses no field, so every cluster would get the same name"
    return None


# The project name of Pulumi.yaml: a stack config file prefixes every key of this program with it.
CONFIG_NAMESPACE = "cluster-inventory"
# Encrypted values a stack file may hold that no file reader of this module needs: the
# kubeconfig says where the cluster is, never what the program may do there.
_SKIPPED_WHEN_ENCRYPTED = frozenset({"kubeconfig"})


def load_config_file(path: str) -> Settings:
    """Settings from a YAML mapping of config keys (those of ``Pulumi.yaml``, unprefixed)."""
    raw = _yaml_mapping(path, "config file")
    return Settings.from_mapping(raw)


def load_stack_file(path: str) -> Settings:
    """Settings from a stack config file (``stacks/Pulumi.<stack>.yaml``) as ``pulumi`` would hand them
    to the program: keys under ``config:`` prefixed ``cluster-inventory:``, plain values as written.

    An encrypted (``secure:``) value cannot be read without the stack's secrets provider: the
    kubeconfig is skipped, any other encrypted key is a SettingsError naming it.
    """
    document = _yaml_mapping(path, "stack config file")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise SettingsError(f"stack config file {path}: config: expected a mapping of keys, got {type(config).__name__}")
    raw: dict[str, Any] = {}
    problems = []
    prefix = f"{CONFIG_NAMESPACE}:"
    for qualified, value in config.items():
        if not str(qualified).startswith(prefix):
            continue  # another package's config (kubernetes:..., pulumi:...)
        key = str(qualified)[len(prefix):]
        if isinstance(value, dict) and set(value) == {"secure"}:
            if key not in _SKIPPED_WHEN_ENCRYPTED:
                problems.append(f"{key}: encrypted in {path}; give this command its value with --config FILE")
            continue
        raw[key] = _as_pulumi_passes(key, value)
    if problems:
        raise SettingsError("\n".join(problems))
    return Settings.from_mapping(raw)


def _yaml_mapping(path: str, what: str) -> dict[str, Any]:
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=StrictLoader)
    except OSError as err:
        raise SettingsError(f"{what} {path}: cannot be read: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise SettingsError(f"{what} {path}: not valid YAML: {describe_yaml_error(err)}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SettingsError(f"{what} {path}: expected a mapping of config keys, got {type(raw).__name__}")
    return raw


def _as_pulumi_passes(key: str, value: Any) -> Any:
    """A stack file's plain scalar as the program receives it: ``pulumi`` hands string keys their
    text (``managedByValue: 2024`` is the string "2024"; ``true`` is "true")."""
    if not Settings.is_string_key(key) or isinstance(value, (str, list, dict)) or value is None:
        return value
    return str(value).lower() if isinstance(value, bool) else str(value)


def _attr_of(key: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def _config_key(attr: str) -> str:
    head, *rest = attr.split("_")
    return head + "".join(part.capitalize() for part in rest)


_ROUTES = {"secret_reader_routes", "cluster_placement_routes"}
_LABEL_MAPS = {"management_cluster_selector", "consumer_namespace_selector"}
_MODE_FIELDS = {"push_mode", "sveltos_mode", "argocd_mode", "cluster_profile_mode"}
_TUPLE_OF_STR = {"capi_namespaces", "profile_namespaces", "cluster_set_namespace_labels", "argocd_labels",
                 "argocd_cluster_namespaces", "argocd_sources", "cluster_profile_labels",
                 "consumer_namespaces", "trusted_kubeconfig_namespaces", "sveltos_cluster_labels"}
_TUPLE_OF_OBJECTS = {"extra_event_sources", "extra_event_triggers", "extra_config_maps", "extra_secrets"}
_BOOLS = {"allow_mass_deletion", "adopt_existing", "argocd_cluster_resources", "cluster_profile_all_clusters",
          "require_healthy_control_plane", "allow_over_memory_budget", "keep_admin_secret_reader"}
_INTS = {"schedule_interval_minutes", "max_deletions", "shard_count", "shard_index", "hand_over_timeout_seconds",
         "memory_budget_mib"}


def _coerce(attr: str, value: Any) -> Any:
    """Turn a config value (Pulumi config gives strings or parsed JSON) into the field's type."""
    if attr in _MODE_FIELDS:
        return _coerce_mode(value)
    if attr == "push_layout":
        return _coerce_choice(PushLayout, value)
    if attr == "shard_assignment":
        return _coerce_choice(ShardAssignment, value)
    if attr in _TUPLE_OF_STR:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of strings, got {value!r}")
        if attr == "argocd_sources":
            return tuple(dict.fromkeys(_coerce_choice(ArgoCDSource, v) for v in value))
        return tuple(value)
    if attr in _TUPLE_OF_OBJECTS:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ValueError("expected a list of objects")
        return tuple(value)
    if attr in _BOOLS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"expected true or false, got {value!r}")
    if attr in _INTS:
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        return int(value)
    if attr in ("exec_timeout_seconds", "exec_namespace_budget_seconds"):
        if isinstance(value, bool):
            raise ValueError(f"expected a number of seconds, got {value!r}")
        return float(value)
    if attr in _LABEL_MAPS:
        if not isinstance(value, dict):
            raise ValueError(f"expected a map of label key to value, got {value!r}")
        return dict(value)
    if attr in _ROUTES:
        return _coerce_routes(value)
    if attr == "exec_provider_bindings":
        return _coerce_bindings(value)
    if attr == "grants":
        return _coerce_grants(value)
    if attr == "grant_timeout_seconds":
        if isinstance(value, bool):
            raise ValueError(f"expected a number of seconds, got {value!r}")
        return float(value)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _string_list(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what}: expected a list of strings, got {value!r}")
    return tuple(value)


def _coerce_routes(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise TypeError(f'expected a map of namespace to a list of namespaces (e.g. {{"team-a": ["capi-team-a"]}}), '
                         f"got {value!r}")
    return {str(origin): _string_list(targets, f"{origin!r}") for origin, targets in value.items()}


_BINDING_FIELDS = {"namespaces": "namespaces", "matchLabels": "match_labels", "profileEnv": "profile_env",
                   "profileArgs": "profile_args"}


def _coerce_bindings(value: Any) -> dict[str, ExecBinding]:
    if not isinstance(value, dict):
        raise TypeError(f'expected a map of provider name to a binding (e.g. {{"my-provider": {{"namespaces": '
                         f'["fleet"]}}}}), got {value!r}')
    bindings = {}
    for provider, raw in value.items():
        if not isinstance(raw, dict):
            raise TypeError(f"{provider!r}: expected an object with {', '.join(_BINDING_FIELDS)}, got {raw!r}")
        unknown = sorted(set(raw) - set(_BINDING_FIELDS))
        if unknown:
            raise ValueError(f"{provider!r}: unknown field {', '.join(unknown)} (fields: {', '.join(_BINDING_FIELDS)})")
        args: dict[str, Any] = {}
        for key, attr in _BINDING_FIELDS.items():
            if key not in raw:
                continue
            if key == "matchLabels":
                if not isinstance(raw[key], dict) or not all(isinstance(v, str) for v in raw[key].values()):
                    raise ValueError(f"{provider!r}: matchLabels must map label keys to strings, got {raw[key]!r}")
                args[attr] = dict(raw[key])
            else:
                args[attr] = _string_list(raw[key], f"{provider!r}: {key}")
        bindings[str(provider)] = ExecBinding(**args)
    return bindings


_CONSUMER_GRANT_FIELDS = ("admin", "access", "tokenLifetimeSeconds")
_ACCESS_FIELDS = ("clusterRole", "rules", "namespaces", "clusterSelector")


def _coerce_grants(value: Any) -> dict[str, ConsumerGrants]:
    if not isinstance(value, dict):
        raise TypeError('expected a map of consumer namespace to its grants (e.g. {"team-a": {"access": '
                        f'[{{"clusterRole": "view"}}]}}}}), got {value!r}')
    return {str(consumer): _coerce_consumer_grants(str(consumer), raw) for consumer, raw in value.items()}


def _known_fields_object(where: str, raw: Any, fields: Sequence[str]) -> dict[str, Any]:
    """``raw`` when it is an object of only ``fields``; else the error that says which."""
    if not isinstance(raw, dict):
        raise TypeError(f"{where}: expected an object with {', '.join(fields)}, got {raw!r}")
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown field {', '.join(unknown)} (fields: {', '.join(fields)})")
    return raw


def _coerce_consumer_grants(consumer: str, raw: Any) -> ConsumerGrants:
    raw = _known_fields_object(repr(consumer), raw, _CONSUMER_GRANT_FIELDS)
    admin = raw.get("admin", False)
    if not isinstance(admin, bool):
        raise TypeError(f"{consumer!r}: admin: expected true or false, got {admin!r}")
    lifetime = raw.get("tokenLifetimeSeconds", DEFAULT_TOKEN_LIFETIME_SECONDS)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int):
        raise TypeError(f"{consumer!r}: tokenLifetimeSeconds: expected a whole number of seconds, got {lifetime!r}")
    access = raw.get("access", [])
    if not isinstance(access, list):
        raise TypeError(f"{consumer!r}: access: expected a list of objects, got {access!r}")
    return ConsumerGrants(admin, tuple(_coerce_access(f"{consumer!r}: access[{i}]", entry)
                                       for i, entry in enumerate(access)), lifetime)


def _coerce_access(where: str, raw: Any) -> GrantAccess:
    raw = _known_fields_object(where, raw, _ACCESS_FIELDS)
    role = raw.get("clusterRole")
    if role is not None and not isinstance(role, str):
        raise ValueError(f"{where}: clusterRole: expected a string, got {role!r}")
    rules = raw.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        raise ValueError(f"{where}: rules: expected a list of PolicyRule objects, got {rules!r}")
    selector = raw.get("clusterSelector", {})
    if not isinstance(selector, dict) or not all(isinstance(v, str) for v in selector.values()):
        raise ValueError(f"{where}: clusterSelector: expected a map of label key to value, got {selector!r}")
    return GrantAccess(role, tuple(dict(rule) for rule in rules),
                       _string_list(raw.get("namespaces", []), f"{where}: namespaces"), dict(selector))


def _coerce_choice(choices: type[enum.Enum], value: Any) -> Any:
    try:
        return choices(value)
    except ValueError:
        raise ValueError(f"{value!r} is not one of {', '.join(c.value for c in choices)}") from None


def _coerce_mode(value: Any) -> Mode:
    choices = ", ".join(m.value for m in Mode)
    if isinstance(value, list):
        if len(value) > 1:
            raise ValueError(
                f"{value!r} names several modes; one feature can have only one writer "
                f"(direct and events would fight over the same Secrets): choose one of {choices}"
            )
        value = value[0] if value else Mode.OFF.value
    if isinstance(value, str) and value.lower() in ("both", "direct+events", "direct,events", "events,direct"):
        raise ValueError(
            f"{value!r}: one feature can have only one writer "
            f"(direct and events would fight over the same Secrets): choose one of {choices}"
        )
    try:
        return Mode(value)
    except ValueError:
        raise ValueError(f"{value!r} is not one of {choices}") from None
