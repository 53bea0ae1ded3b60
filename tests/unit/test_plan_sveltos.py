"""Feature B (SPEC §3 B, seeds 001/002): a SveltosCluster and its kubeconfig Secret per ClusterProfile."""

from __future__ import annotations

from datetime import timedelta

from inventory.model.diagnostics import ObjectRef, Severity
from inventory.model.inventory import AccessProvider, ClusterAccess
from inventory.model.objects import Feature
from inventory.settings import Mode
from tests.unit.inventory_support import (
    NOW,
    FakeExecResult,
    capi_kubeconfig_secret,
    exec_provider,
    find,
    kubeconfig,
    labelled_secret,
    plan_of,
    profile,
    reasons,
    refs,
    secret,
    secret_reader,
    seeded,
)

PROD = ObjectRef("ClusterProfile", "fleet", "prod")
READER = {"name": "prod-admin", "key": "value"}


def test_sveltoscluster_and_kubeconfig_secret_for_every_profile() -> None:
    plan = plan_of(
        profile("fleet", "prod", secret_reader(READER)), secret("fleet", "prod-admin", {"value": kubeconfig("p")})
    )
    assert refs(plan) == ["Secret fleet/prod-sveltos-kubeconfig", "SveltosCluster fleet/prod"]
    cluster = find(plan, "SveltosCluster", "fleet", "prod")
    assert cluster.api_version == "lib.projectsveltos.io/v1beta1"
    assert cluster.fields == {"spec": {"kubeconfigName": "prod-sveltos-kubeconfig", "kubeconfigKeyName": "kubeconfig"}}
    assert cluster.feature is Feature.SVELTOS and cluster.source == PROD
    secret_object = find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig")
    assert secret_object.secret_data == {"kubeconfig": kubeconfig("p")}
    assert secret_object.labels == {"app.kubernetes.io/managed-by": "cluster-inventory"}
    assert secret_object.fields == {"type": "Opaque"}


def test_sveltoscluster_copies_profile_labels_and_the_managed_by_label_wins() -> None:
    labels = {"env": "prod", "app.kubernetes.io/managed-by": "someone-else"}
    plan = plan_of(
        profile("fleet", "prod", secret_reader(READER), labels=labels),
        secret("fleet", "prod-admin", {"value": kubeconfig("p")}),
    )
    assert find(plan, "SveltosCluster", "fleet", "prod").labels == {
        "env": "prod",
        "app.kubernetes.io/managed-by": "cluster-inventory",
    }


def test_display_name_becomes_an_annotation() -> None:
    plan = plan_of(
        profile("fleet", "prod", secret_reader(READER), display_name="Production"),
        secret("fleet", "prod-admin", {"value": kubeconfig("p")}),
    )
    assert find(plan, "SveltosCluster", "fleet", "prod").annotations == {
        "clusterinventory.projectsveltos.io/display-name": "Production"
    }


def test_no_display_name_no_annotation() -> None:
    plan = plan_of(
        profile("fleet", "prod", secret_reader(READER)), secret("fleet", "prod-admin", {"value": kubeconfig("p")})
    )
    assert find(plan, "SveltosCluster", "fleet", "prod").annotations == {}


def test_secretreader_copies_the_kubeconfig_from_the_named_secret_and_namespace() -> None:
    reader = secret_reader({"name": "c1-kubeconfig", "key": "value", "namespace": "mgmt"})
    plan = plan_of(profile("fleet", "prod", reader), capi_kubeconfig_secret("mgmt", "c1"))
    assert find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig").secret_data == {"kubeconfig": kubeconfig("c1")}


def test_secretreader_namespace_defaults_to_the_profiles() -> None:
    plan = plan_of(
        profile("fleet", "prod", secret_reader(READER)),
        secret("fleet", "prod-admin", {"value": kubeconfig("f")}),
        secret("mgmt", "prod-admin", {"value": kubeconfig("m")}),
    )
    assert find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig").secret_data == {"kubeconfig": kubeconfig("f")}


def test_secretreader_extension_given_as_a_json_string_is_accepted() -> None:
    plan = plan_of(
        profile("fleet", "prod", secret_reader('{"name": "prod-admin", "key": "value"}')),
        secret("fleet", "prod-admin", {"value": kubeconfig("p")}),
    )
    assert plan.diagnostics == () and len(plan.objects) == 2


def test_secretreader_without_exec_extension_is_reported() -> None:
    provider = AccessProvider("kubeconfig-secretreader", ClusterAccess(server="https://x"))
    plan = plan_of(profile("fleet", "prod", provider))
    assert reasons(plan, PROD) == [
        (
            "skipped, no usable credentials: provider 'kubeconfig-secretreader' has no "
            "'client.authentication.k8s.io/exec' cluster extension; no exec provider; "
            "no Secret labelled x-k8s.io/cluster-profile=prod in namespace fleet"
        )
    ]


def test_secretreader_extension_that_is_not_json_is_reported() -> None:
    plan = plan_of(profile("fleet", "prod", secret_reader("{name: oops")))
    (reason,) = reasons(plan, PROD)
    assert "extension 'client.authentication.k8s.io/exec' is not valid JSON" in reason


def test_secretreader_extension_without_key_is_reported() -> None:
    plan = plan_of(profile("fleet", "prod", secret_reader({"name": "prod-admin"})))
    (reason,) = reasons(plan, PROD)
    assert "'key' must be a non-empty string, got None" in reason


def test_secretreader_extension_that_is_not_an_object_is_reported() -> None:
    plan = plan_of(profile("fleet", "prod", secret_reader(["prod-admin"])))
    (reason,) = reasons(plan, PROD)
    assert "must be a JSON object" in reason


def test_missing_source_secret_is_reported() -> None:
    plan = plan_of(profile("fleet", "prod", secret_reader(READER)))
    assert plan.objects == ()
    (reason,) = reasons(plan, PROD)
    assert reason.startswith(
        "skipped, no usable credentials: kubeconfig-secretreader: source Secret fleet/prod-admin not found"
    )


def test_missing_source_key_is_reported_with_the_keys_present() -> None:
    plan = plan_of(profile("fleet", "prod", secret_reader(READER)), secret("fleet", "prod-admin", {"config": b"x"}))
    (reason,) = reasons(plan, PROD)
    assert "source Secret fleet/prod-admin has no key 'value' (keys: config)" in reason


def test_source_kubeconfig_that_is_not_a_kubeconfig_is_reported() -> None:
    plan = plan_of(profile("fleet", "prod", secret_reader(READER)), secret("fleet", "prod-admin", {"value": b"[1, 2]"}))
    (reason,) = reasons(plan, PROD)
    assert "source Secret fleet/prod-admin key value: kubeconfig is not a YAML mapping (got a list)" in reason


def test_secretreader_wins_over_exec_and_labelled_secret() -> None:
    plan = plan_of(
        profile("fleet", "prod", secret_reader(READER), exec_provider()),
        secret("fleet", "prod-admin", {"value": kubeconfig("reader")}),
        labelled_secret("fleet", "prod", {"kubeconfig": kubeconfig("labelled")}),
        exec_results={PROD: FakeExecResult(kubeconfig=kubeconfig("exec"))},
    )
    assert find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig").secret_data == {"kubeconfig": kubeconfig("reader")}
    assert plan.diagnostics == ()


def test_exec_credentials_are_used_without_a_secretreader() -> None:
    refresh = NOW + timedelta(minutes=48)
    result = FakeExecResult(kubeconfig=kubeconfig("exec"), annotations={"expires": "later"}, refresh_at=refresh)
    plan = plan_of(
        profile("fleet", "prod", exec_provider()),
        labelled_secret("fleet", "prod", {"kubeconfig": b"x"}),
        exec_results={PROD: result},
    )
    secret_object = find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig")
    assert secret_object.secret_data == {"kubeconfig": kubeconfig("exec")}
    assert secret_object.annotations == {"expires": "later"}
    assert plan.refresh_due == refresh


def test_refresh_due_is_the_earliest_exec_refresh() -> None:
    other = ObjectRef("ClusterProfile", "fleet", "other")
    plan = plan_of(
        profile("fleet", "prod", exec_provider()),
        profile("fleet", "other", exec_provider()),
        exec_results={
            PROD: FakeExecResult(kubeconfig=kubeconfig("a"), refresh_at=NOW + timedelta(hours=2)),
            other: FakeExecResult(kubeconfig=kubeconfig("b"), refresh_at=NOW + timedelta(hours=1)),
        },
    )
    assert plan.refresh_due == NOW + timedelta(hours=1)


def test_no_exec_credentials_no_refresh_due() -> None:
    plan = plan_of(
        profile("fleet", "prod", secret_reader(READER)), secret("fleet", "prod-admin", {"value": kubeconfig("p")})
    )
    assert plan.refresh_due is None


def test_labelled_secret_that_is_not_a_kubeconfig_is_reported() -> None:
    plan = plan_of(profile("fleet", "prod"), labelled_secret("fleet", "prod", {"kubeconfig": b"garbage"}))
    (reason,) = reasons(plan, PROD)
    assert reason.endswith(
        "; no exec provider; Secret fleet/prod-credentials (labelled x-k8s.io/cluster-profile=prod) key kubeconfig: "
        "kubeconfig is not a YAML mapping (got a scalar)"
    )


def test_exec_credentials_with_a_warning_are_used_and_the_warning_is_reported() -> None:
    result = FakeExecResult(kubeconfig=kubeconfig("stored"), warning="credential refresh failed, the stored ...")
    plan = plan_of(profile("fleet", "prod", exec_provider()), exec_results={PROD: result})
    assert find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig").secret_data == {"kubeconfig": kubeconfig("stored")}
    assert [(d.severity, d.reason) for d in plan.diagnostics] == [
        (Severity.WARNING, "exec plugin: credential refresh failed, the stored ...")
    ]


def test_exec_failure_is_a_warning_and_falls_through_to_the_labelled_secret() -> None:
    plan = plan_of(
        profile("fleet", "prod", exec_provider()),
        labelled_secret("fleet", "prod", {"kubeconfig": kubeconfig("l")}),
        exec_results={PROD: FakeExecResult(error="plugin /bin/x exited with status 1: denied")},
    )
    assert find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig").secret_data == {"kubeconfig": kubeconfig("l")}
    assert reasons(plan, PROD) == [
        "exec plugin: plugin /bin/x exited with status 1: denied; using the next credential source instead"
    ]


def test_exec_failure_without_fallback_skips_the_profile_with_the_plugin_error() -> None:
    plan = plan_of(
        profile("fleet", "prod", exec_provider()),
        exec_results={PROD: FakeExecResult(error="plugin /bin/x timed out after 30s")},
    )
    assert plan.objects == ()
    assert reasons(plan, PROD) == [
        (
            "skipped, no usable credentials: no kubeconfig-secretreader provider; exec plugin: plugin /bin/x timed out "
            "after 30s; no Secret labelled x-k8s.io/cluster-profile=prod in namespace fleet"
        )
    ]


def test_exec_result_that_is_not_a_kubeconfig_is_reported() -> None:
    plan = plan_of(
        profile("fleet", "prod", exec_provider()), exec_results={PROD: FakeExecResult(kubeconfig=b"garbage")}
    )
    (reason,) = reasons(plan, PROD)
    assert "exec plugin kubeconfig: kubeconfig is not a YAML mapping (got a scalar)" in reason


def test_exec_result_without_kubeconfig_or_error_is_reported() -> None:
    plan = plan_of(profile("fleet", "prod", exec_provider()), exec_results={PROD: FakeExecResult()})
    (reason,) = reasons(plan, PROD)
    assert "exec plugin: no kubeconfig was produced" in reason


def test_labelled_secret_data_is_copied_whole() -> None:
    data = {"kubeconfig": kubeconfig("l"), "ca.crt": b"CA"}
    plan = plan_of(profile("fleet", "prod"), labelled_secret("fleet", "prod", data))
    assert find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig").secret_data == data
    assert find(plan, "SveltosCluster", "fleet", "prod").fields["spec"]["kubeconfigKeyName"] == "kubeconfig"


def test_labelled_secret_with_seed_config_key_points_the_sveltoscluster_at_it() -> None:
    plan = plan_of(profile("fleet", "prod"), labelled_secret("fleet", "prod", {"config": kubeconfig("l"), "x": b"1"}))
    assert find(plan, "SveltosCluster", "fleet", "prod").fields["spec"]["kubeconfigKeyName"] == "config"


def test_configured_key_wins_over_seed_config_key() -> None:
    data = {"config": kubeconfig("seed"), "kubeconfig": kubeconfig("configured")}
    plan = plan_of(profile("fleet", "prod"), labelled_secret("fleet", "prod", data))
    assert find(plan, "SveltosCluster", "fleet", "prod").fields["spec"]["kubeconfigKeyName"] == "kubeconfig"


def test_labelled_secret_with_one_key_uses_that_key() -> None:
    plan = plan_of(profile("fleet", "prod"), labelled_secret("fleet", "prod", {"admin.conf": kubeconfig("l")}))
    assert find(plan, "SveltosCluster", "fleet", "prod").fields["spec"]["kubeconfigKeyName"] == "admin.conf"


def test_labelled_secret_with_several_unknown_keys_is_reported() -> None:
    plan = plan_of(profile("fleet", "prod"), labelled_secret("fleet", "prod", {"a": b"1", "b": b"2"}))
    (reason,) = reasons(plan, PROD)
    assert reason.endswith(
        "; no exec provider; Secret fleet/prod-credentials has keys a, b, none of them 'kubeconfig' or 'config': "
        "cannot tell which holds the kubeconfig"
    )


def test_labelled_secret_without_data_is_reported() -> None:
    plan = plan_of(profile("fleet", "prod"), labelled_secret("fleet", "prod", {}))
    (reason,) = reasons(plan, PROD)
    assert reason.endswith(
        "; no exec provider; Secret fleet/prod-credentials (labelled x-k8s.io/cluster-profile) has no data"
    )


def test_labelled_secret_in_another_namespace_does_not_count() -> None:
    plan = plan_of(profile("fleet", "prod"), labelled_secret("elsewhere", "prod", {"kubeconfig": kubeconfig("l")}))
    assert plan.objects == () and len(plan.diagnostics) == 1


def test_several_labelled_secrets_are_reported_and_none_is_used() -> None:
    plan = plan_of(
        profile("fleet", "prod"),
        labelled_secret("fleet", "prod", {"kubeconfig": kubeconfig("a")}, name="a"),
        labelled_secret("fleet", "prod", {"kubeconfig": kubeconfig("b")}, name="b"),
    )
    (reason,) = reasons(plan, PROD)
    assert "several Secrets labelled x-k8s.io/cluster-profile=prod in namespace fleet (a, b): label only one" in reason


def test_labelled_secret_written_by_this_program_is_not_a_credential_source() -> None:
    # Our push Secrets carry the profile label too; reading one back would keep stale credentials alive.
    ours = secret(
        "fleet",
        "fleet-prod-kubeconfig",
        {"config": kubeconfig("old")},
        **{"x-k8s.io/cluster-profile": "prod", "app.kubernetes.io/managed-by": "cluster-inventory"},
    )
    plan = plan_of(profile("fleet", "prod"), ours)
    assert plan.objects == () and len(plan.diagnostics) == 1


def test_access_providers_win_over_credential_providers_on_the_same_name() -> None:
    plan = plan_of(
        profile(
            "fleet",
            "prod",
            secret_reader({"name": "new", "key": "k"}),
            credential_providers=(secret_reader({"name": "old", "key": "k"}),),
        ),
        secret("fleet", "new", {"k": kubeconfig("new")}),
        secret("fleet", "old", {"k": kubeconfig("old")}),
    )
    assert find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig").secret_data == {"kubeconfig": kubeconfig("new")}


def test_deprecated_credential_providers_are_still_read() -> None:
    plan = plan_of(
        profile("fleet", "prod", credential_providers=(secret_reader(READER),)),
        secret("fleet", "prod-admin", {"value": kubeconfig("p")}),
    )
    assert find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig").secret_data == {"kubeconfig": kubeconfig("p")}


def test_profile_without_any_credentials_is_skipped_with_the_reason() -> None:
    plan = plan_of(profile("fleet", "prod"))
    assert plan.objects == ()
    assert [str(d) for d in plan.diagnostics] == [
        (
            "warning: ClusterProfile fleet/prod: skipped, no usable credentials: no kubeconfig-secretreader provider; "
            "no exec provider; no Secret labelled x-k8s.io/cluster-profile=prod in namespace fleet"
        )
    ]


def test_kubeconfig_secret_name_over_the_limit_is_reported_naming_the_profile() -> None:
    name = "p" * 240
    plan = plan_of(profile("fleet", name), labelled_secret("fleet", name, {"kubeconfig": kubeconfig("l")}, name="l"))
    assert plan.objects == ()
    (reason,) = reasons(plan, ObjectRef("ClusterProfile", "fleet", name))
    assert reason.startswith("skipped: kubeconfig Secret name 'ppp")
    assert "259 characters long, the limit is 253" in reason


def test_profile_label_the_api_server_would_reject_is_reported() -> None:
    plan = plan_of(
        profile("fleet", "prod", labels={"env": "x" * 64}), labelled_secret("fleet", "prod", {"kubeconfig": b"x"})
    )
    (reason,) = reasons(plan, PROD)
    assert reason.startswith("skipped: SveltosCluster label 'env'")


def test_secretreader_pointing_at_the_output_secret_is_skipped() -> None:
    reader = secret_reader({"name": "prod-sveltos-kubeconfig", "key": "kubeconfig"})
    plan = plan_of(
        profile("fleet", "prod", reader), secret("fleet", "prod-sveltos-kubeconfig", {"kubeconfig": kubeconfig("p")})
    )
    assert plan.objects == ()
    assert reasons(plan, PROD) == [
        "skipped: Secret fleet/prod-sveltos-kubeconfig would overwrite the credential source of ClusterProfile fleet/prod"
    ]


def test_configured_kubeconfig_key_is_used() -> None:
    plan = plan_of(
        profile("fleet", "prod", secret_reader(READER)),
        secret("fleet", "prod-admin", {"value": kubeconfig("p")}),
        settings=seeded(sveltos_kubeconfig_key="config"),
    )
    assert set(find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig").secret_data) == {"config"}
    assert find(plan, "SveltosCluster", "fleet", "prod").fields["spec"]["kubeconfigKeyName"] == "config"


def test_sveltos_mode_other_than_direct_plans_nothing_for_profiles() -> None:
    objects = (
        profile("fleet", "prod", secret_reader(READER)),
        secret("fleet", "prod-admin", {"value": kubeconfig("p")}),
    )
    assert plan_of(*objects, settings=seeded(sveltos_mode=Mode.OFF)).objects == ()
    assert plan_of(*objects, settings=seeded(sveltos_mode=Mode.EVENTS)).objects == ()


def test_broken_secretreader_is_a_warning_and_falls_through_to_the_labelled_secret() -> None:
    plan = plan_of(
        profile("fleet", "prod", secret_reader(READER)),
        labelled_secret("fleet", "prod", {"kubeconfig": kubeconfig("l")}),
    )
    assert find(plan, "Secret", "fleet", "prod-sveltos-kubeconfig").secret_data == {"kubeconfig": kubeconfig("l")}
    assert reasons(plan, PROD) == [
        "kubeconfig-secretreader: source Secret fleet/prod-admin not found; using the next credential source instead"
    ]
