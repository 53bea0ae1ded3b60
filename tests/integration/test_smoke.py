"""The whole chain: real pulumi CLI + real kubernetes provider + real kube-apiserver + real CRDs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration.controlplane import ControlPlane, tools_env
from tests.integration.pulumi_stack import inline_stack

# As the program does (inventory/stack/resources.py): nothing here owns dependents, so
# there is no reason to wait for the garbage collector.
BACKGROUND = {"pulumi.com/deletionPropagationPolicy": "background"}


def test_pulumi_creates_reads_back_and_destroys_secret_and_sveltoscluster(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = control_plane.kubeconfig.read_text()

    def program() -> None:
        provider = k8s.Provider("local", kubeconfig=pulumi.Output.secret(kubeconfig))
        opts = pulumi.ResourceOptions(provider=provider)
        k8s.core.v1.Secret(
            "smoke-secret",
            metadata={"name": "smoke-kubeconfig", "namespace": namespace, "annotations": BACKGROUND},
            string_data={"kubeconfig": "not-a-real-kubeconfig"},
            opts=opts,
        )
        k8s.apiextensions.CustomResource(
            "smoke-sveltoscluster",
            api_version="lib.projectsveltos.io/v1beta1",
            kind="SveltosCluster",
            metadata={"name": "smoke", "namespace": namespace, "annotations": BACKGROUND},
            spec={"kubeconfigName": "smoke-kubeconfig", "kubeconfigKeyName": "kubeconfig"},
            opts=opts,
        )

    stack = inline_stack(tmp_path, "smoke", "smoke", program)
    up = stack.up()
    assert up.summary.result == "succeeded"

    core = client.CoreV1Api(control_plane.api)
    custom = client.CustomObjectsApi(control_plane.api)
    secret = core.read_namespaced_secret("smoke-kubeconfig", namespace)
    assert secret.data["kubeconfig"]  # stored by the API server
    sveltos = custom.get_namespaced_custom_object(
        "lib.projectsveltos.io", "v1beta1", namespace, "sveltosclusters", "smoke")
    assert sveltos["spec"]["kubeconfigName"] == "smoke-kubeconfig"

    stack.destroy()
    for read in (
        lambda: core.read_namespaced_secret("smoke-kubeconfig", namespace),
        lambda: custom.get_namespaced_custom_object(
            "lib.projectsveltos.io", "v1beta1", namespace, "sveltosclusters", "smoke"),
    ):
        try:
            read()
        except ApiException as err:
            assert err.status == 404
        else:
            raise AssertionError("object still present after pulumi destroy")


def test_preview_needs_no_network_beyond_the_local_cluster(control_plane: ControlPlane, tmp_path: Path) -> None:
    """Every proxy points at a closed port: any plugin download or update check would fail the preview."""
    kubeconfig = control_plane.kubeconfig.read_text()
    closed = "http://127.0.0.1:9"
    no_network = {"HTTPS_PROXY": closed, "HTTP_PROXY": closed, "https_proxy": closed, "http_proxy": closed,
                  "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}

    def program() -> None:
        provider = k8s.Provider("local", kubeconfig=pulumi.Output.secret(kubeconfig))
        k8s.core.v1.ConfigMap("offline", metadata={"name": "offline", "namespace": "default"},
                              data={"k": "v"}, opts=pulumi.ResourceOptions(provider=provider))

    stack = inline_stack(tmp_path, "offline", "offline", program, extra_env=no_network)
    preview = stack.preview()
    assert preview.change_summary.get("create") == 3  # stack, provider, ConfigMap


def test_pulumi_lists_the_built_kubernetes_plugin_without_network() -> None:
    """`pulumi plugin ls` in a network namespace with no route out still finds the provider."""
    result = subprocess.run(
        ["unshare", "--net", "pulumi", "plugin", "ls"], env=tools_env(), capture_output=True, text=True, check=True
    )
    assert "kubernetes" in result.stdout
    assert "4.25.0" in result.stdout
