"""What this package knows about Sveltos' Event Framework API (libsveltos / event-manager v1.5.0).

One place for the API versions, annotations and limits the builders rely on, each with
the reason it matters; the CRD schemas themselves are checked by the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inventory.model import MAX_LABEL_VALUE_LENGTH, is_label_value, name_problem

# EventSource (libsveltos) and EventTrigger (event-manager): cluster-scoped, v1beta1 is
# the storage version of both CRDs.
API_VERSION = "lib.projectsveltos.io/v1beta1"
EVENT_SOURCE = "EventSource"
EVENT_TRIGGER = "EventTrigger"

# A ConfigMap/Secret referenced by an EventTrigger's policyRefs is instantiated per event
# (a Go template over the event) only when it carries this annotation; its value is
# ignored. Without it, Sveltos deploys the content verbatim.
INSTANTIATE_ANNOTATION = "projectsveltos.io/instantiate"
INSTANTIATE_VALUE = "ok"

# event-manager copies a template's annotations onto the ConfigMap it instantiates; with
# this one (libsveltos PolicyTemplateAnnotation) addon-controller instantiates that
# ConfigMap again when it deploys, with getResource reaching the ClusterProfile's
# templateResourceRefs. The templates writing credentials (push Secrets, B's kubeconfig
# Secrets) use the second pass to read each source Secret at deploy time instead of
# carrying it through the EventReport.
POLICY_TEMPLATE_ANNOTATION = "projectsveltos.io/template"

# event-manager copies EventSource, EventTrigger and referenced ConfigMap/Secret names,
# and each matching resource's name and namespace, into label values of the objects it
# creates (eventtrigger.lib.projectsveltos.io/eventtriggername, .../refname,
# .../resourcename; projectsveltos.io/eventsource-name on EventReports). A longer name
# would make every event fail at the API server, so it is rejected while planning.
MAX_EVENT_NAME_LENGTH = MAX_LABEL_VALUE_LENGTH

# The aggregatedSelection Lua emits synthetic resources; only their kind must be set for
# sveltos-agent to decode them. The group marks them as this project's, not an API.
TARGET_API_VERSION = "targets.cluster-inventory.projectsveltos.io/v1alpha1"

# EventTrigger.spec.policyRefs[].kind values the CRD allows.
POLICY_REF_KINDS = ("ConfigMap", "Secret", "GitRepository", "OCIRepository", "Bucket")
LABEL_FILTER_OPERATIONS = ("Equal", "Different", "Has", "DoesNotHave")


def event_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an Event Framework object (or a ConfigMap it references), or None."""
    problem = name_problem(name)
    if problem is not None:
        return problem
    if len(name) > MAX_EVENT_NAME_LENGTH or not is_label_value(name):
        return (
            f"name {name!r} is {len(name)} characters long; Sveltos copies it into label "
            f"values, whose limit is {MAX_EVENT_NAME_LENGTH}"
        )
    return None


def management_selector(match_labels: Mapping[str, str]) -> dict[str, Any]:
    """EventTrigger.spec.sourceClusterSelector for the management cluster."""
    return {"matchLabels": dict(sorted(match_labels.items()))}
