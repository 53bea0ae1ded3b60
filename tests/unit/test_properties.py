"""Properties of planning and rendering over generated inventories (hypothesis).

Inputs respect what parsing guarantees (valid object names, valid label values);
everything derived from them is the plan's responsibility.
"""

from __future__ import annotations

import base64
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.model.diagnostics import ObjectRef
from inventory.model.inventory import CapiCluster, ClusterProfile, Inventory, Namespace, Secret
from inventory.model.names import (
    is_label_key,
    is_label_value,
    name_problem,
    namespace_problem,
)
from inventory.plan.compose import build_plan
from inventory.render import render_plan
from inventory.settings import ArgoCDSource, Mode, Settings
from tests.unit.inventory_support import (
    NOW,
    FakeExecResult,
    clusterset_namespace,
    consumer,
    exec_provider,
    kubeconfig,
    labelled_secret,
    secret_reader,
    seeded,
)

NAMESPACES = ["default", "mgmt", "fleet", "team-a", "team-b", "east"]
OBJECT_NAMES = ["c1", "c2", "prod", "a.b", "x" * 63, "p" * 240]
LABEL_VALUES = ["c1", "prod", "fleet", "Prod_1", "a.b", "", "x" * 63, "east"]
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

namespaces = st.sampled_from(NAMESPACES)
object_names = st.sampled_from(OBJECT_NAMES)
label_values = st.sampled_from(LABEL_VALUES)


def credential(tag: str) -> bytes:
    """A kubeconfig carrying a token no other test string contains."""
    return kubeconfig(f"secret-{tag}")


@st.composite
def capi_clusters(draw: st.DrawFn) -> list[Any]:
    namespace, name = draw(namespaces), draw(object_names)
    labels = {"clusterprofile-name": draw(st.one_of(label_values, st.sampled_from(["c1", "c2", "prod"])))}
    if draw(st.booleans()):
        labels["clusterprofile-namespace"] = draw(label_values)
    if draw(st.booleans()):
        labels["clusterset.k8s.io"] = draw(label_values)
    objects: list[Any] = [CapiCluster(namespace, name, labels)]
    good = credential(f"{namespace}-{name}")
    content = draw(st.sampled_from([good, good, good, b"", b"not: [a kubeconfig"]))
    if draw(st.integers(0, 3)) and len(name) < 200:
        secret_type = draw(st.sampled_from(["cluster.x-k8s.io/secret"] * 3 + ["Opaque"]))
        objects.append(
            Secret(
                namespace,
                f"{name}-kubeconfig",
                secret_type,
                {"cluster.x-k8s.io/cluster-name": name},
                {},
                {"value": content},
            )
        )
    return objects


@st.composite
def profiles(draw: st.DrawFn) -> list[Any]:
    namespace, name = draw(namespaces), draw(object_names)
    labels = draw(
        st.dictionaries(st.sampled_from(["env", "region", "app.kubernetes.io/managed-by"]), label_values, max_size=2)
    )
    source_name = draw(st.sampled_from(["admin", f"{name}-sveltos-kubeconfig"]))
    providers = draw(
        st.lists(
            st.sampled_from(
                [
                    secret_reader({"name": source_name, "key": "value"}),
                    secret_reader({"name": source_name}),
                    secret_reader("not json"),
                    exec_provider(),
                ]
            ),
            max_size=2,
            unique_by=lambda p: p.name,
        )
    )
    objects: list[Any] = [
        ClusterProfile(namespace, name, labels, draw(st.sampled_from(["", "Shown"])), tuple(providers))
    ]
    if draw(st.booleans()):
        objects.append(Secret(namespace, source_name, data={"value": credential(f"reader-{namespace}-{name}")}))
    if draw(st.booleans()):
        keys = draw(st.sampled_from([["kubeconfig"], ["config", "ca"], ["a", "b"]]))
        objects.append(
            labelled_secret(namespace, name, {k: credential(f"labelled-{namespace}-{name}-{k}") for k in keys})
        )
    return objects


@st.composite
def inventories(draw: st.DrawFn) -> tuple[list[Any], dict[ObjectRef, FakeExecResult]]:
    objects: list[Any] = [consumer(n) for n in draw(st.lists(namespaces, min_size=1, max_size=3, unique=True))]
    objects += [
        clusterset_namespace(n, draw(label_values)) for n in draw(st.lists(namespaces, max_size=2, unique=True))
    ]
    for group in draw(st.lists(capi_clusters(), max_size=5)):
        objects.extend(group)
    for group in draw(st.lists(profiles(), max_size=4)):
        objects.extend(group)
    exec_results = {}
    for obj in objects:
        if isinstance(obj, ClusterProfile) and draw(st.booleans()):
            exec_results[obj.ref] = draw(
                st.sampled_from(
                    [
                        FakeExecResult(
                            kubeconfig=credential(f"exec-{obj.namespace}-{obj.name}"), annotations={"a/b": "c"}
                        ),
                        FakeExecResult(error="plugin failed"),
                    ]
                )
            )
    return deduplicated(objects), exec_results


def deduplicated(objects: list[Any]) -> list[Any]:
    """One object per kind/namespace/name, as any real inventory has."""
    seen: dict[tuple[str, str], Any] = {}
    for obj in objects:
        seen.setdefault((type(obj).__name__, str(obj.ref)), obj)
    return list(seen.values())


def as_inventory(objects: list[Any]) -> Inventory:
    return Inventory(
        clusters=tuple(o for o in objects if isinstance(o, CapiCluster)),
        secrets=tuple(o for o in objects if isinstance(o, Secret)),
        namespaces=tuple(o for o in objects if isinstance(o, Namespace)),
        profiles=tuple(o for o in objects if isinstance(o, ClusterProfile)),
    )


@PROPERTY_SETTINGS
@given(inventories(), st.randoms())
def test_render_is_deterministic_whatever_the_input_order(
    generated: tuple[list[Any], dict[ObjectRef, FakeExecResult]], shuffler: random.Random
) -> None:
    objects, exec_results = generated
    shuffled = list(objects)
    shuffler.shuffle(shuffled)
    first = build_plan(as_inventory(objects), seeded(), exec_results, NOW)
    second = build_plan(as_inventory(shuffled), seeded(), dict(reversed(list(exec_results.items()))), NOW)
    assert first == second
    assert render_plan(first, show_secrets=True) == render_plan(second, show_secrets=True)
    assert render_plan(first, output="json") == render_plan(second, output="json")


@PROPERTY_SETTINGS
@given(inventories())
def test_every_emitted_name_and_label_is_valid_kubernetes(
    generated: tuple[list[Any], dict[ObjectRef, FakeExecResult]],
) -> None:
    objects, exec_results = generated
    plan = build_plan(as_inventory(objects), seeded(), exec_results, NOW)
    for obj in plan.objects:
        assert name_problem(obj.name) is None, obj.ref
        assert obj.namespace is None or namespace_problem(obj.namespace) is None, obj.ref
        for key, value in obj.labels.items():
            assert is_label_key(key) and is_label_value(value), (obj.ref, key, value)
        assert all(is_label_key(key) for key in obj.annotations), obj.ref
    refs = [obj.logical_name for obj in plan.objects]
    assert len(refs) == len(set(refs)), "two objects with one name"


@PROPERTY_SETTINGS
@given(inventories())
def test_no_credential_appears_in_redacted_output_or_diagnostics(
    generated: tuple[list[Any], dict[ObjectRef, FakeExecResult]],
) -> None:
    objects, exec_results = generated
    plan = build_plan(as_inventory(objects), seeded(), exec_results, NOW)
    redacted = render_plan(plan) + render_plan(plan, output="json") + "\n".join(map(str, plan.diagnostics))
    for obj in plan.objects:
        for value in obj.secret_data.values():
            token = value.split(b"token: ")[-1].split(b"\n")[0].decode()
            assert token not in redacted
            assert base64.b64encode(value).decode() not in redacted
    assert "token-of-secret-" not in redacted


# --- SPEC §9: what a tenant writes costs only the tenant ----------------------------------------------

# Tenants write only in these namespaces (Clusters, Secrets, ClusterProfiles) and label only these
# namespaces; stack config routes nothing to or from them. Their names start with no operator
# namespace followed by "-": seed 000's `{cpNs}-{cpName}` cannot tell such names apart (docs/security.md).
TENANT_NAMESPACES = ["tenant-a", "zz-tenant"]
OPERATOR_NAMESPACES = [n for n in NAMESPACES]
tenant_namespaces = st.sampled_from(TENANT_NAMESPACES)


@st.composite
def operator_settings(draw: st.DrawFn) -> Settings:
    """Routes among the operator's namespaces only, in every mode that reads tenant input."""
    def some(namespaces: list[str]) -> tuple[str, ...]:
        return tuple(draw(st.lists(st.sampled_from(namespaces), max_size=3, unique=True)))
    return Settings(
        consumer_namespaces=some(OPERATOR_NAMESPACES),
        cluster_placement_routes={origin: some(OPERATOR_NAMESPACES) for origin in some(OPERATOR_NAMESPACES)},
        secret_reader_routes={origin: some(OPERATOR_NAMESPACES) for origin in some(OPERATOR_NAMESPACES)},
        sveltos_cluster_labels=draw(st.sampled_from([(), ("env",), ("*",)])),
        cluster_profile_mode=draw(st.sampled_from([Mode.OFF, Mode.DIRECT])),
        argocd_mode=draw(st.sampled_from([Mode.OFF, Mode.DIRECT])),
        argocd_sources=(ArgoCDSource.CLUSTERS, ArgoCDSource.PROFILES),
    )


@st.composite
def tenant_objects(draw: st.DrawFn) -> list[Any]:
    """What a tenant may write: Clusters, Secrets and profiles in its namespace, aimed anywhere, and
    labels on its own namespaces (consumer, ClusterSet claims)."""
    objects: list[Any] = []
    for tenant_ns in draw(st.lists(tenant_namespaces, min_size=1, max_size=2, unique=True)):
        labels: dict[str, str] = {}
        if draw(st.booleans()):
            labels["x-k8s.io/cluster-inventory-consumer"] = "true"
        if draw(st.booleans()):
            labels["clusterset.multicluster.x-k8s.io"] = draw(label_values)
        objects.append(Namespace(tenant_ns, labels))
        for name in draw(st.lists(object_names, max_size=3, unique=True)):
            cluster_labels = {"clusterprofile-name": draw(st.sampled_from(["c1", "c2", "prod", name[:63]]))}
            if draw(st.booleans()):
                cluster_labels["clusterprofile-namespace"] = draw(st.one_of(namespaces, tenant_namespaces))
            if draw(st.booleans()):
                cluster_labels["clusterset.k8s.io"] = draw(label_values)
            objects.append(CapiCluster(tenant_ns, name, cluster_labels))
            if len(name) < 200:
                objects.append(Secret(tenant_ns, f"{name}-kubeconfig", "cluster.x-k8s.io/secret",
                                      {"cluster.x-k8s.io/cluster-name": name}, {},
                                      {"value": credential(f"tenant-{tenant_ns}-{name}")}))
        for name in draw(st.lists(object_names, max_size=3, unique=True)):
            target_ns = draw(st.one_of(namespaces, tenant_namespaces))
            target = draw(st.sampled_from(["admin", "c1-kubeconfig", "prod-kubeconfig", f"{name}-sveltos-kubeconfig"]))
            providers = (secret_reader({"namespace": target_ns, "name": target, "key": "value"}),)
            labels = draw(st.dictionaries(st.sampled_from(["env", "type"]), st.sampled_from(["prod", "mgmt"]),
                                          max_size=2))
            objects.append(ClusterProfile(tenant_ns, name, labels, "", providers))
            if draw(st.booleans()):
                objects.append(labelled_secret(tenant_ns, name, {"config": credential(f"tenant-l-{tenant_ns}-{name}")}))
    return objects


def _from_operator_sources(plan: Any) -> list[Any]:
    return [obj for obj in plan.objects
            if obj.source is None or obj.source.namespace not in TENANT_NAMESPACES]


@PROPERTY_SETTINGS
@given(inventories(), tenant_objects(), operator_settings())
def test_tenant_objects_change_nothing_planned_from_operator_sources(
    generated: tuple[list[Any], dict[ObjectRef, FakeExecResult]], tenant: list[Any], operator: Settings,
) -> None:
    objects, exec_results = generated
    without = build_plan(as_inventory(objects), operator, exec_results, NOW)
    with_tenants = build_plan(as_inventory(deduplicated(objects + tenant)), operator, exec_results, NOW)
    assert _from_operator_sources(with_tenants) == _from_operator_sources(without)


@PROPERTY_SETTINGS
@given(inventories(), tenant_objects(), operator_settings())
def test_tenant_objects_place_nothing_outside_the_tenants_namespaces_but_routed_consumers(
    generated: tuple[list[Any], dict[ObjectRef, FakeExecResult]], tenant: list[Any], operator: Settings,
) -> None:
    objects, exec_results = generated
    plan = build_plan(as_inventory(deduplicated(objects + tenant)), operator, exec_results, NOW)
    for obj in plan.objects:
        if obj.source is None or obj.source.namespace not in TENANT_NAMESPACES:
            continue
        allowed = {obj.source.namespace, *operator.consumer_namespaces, operator.argocd_namespace}
        assert obj.namespace in allowed, (obj.ref, obj.source)
        for value in obj.secret_data.values():
            assert b"tenant" in value or b"secret-" not in value, (obj.ref, "an operator credential")
