"""Kubeconfig -> Argo CD cluster config (SPEC §3 D): every kubeconfig setting survives or is reported."""

from __future__ import annotations

import pytest
import yaml

from inventory.credentials.argocd import ConversionError, argocd_cluster
from tests.unit.inventory_support import FIXTURES

KUBECONFIGS = FIXTURES / "argocd-kubeconfigs"


def convert(name: str) -> tuple[str, dict[str, object]]:
    cluster = argocd_cluster((KUBECONFIGS / f"{name}.yaml").read_bytes())
    return cluster.server, dict(cluster.config)


def test_token_becomes_bearer_token_and_ca_data_stays_base64() -> None:
    server, config = convert("token")
    assert server == "https://prod.example:6443"
    assert config == {"bearerToken": "token-of-prod", "tlsClientConfig": {"insecure": False, "caData": "Q0EtUEVN"}}


def test_client_certificate_becomes_cert_and_key_data() -> None:
    _, config = convert("client-cert")
    assert config == {
        "tlsClientConfig": {"insecure": False, "caData": "Q0EtUEVN", "certData": "Q0VSVC1QRU0=", "keyData": "S0VZLVBFTQ=="}
    }


def test_insecure_server_name_proxy_and_compression_survive() -> None:
    server, config = convert("tls-options")
    assert server == "https://10.0.0.7:6443"
    assert config == {
        "bearerToken": "token-of-edge",
        "tlsClientConfig": {"insecure": True, "serverName": "edge.internal"},
        "proxyUrl": "http://proxy.example:3128",
        "disableCompression": True,
    }


def test_exec_plugin_becomes_exec_provider_config_with_env_as_a_map() -> None:
    _, config = convert("exec")
    assert config["execProviderConfig"] == {
        "command": "argocd-k8s-auth",
        "args": ["aws", "--cluster-name", "prod"],
        "env": {"AWS_REGION": "eu-west-1"},
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "installHint": "install argocd-k8s-auth",
    }


def test_current_context_picks_the_cluster_among_several() -> None:
    server, config = convert("several-contexts")
    assert server == "https://two.example"
    assert config["bearerToken"] == "token-two"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("several-contexts-no-current", "no current-context and 2 contexts"),
        ("exec-cluster-info", "needs provideClusterInfo"),
        ("ca-file", "a CA file path"),
        ("auth-provider", "an auth-provider plugin"),
        ("no-credentials", "Argo CD would connect anonymously"),
        ("key-without-cert", "a client certificate needs its key"),
    ],
)
def test_settings_argo_cd_cannot_take_are_reported(name: str, reason: str) -> None:
    with pytest.raises(ConversionError, match=reason):
        convert(name)


def test_interactive_exec_plugin_is_reported() -> None:
    kubeconfig = (KUBECONFIGS / "exec.yaml").read_text().replace("interactiveMode: Never", "interactiveMode: Always")
    with pytest.raises(ConversionError, match="interactiveMode 'Always'"):
        argocd_cluster(kubeconfig.encode())


def test_impersonation_is_reported() -> None:
    document = yaml.safe_load((KUBECONFIGS / "token.yaml").read_text())
    document["users"][0]["user"]["as"] = "admin"
    with pytest.raises(ConversionError, match="impersonation"):
        argocd_cluster(yaml.safe_dump(document).encode())


def test_current_context_naming_a_missing_context_is_reported() -> None:
    kubeconfig = (KUBECONFIGS / "token.yaml").read_text().replace("current-context: prod", "current-context: gone")
    with pytest.raises(ConversionError, match="context 'gone' is not in contexts"):
        argocd_cluster(kubeconfig.encode())


def test_conversion_errors_never_quote_credentials() -> None:
    kubeconfig = (KUBECONFIGS / "token.yaml").read_text().replace("Q0EtUEVN", "not base64 token-of-prod!")
    with pytest.raises(ConversionError) as raised:
        argocd_cluster(kubeconfig.encode())
    assert "certificate-authority-data is not base64" in str(raised.value)
    assert "token-of-prod" not in str(raised.value)
