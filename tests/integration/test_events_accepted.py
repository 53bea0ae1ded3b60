"""SPEC §3 C: every Event Framework object the program declares is accepted by the real CRDs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kubernetes import client
from pulumi import automation as auto

from tests.integration.controlplane import ControlPlane
from tests.integration.inventory_objects import EVENT_SOURCES, EVENT_TRIGGERS, Inventory
from tests.integration.project import ProjectStack


def test_event_framework_objects_for_both_features_and_extras_are_applied_and_removed(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    run_id = uuid.uuid4().hex[:6]
    prefix = f"ev-{run_id}"
    managed = f"app.kubernetes.io/managed-by=ci-{run_id}"
    stack = ProjectStack(tmp_path / "project")
    stack.configure(
        kubeconfig=str(control_plane.kubeconfig), pushMode="events", sveltosMode="events",
        eventsNamePrefix=prefix, eventsNamespace=namespace, managedByValue=f"ci-{run_id}",
        capiNamespaces=[namespace], profileNamespaces=[namespace], scheduleIntervalMinutes=0,
        extraEventSources=[{"metadata": {"name": f"{prefix}-extra"}, "spec": {
            "collectResources": True,
            "resourceSelectors": [{"group": "", "version": "v1", "kind": "Service"}]}}],
        extraEventTriggers=[{"metadata": {"name": f"{prefix}-extra"}, "spec": {
            "eventSourceName": f"{prefix}-extra", "oneForEvent": True,
            "policyRefs": [{"kind": "ConfigMap", "name": f"{prefix}-extra-template", "namespace": namespace}],
            "templateResourceRefs": [{"identifier": "Creds", "resource": {
                "apiVersion": "v1", "kind": "Secret", "name": f"{prefix}-extra-secret", "namespace": namespace}}]}}],
        extraConfigMaps=[{"metadata": {"name": f"{prefix}-extra-template",
                                       "annotations": {"projectsveltos.io/instantiate": "ok"}},
                          "data": {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"}}],
    )
    extra_secrets = [{"metadata": {"name": f"{prefix}-extra-secret"}, "stringData": {"token": "SECRET-EXTRA"}}]
    stack.configure_secret("extraSecrets", extra_secrets)
    stack.up()
    inv = Inventory(control_plane.api)
    sources = inv.custom_names(EVENT_SOURCES, selector=managed)
    triggers = inv.custom_names(EVENT_TRIGGERS, selector=managed)
    assert f"{prefix}-push" in sources and f"{prefix}-extra" in sources and len(sources) >= 4
    assert f"{prefix}-push" in triggers and f"{prefix}-extra" in triggers and len(triggers) >= 4
    configmaps = client.CoreV1Api(control_plane.api).list_namespaced_config_map(namespace, label_selector=managed)
    assert len(configmaps.items) >= 4
    assert "SECRET-EXTRA" not in stack.state_text()
    stack.destroy()
    assert inv.custom_names(EVENT_SOURCES, selector=managed) == set()
    assert inv.custom_names(EVENT_TRIGGERS, selector=managed) == set()


def test_credentials_in_plain_text_config_are_refused(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> None:
    stack = ProjectStack(tmp_path / "project")
    stack.configure(kubeconfig=str(control_plane.kubeconfig), pushMode="off", sveltosMode="off",
                    eventsNamespace=namespace, scheduleIntervalMinutes=0,
                    extraSecrets=[{"metadata": {"name": "plain"}, "stringData": {"token": "not-hidden"}}])
    with pytest.raises(auto.CommandError, match="extraSecrets holds Secret data"):
        stack.up()
    stack.configure(extraSecrets=None, kubeconfig=control_plane.kubeconfig.read_text())
    with pytest.raises(auto.CommandError, match="kubeconfig holds a kubeconfig's content"):
        stack.up()
