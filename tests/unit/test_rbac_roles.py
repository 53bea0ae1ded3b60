"""python -m inventory rbac: the program's own roles cover exactly the namespaces its stack reads and writes (SPEC §9)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from inventory.rbac import main, render_admission_policy, render_roles
from inventory.settings import Settings, SettingsError, load_stack_file

REPO = Path(__file__).resolve().parents[2]
WRITE_VERBS = {"create", "update", "patch", "delete"}
# Settings that name every namespace list, so nothing needs to be cluster-wide.
NAMED = {"capiNamespaces": ["capi"], "profileNamespaces": ["fleet"], "consumerNamespaces": ["team-a"]}


def roles(**config: Any) -> dict[tuple[str, str | None], dict[str, set[str]]]:
    """(identity, namespace or None for cluster-wide) -> resource ("secrets", "clusters.cluster.x-k8s.io") -> verbs."""
    found: dict[tuple[str, str | None], dict[str, set[str]]] = {}
    for doc in yaml.safe_load_all(render_roles(Settings.from_mapping(config), "ci", "ci-ns", "test")):
        if doc is None or doc["kind"] not in ("Role", "ClusterRole"):
            continue
        identity = doc["metadata"]["name"].removeprefix("ci-")
        rules = found.setdefault((identity, doc["metadata"].get("namespace")), {})
        for rule in doc["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    rules.setdefault(f"{resource}.{group}" if group else resource, set()).update(rule["verbs"])
    return found


def namespaces_with(found: dict[tuple[str, str | None], dict[str, set[str]]], identity: str,
                    resource: str, verb: str) -> set[str | None]:
    return {ns for (who, ns), rules in found.items() if who == identity and verb in rules.get(resource, set())}


def header(**config: Any) -> str:
    text = render_roles(Settings.from_mapping(config), "ci", "ci-ns", "test")
    return text.split("\n---\n", 1)[0]


def test_the_namespaces_read_and_written_are_derived_from_the_settings() -> None:
    found = roles(**NAMED)
    assert namespaces_with(found, "preview", "secrets", "list") == {"capi", "fleet", "team-a"}
    assert namespaces_with(found, "deploy", "secrets", "patch") == {"fleet", "team-a"}
    assert namespaces_with(found, "deploy", "clusters.cluster.x-k8s.io", "list") == {"capi"}
    assert namespaces_with(found, "deploy", "sveltosclusters.lib.projectsveltos.io", "patch") == {"fleet"}


def test_no_secret_rule_is_cluster_wide_when_the_namespace_lists_are_given() -> None:
    found = roles(**NAMED)
    assert "secrets" not in found[("preview", None)]
    assert "secrets" not in found[("deploy", None)]
    assert "this stack reads and writes no Secret cluster-wide" in header(**NAMED)


def test_namespaces_stay_readable_cluster_wide_for_the_cluster_identity_and_consumer_labels() -> None:
    found = roles(**NAMED)
    assert found[("preview", None)]["namespaces"] == {"get", "list"}
    assert found[("deploy", None)]["namespaces"] == {"get", "list"}


def test_the_preview_identity_has_no_write_verb_anywhere() -> None:
    found = roles(**NAMED, clusterProfileMode="direct", argocdMode="direct", pushMode="events")
    verbs = {verb for (who, _), rules in found.items() if who == "preview" for each in rules.values() for verb in each}
    assert verbs == {"get", "list"}


def test_the_preview_identity_reads_no_secret_in_kube_system() -> None:
    assert "kube-system" not in namespaces_with(roles(**NAMED), "preview", "secrets", "get")


def test_cluster_profile_write_and_status_verbs_only_when_clusterProfileMode_is_direct() -> None:
    off = roles(**NAMED)
    assert not namespaces_with(off, "deploy", "clusterprofiles.multicluster.x-k8s.io", "patch")
    assert not namespaces_with(off, "deploy", "clusterprofiles/status.multicluster.x-k8s.io", "patch")
    on = roles(**NAMED, clusterProfileMode="direct")
    # A Cluster publishes into its own namespace, and elsewhere (defaultProfileNamespace too) only along a route.
    assert namespaces_with(on, "deploy", "clusterprofiles.multicluster.x-k8s.io", "patch") == {"capi"}
    assert namespaces_with(on, "deploy", "clusterprofiles/status.multicluster.x-k8s.io", "patch") == {"capi"}
    assert not namespaces_with(on, "preview", "clusterprofiles/status.multicluster.x-k8s.io", "patch")


def test_feature_E_also_reaches_the_namespaces_clusterPlacementRoutes_opens_to_the_capi_namespaces() -> None:
    found = roles(**NAMED, clusterProfileMode="direct", clusterPlacementRoutes={"capi": ["fleet-prod"],
                                                                               "elsewhere": ["not-read"]})
    assert namespaces_with(found, "deploy", "clusterprofiles.multicluster.x-k8s.io", "patch") == {
        "capi", "fleet-prod"}
    # Feature B writes SveltosClusters for the profiles E publishes, wherever they land.
    assert namespaces_with(found, "deploy", "sveltosclusters.lib.projectsveltos.io", "patch") == {
        "capi", "fleet", "fleet-prod"}


def test_sveltoscluster_verbs_only_when_sveltosMode_is_direct() -> None:
    assert not namespaces_with(roles(**NAMED, sveltosMode="off"), "deploy",
                               "sveltosclusters.lib.projectsveltos.io", "get")
    assert not namespaces_with(roles(**NAMED, sveltosMode="events"), "deploy",
                               "sveltosclusters.lib.projectsveltos.io", "get")


def test_events_mode_kinds_only_in_events_mode() -> None:
    direct = roles(**NAMED)
    assert not namespaces_with(direct, "deploy", "eventsources.lib.projectsveltos.io", "patch")
    assert not namespaces_with(direct, "deploy", "configmaps", "patch")
    events = roles(**NAMED, pushMode="events", sveltosMode="events", eventsNamespace="sveltos-templates")
    assert namespaces_with(events, "deploy", "eventsources.lib.projectsveltos.io", "patch") == {None}
    assert namespaces_with(events, "deploy", "eventtriggers.lib.projectsveltos.io", "patch") == {None}
    assert namespaces_with(events, "deploy", "configmaps", "patch") == {"sveltos-templates"}
    # Sveltos writes the Secrets in events mode, not this program.
    assert namespaces_with(events, "deploy", "secrets", "patch") == set()


def test_an_extra_secret_is_written_only_in_its_own_namespace() -> None:
    found = roles(**NAMED, pushMode="off", sveltosMode="off",
                  extraSecrets=[{"metadata": {"name": "token", "namespace": "hooks"}, "stringData": {"a": "b"}}])
    assert namespaces_with(found, "deploy", "secrets", "patch") == {"hooks"}


def test_the_argocd_namespace_only_when_argocdMode_is_direct() -> None:
    assert all(ns != "argocd" for _, ns in roles(**NAMED))
    found = roles(**NAMED, argocdMode="direct")
    assert "argocd" in namespaces_with(found, "deploy", "secrets", "patch")


def test_an_empty_capiNamespaces_grants_secret_reads_cluster_wide_and_names_the_key() -> None:
    config = {**NAMED, "capiNamespaces": []}
    found = roles(**config)
    assert found[("preview", None)]["secrets"] == {"get", "list"}
    assert "secrets" not in found[("deploy", None)] or "patch" not in found[("deploy", None)]["secrets"]
    text = header(**config)
    assert "CLUSTER-WIDE GRANTS" in text
    assert ("preview: get, list secrets in every namespace: capiNamespaces is empty, so CAPI Clusters and their "
            "kubeconfig Secrets are read in every namespace. Set capiNamespaces to narrow it.") in text


def test_an_empty_profileNamespaces_reads_and_writes_profile_secrets_cluster_wide() -> None:
    config = {**NAMED, "profileNamespaces": []}
    found = roles(**config)
    assert "patch" in found[("deploy", None)]["secrets"]
    assert "Set profileNamespaces to narrow it." in header(**config)


def test_a_star_in_consumerNamespaces_writes_secrets_cluster_wide_and_says_so() -> None:
    config = {**NAMED, "consumerNamespaces": ["*"]}
    found = roles(**config)
    assert "patch" in found[("deploy", None)]["secrets"]
    assert 'consumerNamespaces is "*": every namespace carrying x-k8s.io/cluster-inventory-consumer receives ' \
           "push Secrets. Set consumerNamespaces to narrow it." in header(**config)


def test_a_consumerNamespaceSelector_writes_secrets_cluster_wide_because_rbac_cannot_follow_labels() -> None:
    config = {**NAMED, "consumerNamespaceSelector": {"tier": "platform"}}
    assert "patch" in roles(**config)[("deploy", None)]["secrets"]
    assert "which RBAC cannot follow" in header(**config)


def test_no_consumer_namespace_means_no_push_secret_rule_and_a_note() -> None:
    config = {**NAMED, "consumerNamespaces": []}
    assert "team-a" not in {ns for _, ns in roles(**config)}
    assert "no namespace receives feature A's push Secrets" in header(**config)


def test_secretReaderRoutes_targets_are_readable_by_name_only() -> None:
    found = roles(**NAMED, secretReaderRoutes={"fleet": ["vault-sync"], "other": ["unused"]})
    assert found[("preview", "vault-sync")] == {"secrets": {"get"}}
    assert ("preview", "unused") not in found


def test_a_star_placement_route_means_cluster_wide_publishing_and_names_the_route() -> None:
    config = {**NAMED, "clusterProfileMode": "direct", "clusterPlacementRoutes": {"*": ["*"]}}
    assert "patch" in roles(**config)[("deploy", None)]["clusterprofiles.multicluster.x-k8s.io"]
    assert "Set clusterPlacementRoutes['*'] to narrow it." in header(**config)


def test_a_star_route_target_means_cluster_wide_secret_gets_and_names_the_route() -> None:
    config = {**NAMED, "secretReaderRoutes": {"fleet": ["*"]}}
    assert "get" in roles(**config)[("preview", None)]["secrets"]
    assert "Set secretReaderRoutes['fleet'] to narrow it." in header(**config)


def test_the_output_is_deterministic_and_every_rule_is_explained() -> None:
    settings = Settings.from_mapping({**NAMED, "clusterProfileMode": "direct", "argocdMode": "direct"})
    first = render_roles(settings, "ci", "ci-ns", "test")
    assert first == render_roles(settings, "ci", "ci-ns", "test")
    lines = first.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("  - apiGroups:"):
            assert lines[index - 1].startswith("  # "), f"rule without a reason before line {index}"


def test_bindings_name_the_identities_service_accounts() -> None:
    docs = list(yaml.safe_load_all(render_roles(Settings.from_mapping(NAMED), "ci", "ci-ns", "test")))
    bindings = [d for d in docs if d and d["kind"].endswith("Binding")]
    assert bindings and all(b["subjects"] == [{"kind": "ServiceAccount", "name": b["roleRef"]["name"],
                                               "namespace": "ci-ns"}] for b in bindings)
    accounts = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs if d and d["kind"] == "ServiceAccount"}
    assert accounts == {("ci-ns", "ci-preview"), ("ci-ns", "ci-deploy")}


def test_the_admission_policy_matches_the_deploy_identity_and_the_kinds_it_writes() -> None:
    text = render_admission_policy(Settings.from_mapping({**NAMED, "clusterProfileMode": "direct"}), "ci", "ci-ns",
                                   "test")
    policy, binding = yaml.safe_load_all(text)
    assert policy["spec"]["matchConditions"] == [{
        "name": "deploy-identity", "expression": "request.userInfo.username == 'system:serviceaccount:ci-ns:ci-deploy'"}]
    resources = {(group, resource) for rule in policy["spec"]["matchConstraints"]["resourceRules"]
                 for group in rule["apiGroups"] for resource in rule["resources"]}
    assert resources == {("", "secrets"), ("lib.projectsveltos.io", "sveltosclusters"),
                         ("multicluster.x-k8s.io", "clusterprofiles"),
                         ("multicluster.x-k8s.io", "clusterprofiles/status")}
    assert all("'app.kubernetes.io/managed-by'" in v["expression"] for v in policy["spec"]["validations"])
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}


def test_a_stack_file_is_read_as_pulumi_hands_it_to_the_program(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.s.yaml"
    path.write_text(textwrap.dedent("""\
        config:
          cluster-inventory:kubeconfig:
            secure: v1:AAAA
          cluster-inventory:managedByValue: 2024
          cluster-inventory:capiNamespaces: [capi]
          cluster-inventory:maxDeletions: 5
          kubernetes:context: ignored
        """))
    settings = load_stack_file(str(path))
    assert (settings.managed_by_value, settings.capi_namespaces, settings.max_deletions) == ("2024", ("capi",), 5)
    assert settings.kubeconfig is None


def test_an_encrypted_key_the_roles_depend_on_is_refused_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.s.yaml"
    path.write_text("config:\n  cluster-inventory:extraSecrets:\n    secure: v1:AAAA\n")
    with pytest.raises(SettingsError, match="extraSecrets: encrypted in .*--config FILE"):
        load_stack_file(str(path))


def test_the_cli_reads_a_config_file_like_render(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(NAMED))
    out = io.StringIO()
    assert main(["--config", str(config)], stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue() == render_roles(Settings.from_mapping(NAMED), "cluster-inventory", "cluster-inventory",
                                          f"`python -m inventory rbac --config {config}` from {config}")


def test_the_cli_refuses_an_unknown_stack_with_exit_2() -> None:
    err = io.StringIO()
    assert main(["--stack", "no-such-stack"], stdout=io.StringIO(), stderr=err) == 2
    assert "no stack config" in err.getvalue() and "Pulumi.no-such-stack.yaml" in err.getvalue()


@pytest.mark.parametrize(("stack", "committed", "extra"), [
    ("dev", "rbac/dev.yaml", []),
    ("production.example", "rbac/production.example.yaml", []),
    ("production.example", "rbac/admission-policy.production.example.yaml", ["--admission-policy"]),
])
def test_the_committed_rbac_files_are_what_the_command_prints(stack: str, committed: str, extra: list[str]) -> None:
    out = io.StringIO()
    assert main(["--stack", stack, *extra], stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue() == (REPO / committed).read_text(), f"regenerate {committed}: see its first line"


def test_docs_rbac_explains_every_resource_the_builder_grants() -> None:
    from inventory.rbac import scope

    page = (REPO / "docs" / "rbac.md").read_text()
    resources = [value for value in vars(scope).values() if isinstance(value, scope.Resource)]
    missing = [r.plural for r in resources if f"`{r.plural}" not in page]
    assert not missing, f"docs/rbac.md's table does not explain {missing}"
