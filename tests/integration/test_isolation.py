"""SPEC §9 failure isolation on the real local cluster with the real CLI: a tenant's input costs only
that tenant's objects.

Two tenant namespaces, A with eleven ClusterProfiles and B with two, all deployed (feature B: a
Secret and a SveltosCluster each). Then A deletes its eleven profiles (22 deletions, over the default
maxDeletions of 20) while B adds a profile and rotates its source credentials: B's changes land, A's
deletions are held back and reported, A's objects stay exactly as they were, and the run exits 0.
allowMassDeletion lets them go. Then a tenant creates an object at a name the program is about to
plan: only that profile's objects are skipped, the tenant's object is untouched, the rest lands.

The steps share one stack and run in file order.
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

from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import SVELTOS, Inventory, kubeconfig_text, secret_reader_provider
from tests.integration.project import ProjectStack
from tests.integration.test_rbac import token_kubeconfig

A_PROFILES = [f"a{i}" for i in range(11)]
# How a Pulumi state marks a secret value (sdk/go/common/resource/sig).
SECRET_SIGNATURE, SECRET_VALUE = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
B_PROFILES = ["b0", "b1"]


@dataclass
class World:
    run_id: str
    stack: ProjectStack
    inventory: Inventory
    a: str  # tenant A's namespace
    b: str  # tenant B's namespace
    a_before: dict[str, tuple[str, str, Any]]  # A's objects as deployed: (uid, resourceVersion, data/spec)

    def objects(self, namespace: str) -> dict[str, tuple[str, str, Any]]:
        """Every managed Secret and SveltosCluster in ``namespace``: (uid, resourceVersion, data or spec)."""
        selector = f"app.kubernetes.io/managed-by=ci-{self.run_id}"
        found: dict[str, tuple[str, str, Any]] = {}
        for secret in self.inventory.core.list_namespaced_secret(namespace, label_selector=selector).items:
            found[f"Secret/{secret.metadata.name}"] = (secret.metadata.uid, secret.metadata.resource_version,
                                                        secret.data)
        group, version, plural = SVELTOS
        for item in self.inventory.custom.list_namespaced_custom_object(group, version, namespace, plural,
                                                                        label_selector=selector)["items"]:
            meta = item["metadata"]
            found[f"SveltosCluster/{meta['name']}"] = (meta["uid"], meta["resourceVersion"], item["spec"])
        return found

    def token(self, namespace: str, secret: str) -> str:
        data = self.inventory.core.read_namespaced_secret(secret, namespace).data
        return str(json.loads(base64.b64decode(data["kubeconfig"]))["users"][0]["user"]["token"])

    def output(self, key: str) -> Any:
        return self.stack.stack.outputs()[key].value

    def log(self) -> str:
        return "\n".join(self.stack.output)


def _source_secret(inv: Inventory, namespace: str, token: str) -> None:
    inv.secret(namespace, "src", {"kubeconfig": kubeconfig_text(f"https://{namespace}:6443", token)})


@pytest.fixture(scope="module")
def world(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    a, b = f"tenant-a-{run_id}", f"tenant-b-{run_id}"
    for namespace, profiles in ((a, A_PROFILES), (b, B_PROFILES)):
        inv.namespace(namespace)
        _source_secret(inv, namespace, f"TOKEN-{namespace}-1")
        for name in profiles:
            inv.cluster_profile(namespace, name, [secret_reader_provider(f"https://{namespace}:6443", "src",
                                                                         "kubeconfig")])
    stack = ProjectStack(tmp_path_factory.mktemp("isolation") / "project")
    stack.configure(kubeconfig=str(control_plane.kubeconfig), pushMode="off", profileNamespaces=[a, b],
                    managedByValue=f"ci-{run_id}", scheduleIntervalMinutes=0)
    yield World(run_id, stack, inv, a, b, {})
    stack.configure(allowMassDeletion=True)
    stack.destroy()
    for namespace in (a, b):
        control_plane.delete_namespace(namespace)


def test_both_tenants_are_deployed(world: World) -> None:
    world.stack.up()
    world.a_before = world.objects(world.a)
    assert len(world.a_before) == 2 * len(A_PROFILES)
    assert len(world.objects(world.b)) == 2 * len(B_PROFILES)
    assert world.output("heldBackDeletions") == {}
    assert set(world.output("managedObjectSources")) == {world.a, world.b}


def test_a_tenant_over_the_cap_holds_back_only_its_own_deletions(world: World) -> None:
    for name in A_PROFILES:
        world.inventory.delete_cluster_profile(world.a, name)
    world.inventory.core.delete_namespaced_secret("src", world.b)
    _source_secret(world.inventory, world.b, f"TOKEN-{world.b}-2")
    world.inventory.cluster_profile(world.b, "b2", [secret_reader_provider(f"https://{world.b}:6443", "src",
                                                                           "kubeconfig")])
    world.stack.output.clear()
    result = world.stack.up()  # raises on a non-zero exit

    assert result.summary.result == "succeeded"
    assert world.objects(world.a) == world.a_before  # same UIDs, resourceVersions and data
    assert {world.token(world.b, f"{name}-sveltos-kubeconfig") for name in [*B_PROFILES, "b2"]} == {
        f"TOKEN-{world.b}-2"}
    assert world.output("heldBackDeletions") == {world.a: 22}
    log = world.log()
    assert f"Namespace {world.a}: 22 deletions held back: more than maxDeletions (20)" in log
    assert "allowMassDeletion true" in log
    assert any(line.startswith(f"warning: Namespace {world.a}: 22 deletions held back")
               for line in world.output("skipped"))


def test_held_back_objects_stay_in_the_state_with_their_credentials_secret(world: World) -> None:
    managed = {name for names in world.output("managedObjects").values() for name in names}
    assert {f"Secret/{world.a}/{n}-sveltos-kubeconfig" for n in A_PROFILES} <= managed
    assert sorted(world.output("managedObjectSources")[world.a]) == sorted(
        [*(f"Secret/{world.a}/{n}-sveltos-kubeconfig" for n in A_PROFILES),
         *(f"SveltosCluster/{world.a}/{n}" for n in A_PROFILES)])
    state = world.stack.state_text()
    encoded = [value for name, (_, _, data) in world.a_before.items() if name.startswith("Secret/")
               for value in data.values()]
    assert len(encoded) == len(A_PROFILES) and not any(value in state for value in encoded)
    kept = [r for r in world.stack.stack.export_stack().deployment["resources"]
            if r["urn"].endswith(f"::Secret/{world.a}/a0-sveltos-kubeconfig")]
    assert [r["inputs"]["data"].get(SECRET_SIGNATURE) for r in kept] == [SECRET_VALUE]
    assert [r["outputs"]["data"].get(SECRET_SIGNATURE) for r in kept] == [SECRET_VALUE]


def test_the_next_run_holds_them_back_again_and_changes_nothing(world: World) -> None:
    result = world.stack.preview()
    assert set(result.change_summary) == {"same"}
    world.stack.up()
    assert world.objects(world.a) == world.a_before
    assert world.output("heldBackDeletions") == {world.a: 22}


def test_allow_mass_deletion_lets_the_held_back_deletions_go(world: World) -> None:
    world.stack.configure(allowMassDeletion=True)
    world.stack.up()
    world.stack.configure(allowMassDeletion=None)
    assert world.objects(world.a) == {}
    assert world.output("heldBackDeletions") == {}
    assert world.a not in world.output("managedObjectSources")


def test_a_name_a_tenant_already_holds_skips_only_that_profile(world: World) -> None:
    taken = "b3-sveltos-kubeconfig"
    world.inventory.secret(world.b, taken, {"kubeconfig": "the tenant's own"}, labels={"team": "b"})
    before = world.inventory.core.read_namespaced_secret(taken, world.b).metadata
    for name in ("b3", "b4"):
        world.inventory.cluster_profile(world.b, name, [secret_reader_provider(f"https://{world.b}:6443", "src",
                                                                               "kubeconfig")])
    world.stack.output.clear()
    world.stack.up()

    after = world.inventory.core.read_namespaced_secret(taken, world.b)
    assert (after.metadata.uid, after.metadata.resource_version) == (before.uid, before.resource_version)
    assert base64.b64decode(after.data["kubeconfig"]) == b"the tenant's own"
    objects = world.objects(world.b)
    assert "SveltosCluster/b3" not in objects
    assert {"Secret/b4-sveltos-kubeconfig", "SveltosCluster/b4"} <= set(objects)
    skipped = "\n".join(world.output("skipped"))
    assert (f"ClusterProfile {world.b}/b3: Secret {world.b}/{taken} not declared: the name is taken by an existing "
            f"Secret {world.b}/{taken} that this stack does not manage (not written by any stack)") in skipped
    assert f"SveltosCluster {world.b}/b3 not declared: it goes with Secret {world.b}/{taken}" in skipped
    assert f"{world.b}/{taken} not declared" in world.log()


def test_a_forbidden_source_secret_skips_only_the_profile_naming_it(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The deploy identity may read and write Secrets in the tenants' namespaces only. A profile that
    names a Secret elsewhere (even along a route stack config allows) gets a 403 on it: that profile is
    skipped and reported, every other profile is deployed, the run exits 0."""
    run_id = uuid.uuid4().hex[:6]
    inv = Inventory(control_plane.api)
    tenant, other, accounts = f"tenant-{run_id}", f"platform-{run_id}", f"accounts-{run_id}"
    for namespace in (tenant, other, accounts):
        inv.namespace(namespace)
    _source_secret(inv, tenant, f"TOKEN-{tenant}")
    inv.secret(other, "prod-kubeconfig", {"kubeconfig": kubeconfig_text("https://prod:6443", "TOKEN-PROD")})
    inv.cluster_profile(tenant, "good", [secret_reader_provider(f"https://{tenant}:6443", "src", "kubeconfig")])
    inv.cluster_profile(tenant, "reaching", [secret_reader_provider("https://prod:6443", "prod-kubeconfig",
                                                                    "kubeconfig", namespace=other)])
    rbac = client.RbacAuthorizationV1Api(control_plane.api)
    everywhere = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
                  {"apiGroups": ["multicluster.x-k8s.io"], "resources": ["clusterprofiles"],
                   "verbs": ["get", "list", "watch"]},
                  {"apiGroups": ["lib.projectsveltos.io"], "resources": ["sveltosclusters"],
                   "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    secrets = [{"apiGroups": [""], "resources": ["secrets"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    roles = {f"isolation-everywhere-{run_id}": everywhere, f"isolation-secrets-{run_id}": secrets}
    for name, rules in roles.items():
        rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
    subject = [{"kind": "ServiceAccount", "name": "deployer", "namespace": accounts}]
    inv.core.create_namespaced_service_account(accounts, {"metadata": {"name": "deployer"}})
    rbac.create_cluster_role_binding({"metadata": {"name": f"isolation-everywhere-{run_id}"}, "subjects": subject,
                                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                  "name": f"isolation-everywhere-{run_id}"}})
    rbac.create_namespaced_role_binding(tenant, {"metadata": {"name": "deployer-secrets"}, "subjects": subject,
                                                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                             "kind": "ClusterRole",
                                                             "name": f"isolation-secrets-{run_id}"}})
    token = inv.core.create_namespaced_service_account_token(
        "deployer", accounts, {"spec": {"expirationSeconds": 3600}}).status.token
    kubeconfig = token_kubeconfig(control_plane.kubeconfig, token, tmp_path / "deployer.kubeconfig")
    stack = ProjectStack(tmp_path / "project")
    stack.configure(kubeconfig=str(kubeconfig), pushMode="off", profileNamespaces=[tenant],
                    secretReaderRoutes={tenant: [other]}, managedByValue=f"ci-{run_id}", scheduleIntervalMinutes=0)
    try:
        stack.up()
        assert stack.managed_resources() == {f"Secret/{tenant}/good-sveltos-kubeconfig", f"SveltosCluster/{tenant}/good"}
        [reported] = [line for line in stack.stack.outputs()["skipped"].value if f"{tenant}/reaching" in line]
        assert (f"ClusterProfile {tenant}/reaching: skipped: kubeconfig-secretreader: source Secret "
                f"{other}/prod-kubeconfig could not be read: HTTP 403 forbidden") in reported
        assert "TOKEN-PROD" not in "\n".join(stack.output)
    finally:
        stack.destroy()
        rbac.delete_cluster_role_binding(f"isolation-everywhere-{run_id}")
        for name in roles:
            rbac.delete_cluster_role(name)
        for namespace in (tenant, other, accounts):
            control_plane.delete_namespace(namespace)
