"""Feature E with grants, end to end (docs/security.md, "Grants"; docs/cluster-manager.md): a real
``pulumi up`` (CLI, the project's provider, the management API server, two workload API servers of
the test bed) publishes ClusterProfiles whose access provider is cluster-inventory-api's
``secretreader``, and a consumer's own code uses them.

Two CAPI namespaces each publish a profile of the same name, on different workload clusters: the
``clusterName`` of their ``secretreader`` entries (``<profile namespace>.<profile name>``) keeps
their token Secrets apart in the consumer's one namespace.

The consumer is cluster-inventory-api v0.1.3's ``pkg/access`` (tools/go/clusterprofile-consumer
``access``) with the ``secretreader`` plugin, both built from the pinned module. It runs as a
ServiceAccount of the consumer namespace that may only ``get`` Secrets there and read the
ClusterProfiles, with a kubeconfig whose context namespace is its own (where the plugin looks). It
builds a rest.Config from each published profile and is authenticated on the workload cluster as
its own grant's ServiceAccount, allowed what its grant allows and nothing else. A consumer
namespace without a grant entry finds no token. No token appears in the CLI's output, the stack's
outputs or state, or the consumer's output. The steps share one stack and run in file order.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration.consumers import (
    PROFILE_READER_RULES,
    SECRET_READER,
    TOKEN_READER,
    Run,
    build,
    grant,
    kubeconfig,
    provider_file,
    run_consumer,
    service_account_token,
)
from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import PROFILES
from tests.integration.project import ProjectStack
from tests.integration.workloads import WorkloadServer, register_capi_cluster

CONSUMER_LABEL = "x-k8s.io/cluster-inventory-consumer"
GRANT_NAMESPACE = "cluster-inventory-grants"
CONFIGMAPS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
# What the consumer asks its identity on each workload cluster (clusterprofile-consumer -can).
GRANTED = ("get::configmaps:default", "list::configmaps:kube-system")
NOT_GRANTED = ("delete::configmaps:default", "get::secrets:default", "create:batch:jobs:default")
TOKEN_SECRET_READER_RULES = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]


@dataclass
class World:
    stack: ProjectStack
    core: client.CoreV1Api
    custom: client.CustomObjectsApi
    team: str  # the consumer namespace with a grant
    other: str  # a consumer namespace without one
    profile: str  # the one profile name both CAPI namespaces publish
    workloads: dict[str, WorkloadServer]  # profile (= CAPI) namespace -> its workload cluster
    consumer: Path
    providers: Path
    kubeconfigs: dict[str, Path]  # consumer namespace -> its ServiceAccount's kubeconfig
    tmp: Path
    secrets: list[str]  # credentials of the test itself: none may be printed or stored
    seen: set[str]  # every token read from a token Secret: none may be printed or stored

    def published(self, namespace: str) -> dict[str, Any]:
        group, version, plural = PROFILES
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(group, version, namespace, plural,
                                                                          self.profile)
        return found

    def token_secret(self, consumer: str, namespace: str) -> client.V1Secret | None:
        try:
            found: client.V1Secret = self.core.read_namespaced_secret(f"{namespace}.{self.profile}", consumer)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return found

    def tokens(self) -> list[str]:
        found = []
        for namespace in self.workloads:
            secret = self.token_secret(self.team, namespace)
            assert secret is not None and secret.data and secret.data.get("token"), f"no token for {namespace}"
            found.append(base64.b64decode(secret.data["token"]).decode())
        self.seen.update(found)
        return found

    def consume(self, consumer: str, namespace: str, *asked: str) -> Run:
        can = [arg for question in asked for arg in ("-can", question)]
        printable = [*self.secrets, *self.seen]
        if consumer == self.team:
            printable.extend(self.tokens())
        return run_consumer(self.consumer, "access", self.providers, self.kubeconfigs[consumer], self.tmp,
                            printable, "-namespace", namespace, "-name", self.profile, *can)


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, workloads: list[WorkloadServer],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    consumer, plugin = build("clusterprofile-consumer"), build(TOKEN_READER)
    run_id = uuid.uuid4().hex[:6]
    core, rbac = client.CoreV1Api(control_plane.api), client.RbacAuthorizationV1Api(control_plane.api)
    capi_a, capi_b, team, other = f"capi-a-{run_id}", f"capi-b-{run_id}", f"team-{run_id}", f"other-{run_id}"
    for name, labels in ((capi_a, {}), (capi_b, {}), (team, {CONSUMER_LABEL: "true"}),
                         (other, {CONSUMER_LABEL: "true"})):
        core.create_namespace({"metadata": {"name": name, "labels": labels}})
    profile = f"prod-{run_id}"
    one, two = workloads
    for namespace, workload in ((capi_a, one), (capi_b, two)):
        register_capi_cluster(control_plane.api, namespace, profile, workload,
                              labels={"clusterprofile-name": profile, "clusterprofile-namespace": namespace})

    admin = json.loads(control_plane.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]["server"]
    ca_data = admin["clusters"][0]["cluster"]["certificate-authority-data"]
    tmp = tmp_path_factory.mktemp("cluster-manager-grants")
    secrets = [base64.b64decode(admin["users"][0]["user"]["client-key-data"]).decode()]
    kubeconfigs = {}
    for namespace in (team, other):
        # The consumer's whole RBAC: get Secrets in its own namespace, read the ClusterProfiles.
        subject = (namespace, "reader")
        token = service_account_token(core, *subject)
        secrets.append(token)
        grant(rbac, namespace, subject, "read-own-token-secrets", TOKEN_SECRET_READER_RULES)
        for profile_namespace in (capi_a, capi_b):
            grant(rbac, profile_namespace, subject, f"read-clusterprofiles-{namespace}", PROFILE_READER_RULES)
        kubeconfigs[namespace] = tmp / f"{namespace}.kubeconfig"
        kubeconfigs[namespace].write_text(kubeconfig(server, ca_data, token, namespace))

    stack = ProjectStack(tmp / "project", routes={})
    stack.configure(capiNamespaces=[capi_a, capi_b], profileNamespaces=[capi_a, capi_b], pushMode="off",
                    sveltosMode="off", clusterProfileMode="direct", clusterManagerName=f"capi-mgmt-{run_id}",
                    consumerNamespaces=[team, other], managedByValue=f"ci-{run_id}", eventsNamePrefix=f"ci-{run_id}",
                    scheduleIntervalMinutes=30,
                    grants={team: {"tokenLifetimeSeconds": 3600, "access": [{"rules": [CONFIGMAPS]}]}})
    stack.configure_secret("kubeconfig", control_plane.kubeconfig.read_text())
    world = World(stack, core, client.CustomObjectsApi(control_plane.api), team, other, profile,
                  {capi_a: one, capi_b: two}, consumer,
                  provider_file(tmp / "providers.json", plugin, name=TOKEN_READER), kubeconfigs, tmp, secrets, set())
    yield world
    stack.destroy()
    for name in (capi_a, capi_b, team, other):
        control_plane.delete_namespace(name)


def test_up_publishes_each_profile_with_the_secretreader_provider_alone(world: World) -> None:
    world.stack.up()
    for namespace, workload in world.workloads.items():
        (provider,) = world.published(namespace)["status"]["accessProviders"]
        assert provider["name"] == TOKEN_READER
        assert provider["cluster"]["server"] == workload.server
        assert base64.b64decode(provider["cluster"]["certificate-authority-data"]).decode() == workload.ca_pem
        assert provider["cluster"]["extensions"] == [{"name": "client.authentication.k8s.io/exec",
                                                      "extension": {"clusterName": f"{namespace}.{world.profile}"}}]


def test_the_granted_consumer_gets_one_token_secret_per_profile_and_the_other_none(world: World) -> None:
    for namespace in world.workloads:
        secret = world.token_secret(world.team, namespace)
        assert secret is not None and set(secret.data) == {"token"}
        assert secret.metadata.labels["grants.cluster-inventory.x-k8s.io/consumer"] == world.team
        assert world.token_secret(world.other, namespace) is None
    first, second = world.tokens()
    assert first != second  # one identity per workload cluster, though both profiles share a name


def test_pkg_access_with_the_secretreader_plugin_reaches_each_workload_cluster_as_its_grant(world: World) -> None:
    for namespace, workload in world.workloads.items():
        run = world.consume(world.team, namespace, *GRANTED, *NOT_GRANTED)
        assert run.returncode == 0, run.stderr
        reached = run.output["reached"]
        assert reached["server"] == workload.server
        assert reached["execClusterConfig"] == {"clusterName": f"{namespace}.{world.profile}"}
        assert reached["user"]["username"] == f"system:serviceaccount:{GRANT_NAMESPACE}:{world.team}"
        assert reached["allowed"] == {**dict.fromkeys(GRANTED, True), **dict.fromkeys(NOT_GRANTED, False)}


def test_a_consumer_namespace_without_a_grant_finds_no_token_to_use(world: World) -> None:
    for namespace in world.workloads:
        run = world.consume(world.other, namespace)
        assert run.returncode == 1
        assert "reached" not in run.output
        assert f"{world.other}/{namespace}.{world.profile}" in run.stderr  # the plugin names what it missed


def test_keep_admin_secret_reader_puts_the_admin_entry_back_beside_secretreader(world: World) -> None:
    world.stack.configure(keepAdminSecretReader=True)
    world.stack.up()
    for namespace in world.workloads:
        names = [p["name"] for p in world.published(namespace)["status"]["accessProviders"]]
        assert names == [TOKEN_READER, SECRET_READER]
    world.stack.configure(keepAdminSecretReader=None)
    world.stack.up()
    for namespace in world.workloads:
        names = [p["name"] for p in world.published(namespace)["status"]["accessProviders"]]
        assert names == [TOKEN_READER]


def test_a_rotated_token_reaches_the_token_secret_in_place_and_the_previous_one_stays_valid(world: World) -> None:
    """The plugin returns no expiry, so a consumer keeps its token until a 401: a refresh (here
    every run: 600 s tokens, a run every 30 minutes) must leave the previous token working."""
    world.stack.configure(grants={world.team: {"tokenLifetimeSeconds": 600, "access": [{"rules": [CONFIGMAPS]}]}})
    world.stack.up()
    before = dict(zip(world.workloads, world.tokens(), strict=True))
    uids = {namespace: world.token_secret(world.team, namespace).metadata.uid  # type: ignore[union-attr]
            for namespace in world.workloads}
    world.stack.up()
    for (namespace, workload), token in zip(world.workloads.items(), world.tokens(), strict=True):
        assert token != before[namespace]
        assert world.token_secret(world.team, namespace).metadata.uid == uids[namespace]  # type: ignore[union-attr]
        run = world.consume(world.team, namespace)
        assert run.returncode == 0, run.stderr
        assert run.output["reached"]["user"]["username"] == f"system:serviceaccount:{GRANT_NAMESPACE}:{world.team}"
        previous = _bearer(workload, before[namespace], world.tmp)
        review = client.AuthenticationV1Api(previous).create_self_subject_review({})
        assert review.status.user_info.username == f"system:serviceaccount:{GRANT_NAMESPACE}:{world.team}"


def _bearer(workload: WorkloadServer, token: str, tmp: Path) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = workload.server
    ca_file = tmp / f"ca-{workload.name}.crt"
    ca_file.write_text(workload.ca_pem)
    configuration.ssl_ca_cert = str(ca_file)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    configuration.retries = False
    return client.ApiClient(configuration)


def test_no_token_in_cli_output_stack_outputs_or_state(world: World) -> None:
    printed = "\n".join(world.stack.output)
    outputs = json.dumps({key: value.value for key, value in world.stack.stack.outputs().items()
                          if not value.secret})
    state = world.stack.state_text()
    world.tokens()
    for token in [*world.seen, *world.secrets]:
        for part in {token, token.split(".")[-1]}:
            assert part not in printed and part not in outputs and part not in state
