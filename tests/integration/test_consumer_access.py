"""Issue 17 item 5 (a) and (b): published ClusterProfiles read by real consumer code.

(a) cluster-inventory-api's own ``pkg/access`` library, with its ``kubeconfig-secretreader`` exec
plugin, both built from the module version tools/versions.env pins (tools/go/clusterprofile-consumer,
built by tools/build-go-helper.sh), reads a ClusterProfile from the local API server, builds a
rest.Config from its ``status.accessProviders`` and a provider file, and makes authenticated
requests with it (GET /version, SelfSubjectReview). The cluster behind every profile is the local
API server itself; the identity it reports says which Secret the plugin read.

(b) multicluster-runtime's cluster-inventory-api provider cannot be built here (the module proxy
refuses its module, docs/consumer-shapes.md). Its contract as written in its source
(providers/cluster-inventory-api/provider.go, v0.24.1): a profile is engaged when its default
IsReady holds (``ControlPlaneHealthy`` present and True) and its access-provider strategy, which is
``access.Config.BuildConfigFromCP``, gives a working rest.Config. The consumer's ``engage`` mode
applies that rule, implemented in this project (tools/go/clusterprofile-consumer/main.go), with the
real pkg/access and plugin; the test checks which profiles are engaged, which wait, which fail.

Here ``publish_profile`` writes each profile by hand, in the shape feature E publishes (spec, then
status through the status subresource by server-side apply), so that it can also write shapes E
never publishes (no namespace in the extension, another access provider, no CA, a missing or
forbidden Secret) and pin down how the consumer treats each. The same consumer reading profiles
that a real ``pulumi up`` with feature E published is test_cluster_manager_consumers.py.

The consumer runs as its own ServiceAccount, with only the Roles docs/consumer-shapes.md lists, so
every success also proves that RBAC is enough. Nothing the consumer prints may contain a credential.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.consumers import (
    CAPI_KUBECONFIG_KEY,
    PROFILE_READER_RULES,
    SECRET_READER,
    Run,
    build,
    grant,
    kubeconfig,
    provider_file,
    run_consumer,
    service_account_token,
)
from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import PROFILES, Inventory

APPLY = "application/apply-patch+yaml"
# The hand-written profiles' field manager and cluster manager (feature E's real ones are in
# test_cluster_manager_consumers.py, which publishes with `pulumi up`).
FIELD_MANAGER = "cluster-inventory"
CLUSTER_MANAGER = "cluster-inventory-test"
EXEC_EXTENSION = "client.authentication.k8s.io/exec"
CONDITION = "ControlPlaneHealthy"


@dataclass(frozen=True)
class SecretRef:
    """The Secret a kubeconfig-secretreader access provider names (its exec extension's fields)."""

    name: str
    key: str
    namespace: str | None = None

    def extension(self) -> dict[str, str]:
        named = {"name": self.name, "key": self.key}
        if self.namespace is not None:
            named["namespace"] = self.namespace
        return named


def publish_profile(custom: client.CustomObjectsApi, namespace: str, name: str, *, server: str, ca_data: str | None,
                    secret: SecretRef, healthy: bool | None, kubernetes_version: str,
                    provider_name: str = SECRET_READER, cluster_fields: dict[str, Any] | None = None) -> None:
    """Write ClusterProfile namespace/name as feature E publishes it (issue 17, item 2).

    Spec and label name the cluster manager; the status goes through the status subresource by
    server-side apply under E's field manager: ``ControlPlaneHealthy`` (True/False, or no condition
    when ``healthy`` is None), ``version.kubernetes``, and one access provider with the cluster's
    server and CA whose ``client.authentication.k8s.io/exec`` extension names the credentials
    Secret; ``cluster_fields`` adds other kubeconfig cluster fields the CAPI kubeconfig may hold.
    To be replaced by a real ``pulumi up`` with feature E on.
    """
    group, version, plural = PROFILES
    identity = {"apiVersion": f"{group}/{version}", "kind": "ClusterProfile"}
    custom.patch_namespaced_custom_object(group, version, namespace, plural, name, {
        **identity,
        "metadata": {"name": name, "namespace": namespace, "labels": {"x-k8s.io/cluster-manager": CLUSTER_MANAGER}},
        "spec": {"displayName": name, "clusterManager": {"name": CLUSTER_MANAGER}},
    }, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY)
    conditions = [] if healthy is None else [{
        "type": CONDITION, "status": "True" if healthy else "False",
        "reason": "ControlPlaneAvailable" if healthy else "ControlPlaneNotAvailable",
        "message": "" if healthy else "control plane not available",
        "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }]
    custom.patch_namespaced_custom_object_status(group, version, namespace, plural, name, {
        **identity,
        "metadata": {"name": name, "namespace": namespace},
        "status": {
            "conditions": conditions,
            "version": {"kubernetes": kubernetes_version},
            "accessProviders": [{"name": provider_name, "cluster": {
                "server": server, **({"certificate-authority-data": ca_data} if ca_data else {}),
                **(cluster_fields or {}),
                "extensions": [{"name": EXEC_EXTENSION, "extension": secret.extension()}],
            }}],
        },
    }, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY)


def set_condition_status(custom: client.CustomObjectsApi, namespace: str, name: str, status: str) -> None:
    """Another writer's ControlPlaneHealthy (used for Unknown, which E never writes itself)."""
    group, version, plural = PROFILES
    custom.patch_namespaced_custom_object_status(group, version, namespace, plural, name, {
        "apiVersion": f"{group}/{version}", "kind": "ClusterProfile",
        "metadata": {"name": name, "namespace": namespace},
        "status": {"conditions": [{"type": CONDITION, "status": status, "reason": "Probing", "message": "",
                                   "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}]},
    }, field_manager="another-writer", force=True, _content_type=APPLY)


@dataclass
class World:
    names: dict[str, str]
    server: str
    ca_data: str
    server_version: str
    consumer: Path
    plugin: Path
    providers: Path
    consumer_kubeconfig: Path
    consumer_token: str
    tmp: Path
    users: dict[str, str]  # identity -> the username the API server authenticates it as
    secrets: list[str] = field(default_factory=list)  # credential strings no output may contain

    def consume(self, mode: str, *args: str, kubeconfig_file: Path | None = None,
                providers: Path | None = None) -> Run:
        """Run the consumer as the consumer's ServiceAccount; the plugin inherits KUBECONFIG."""
        return run_consumer(self.consumer, mode, providers or self.providers,
                            kubeconfig_file or self.consumer_kubeconfig, self.tmp, self.secrets, *args)

    def access(self, profile: str, **kwargs: Any) -> Run:
        return self.consume("access", "-namespace", self.names["fleet"], "-name", profile, **kwargs)


# The profiles of the fleet namespace: (healthy, Secret it names, access provider name). "capi" and
# "consumer" stand for the namespaces of the same names in World.names; None names no namespace.
PROFILE_CASES: dict[str, tuple[bool | None, tuple[str, str | None], str]] = {
    "named": (True, ("alpha-kubeconfig", "capi"), SECRET_READER),
    "unnamed": (True, ("alpha-kubeconfig", None), SECRET_READER),
    "no-condition": (None, ("alpha-kubeconfig", "capi"), SECRET_READER),
    "unhealthy": (False, ("alpha-kubeconfig", "capi"), SECRET_READER),
    "unknown": (True, ("alpha-kubeconfig", "capi"), SECRET_READER),  # then set Unknown by another writer
    "missing-secret": (True, ("absent-kubeconfig", "consumer"), SECRET_READER),
    "not-readable": (True, ("fleet-kubeconfig", "fleet"), SECRET_READER),
    "other-provider": (True, ("alpha-kubeconfig", "capi"), "some-exec-plugin"),
}


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    consumer, plugin = build("clusterprofile-consumer"), build("kubeconfig-secretreader")
    run_id = uuid.uuid4().hex[:6]
    names = {"capi": f"capi-{run_id}", "fleet": f"fleet-{run_id}", "consumer": f"consumer-{run_id}"}
    inventory = Inventory(control_plane.api)
    for namespace in names.values():
        inventory.namespace(namespace)
    core, rbac = inventory.core, client.RbacAuthorizationV1Api(control_plane.api)
    custom = client.CustomObjectsApi(control_plane.api)

    admin = json.loads(control_plane.kubeconfig.read_text())["clusters"][0]["cluster"]
    server, ca_data = admin["server"], admin["certificate-authority-data"]
    server_version = str(client.VersionApi(control_plane.api).get_code().git_version)

    # Three identities behind the profiles, each with the kubeconfig Secret a profile may name:
    # the CAPI cluster's own (in the CAPI namespace), a copy in the consumer's namespace, and one
    # in the profiles' namespace that the consumer may not read.
    tokens = {
        "capi": service_account_token(core, names["capi"], "cluster-admin"),
        "consumer": service_account_token(core, names["consumer"], "local-copy"),
        "fleet": service_account_token(core, names["fleet"], "fleet-copy"),
    }
    inventory.secret(names["capi"], "alpha-kubeconfig", {CAPI_KUBECONFIG_KEY: kubeconfig(server, ca_data, tokens["capi"])},
                     type_="cluster.x-k8s.io/secret")
    inventory.secret(names["consumer"], "alpha-kubeconfig",
                     {CAPI_KUBECONFIG_KEY: kubeconfig(server, ca_data, tokens["consumer"])})
    inventory.secret(names["fleet"], "fleet-kubeconfig", {CAPI_KUBECONFIG_KEY: kubeconfig(server, ca_data, tokens["fleet"])})

    # The consumer: a ServiceAccount in its own namespace with exactly the Roles a
    # pkg/access + kubeconfig-secretreader consumer needs (docs/consumer-shapes.md).
    consumer_sa = (names["consumer"], "consumer")
    tokens["consumer-sa"] = service_account_token(core, *consumer_sa)
    grant(rbac, names["fleet"], consumer_sa, "read-clusterprofiles", PROFILE_READER_RULES)
    grant(rbac, names["capi"], consumer_sa, "read-kubeconfig",
          [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["alpha-kubeconfig"], "verbs": ["get"]}])
    grant(rbac, names["consumer"], consumer_sa, "read-kubeconfig",
          [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])

    for name, (healthy, (secret_name, secret_ns), provider_name) in PROFILE_CASES.items():
        publish_profile(custom, names["fleet"], name, server=server, ca_data=ca_data,
                        secret=SecretRef(secret_name, CAPI_KUBECONFIG_KEY, names[secret_ns] if secret_ns else None),
                        healthy=healthy, kubernetes_version=server_version, provider_name=provider_name)
    set_condition_status(custom, names["fleet"], "unknown", "Unknown")
    # A CAPI kubeconfig that skips TLS verification instead of carrying a CA.
    publish_profile(custom, names["fleet"], "insecure", server=server, ca_data=None,
                    secret=SecretRef("alpha-kubeconfig", CAPI_KUBECONFIG_KEY, names["capi"]), healthy=True,
                    kubernetes_version=server_version, cluster_fields={"insecure-skip-tls-verify": True})

    tmp = tmp_path_factory.mktemp("consumer-access")
    consumer_kubeconfig = tmp / "consumer.kubeconfig"
    consumer_kubeconfig.write_text(kubeconfig(server, ca_data, tokens["consumer-sa"], names["consumer"]))
    users = {"capi": f"system:serviceaccount:{names['capi']}:cluster-admin",
             "consumer": f"system:serviceaccount:{names['consumer']}:local-copy"}
    secrets = [*tokens.values(), base64.b64decode(json.loads(control_plane.kubeconfig.read_text())
                                                  ["users"][0]["user"]["client-key-data"]).decode()]
    yield World(names, server, ca_data, server_version, consumer, plugin, provider_file(tmp / "providers.json", plugin),
                consumer_kubeconfig, tokens["consumer-sa"], tmp, users, secrets)
    for namespace in names.values():
        control_plane.delete_namespace(namespace)


def test_a_named_secret_namespace_is_read_there(world: World) -> None:
    run = world.access("named")
    assert run.returncode == 0, run.stderr
    reached = run.output["reached"]
    assert reached["user"]["username"] == world.users["capi"]
    assert reached["server"] == world.server
    assert reached["serverVersion"] == world.server_version == run.output["kubernetesVersion"]
    assert reached["execCommand"] == str(world.plugin)
    assert reached["execClusterConfig"] == {"name": "alpha-kubeconfig", "key": CAPI_KUBECONFIG_KEY,
                                            "namespace": world.names["capi"]}
    assert run.output["accessProviders"] == [SECRET_READER]


def test_without_a_namespace_the_plugin_reads_the_consumers_own_namespace(world: World) -> None:
    """v0.1.3's plugin, with no namespace in the extension, reads the Secret of that name in the
    namespace of its kubeconfig's current context (the consumer's), not the profile's."""
    run = world.access("unnamed")
    assert run.returncode == 0, run.stderr
    assert run.output["reached"]["user"]["username"] == world.users["consumer"]
    assert run.output["reached"]["execClusterConfig"] == {"name": "alpha-kubeconfig", "key": CAPI_KUBECONFIG_KEY}


def test_without_any_namespace_the_plugin_falls_back_to_default(world: World) -> None:
    """Outside a Pod, a kubeconfig context without a namespace leaves the plugin on "default"."""
    bare = world.tmp / "no-namespace.kubeconfig"
    bare.write_text(kubeconfig(world.server, world.ca_data, world.consumer_token))
    run = world.access("unnamed", kubeconfig_file=bare)
    assert run.returncode == 1
    assert "failed to get secret default/alpha-kubeconfig" in run.stderr


def test_a_missing_secret_is_a_clear_error(world: World) -> None:
    run = world.access("missing-secret")
    assert run.returncode == 1
    assert run.output["step"] == "get-version"
    assert "getting credentials" in run.output["error"] and "reached" not in run.output
    assert (f'[{SECRET_READER}] failed to get secret {world.names["consumer"]}/absent-kubeconfig: '
            f'secrets "absent-kubeconfig" not found') in run.stderr


def test_a_secret_the_consumer_may_not_read_is_a_clear_error(world: World) -> None:
    run = world.access("not-readable")
    assert run.returncode == 1
    assert f'failed to get secret {world.names["fleet"]}/fleet-kubeconfig' in run.stderr
    assert "forbidden" in run.stderr


def test_the_plugin_needs_provide_cluster_info(world: World) -> None:
    providers = provider_file(world.tmp / "no-cluster-info.json", world.plugin, provide_cluster_info=False)
    run = world.access("named", providers=providers)
    assert run.returncode == 1
    assert ("failed to read KUBERNETES_EXEC_INFO: ExecCredential does not contain cluster information"
            in run.stderr)


def test_pkg_access_drops_insecure_skip_tls_verify(world: World) -> None:
    """v0.1.3's BuildConfigFromCP keeps only server, CA data and proxy-url of the profile's cluster:
    a profile relying on insecure-skip-tls-verify fails TLS verification."""
    run = world.access("insecure")
    assert run.returncode == 1
    assert run.output["step"] == "get-version"
    assert "x509: certificate signed by unknown authority" in run.output["error"]


def test_pkg_access_itself_does_not_check_readiness(world: World) -> None:
    """A profile with no ControlPlaneHealthy condition: the library builds a working config;
    waiting for health is the consumer's rule (multicluster-runtime's, below)."""
    run = world.access("no-condition")
    assert run.returncode == 0, run.stderr
    assert run.output["reached"]["user"]["username"] == world.users["capi"]


def test_multicluster_runtime_contract_engages_exactly_the_healthy_usable_profiles(world: World) -> None:
    run = world.consume("engage", "-namespace", world.names["fleet"])
    assert run.returncode == 0, run.stderr
    fleet = world.names["fleet"]
    clusters = {c["cluster"].removeprefix(f"{fleet}/"): c for c in run.output["clusters"]}
    assert set(clusters) == {*PROFILE_CASES, "insecure"}
    assert run.output["readinessRule"] == f"condition {CONDITION} present with status True"
    assert run.output["engaged"] == [f"{fleet}/named", f"{fleet}/unnamed"]
    assert run.output["waiting"] == [f"{fleet}/no-condition", f"{fleet}/unhealthy", f"{fleet}/unknown"]
    assert run.output["failed"] == [f"{fleet}/insecure", f"{fleet}/missing-secret", f"{fleet}/not-readable",
                                    f"{fleet}/other-provider"]
    assert all(c["accessProviders"] and c["kubernetesVersion"] == world.server_version for c in clusters.values())
    assert clusters["no-condition"]["waitReason"] == f"no {CONDITION} condition"
    assert clusters["unhealthy"]["waitReason"] == f'{CONDITION} is False (reason "ControlPlaneNotAvailable")'
    assert clusters["unknown"]["waitReason"] == f'{CONDITION} is Unknown (reason "Probing")'
    assert clusters["other-provider"]["step"] == "build-config"
    assert "no matching cluster accessor found" in clusters["other-provider"]["error"]
    assert clusters["named"]["reached"]["user"]["username"] == world.users["capi"]
    assert clusters["unnamed"]["reached"]["user"]["username"] == world.users["consumer"]
    # The plugin's reason is on stderr (a controller's log), under the profile it is about.
    assert (f"engaging {fleet}/missing-secret\n[{SECRET_READER}] failed to get secret "
            f'{world.names["consumer"]}/absent-kubeconfig: secrets "absent-kubeconfig" not found') in run.stderr


def test_a_rebuilt_config_is_never_deep_equal(world: World) -> None:
    """multicluster-runtime v0.24.1 keeps an engaged cluster only while reflect.DeepEqual finds its
    rebuilt rest.Config unchanged; pkg/access's config holds a Proxy func, which DeepEqual never
    finds equal, so every reconcile of an engaged profile (any update to it) re-engages it."""
    run = world.access("named")
    assert run.output["configDeepEqualOnRebuild"] is False
