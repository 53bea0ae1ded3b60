"""Pulumi's state as `pulumi stack export` prints it and `pulumi stack import` takes it: the one
module that reads or rewrites that document (``python -m inventory reshard`` does both).

Pulumi documents the format (pkg/apitype: ``UntypedDeployment``, ``DeploymentV3``,
``ResourceV3``) but not as a promise to programs that edit it, so every assumption this module
makes is a constant of the block below, and tests/integration/test_state_format.py checks each
one against the pinned CLI (tools/versions.env): it declares a tiny stack, exports it, checks the
constants, rewrites the export with this module's functions, imports it and expects a preview
with no changes. A Pulumi release that changes any of them fails that test before it fails a
reshard.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

# The export: {"version": N, "deployment": {"manifest": {...}, "resources": [...], ...}}. Pulumi
# 3.259 writes version 3, and 4 once a resource uses a newer field (``replaceWith``); the other
# fields of those versions are the same. An export of any other version is refused: a field this
# module does not know might hold a URN it would fail to follow.
VERSION_KEY = "version"
DEPLOYMENT_KEY = "deployment"
KNOWN_VERSIONS = (3, 4)
# What the export of a stack with no resources says (no ``resources`` key at all); a state this
# module writes into such a stack keeps it.
EMPTY_STACK_VERSION = 3
MANIFEST_KEY = "manifest"
MANIFEST_FIELDS = ("time", "magic", "version")
RESOURCES_KEY = "resources"

# A resource's fields this module reads or writes. ``delete`` marks a resource that waits to be
# deleted (a replacement whose old copy's delete failed): it is not one the program declares.
URN = "urn"
TYPE = "type"
CUSTOM = "custom"
ID = "id"
PARENT = "parent"
PROVIDER = "provider"
INPUTS = "inputs"
OUTPUTS = "outputs"
DEPENDENCIES = "dependencies"
PROPERTY_DEPENDENCIES = "propertyDependencies"
DELETED_WITH = "deletedWith"
REPLACE_WITH = "replaceWith"
DELETE = "delete"
# Every field that names other resources by URN, by how it holds them: a resource renamed here
# is renamed in each. A field of this kind that Pulumi adds later must be added here.
URN_FIELDS = (PARENT, DELETED_WITH)
URN_LIST_FIELDS = (DEPENDENCIES, REPLACE_WITH)
URN_MAP_FIELDS = (PROPERTY_DEPENDENCIES,)
# A provider reference (the ``provider`` field): the provider resource's URN and ID.
PROVIDER_REFERENCE_DELIMITER = "::"

# A URN: ``urn:pulumi:<stack>::<project>::<qualified type>::<name>``, where the qualified type is
# the types of the resource's ancestors below the root stack, then its own, joined by ``$``.
URN_PREFIX = "urn:pulumi:"
URN_DELIMITER = "::"
TYPE_DELIMITER = "$"
# The root stack resource, parent of every resource declared without one; named
# ``<project>-<stack>``. The program's stack outputs are its outputs.
ROOT_TYPE = "pulumi:pulumi:Stack"
# Provider resources (a default provider is named ``default``; a dynamic resource's is
# ``pulumi-python``'s, whose inputs hold the stack's whole config, ``<project>:<key>``).
PROVIDER_TYPE_PREFIX = "pulumi:providers:"
# Resources of pulumi-kubernetes; their inputs hold the object's ``apiVersion`` and ``kind``.
KUBERNETES_TYPE_PREFIX = "kubernetes:"
KUBERNETES_INPUTS = ("apiVersion", "kind")
# A secret value: this key and value, its ``ciphertext`` beside them.
SECRET_SIGNATURE = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
SECRET_CIPHERTEXT = "ciphertext"


class StateFormatError(Exception):
    """A stack's exported state is not in a form this module knows how to read or rewrite."""


Resource = dict[str, Any]


def deployment_of(exported: Mapping[str, Any], stack: str) -> dict[str, Any]:
    """The deployment of ``exported`` (`pulumi stack export` of ``stack``), checked to be in a known version."""
    version = exported.get(VERSION_KEY)
    if version not in KNOWN_VERSIONS:
        raise StateFormatError(f"the state of stack {stack} is in version {version} of Pulumi's export format; this "
                               f"command knows versions {', '.join(map(str, KNOWN_VERSIONS))} (the Pulumi CLI of "
                               f"tools/versions.env): use that CLI, or update inventory/stack/state_format.py")
    deployment: dict[str, Any] = exported.get(DEPLOYMENT_KEY) or {}
    return deployment


def resources_of(deployment: Mapping[str, Any]) -> list[Resource]:
    """The resources of ``deployment`` that the program declared (none waiting to be deleted)."""
    return [r for r in deployment.get(RESOURCES_KEY) or () if not r.get(DELETE)]


def urn_of(resource: Mapping[str, Any]) -> str:
    return str(resource[URN])


def type_of(resource: Mapping[str, Any]) -> str:
    return str(resource.get(TYPE, ""))


def name_of(resource: Mapping[str, Any]) -> str:
    """The logical name the program gave ``resource``."""
    return urn_of(resource).rsplit(URN_DELIMITER, 1)[-1]


def inputs_of(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    return resource.get(INPUTS) or {}


def dependencies_of(resource: Mapping[str, Any]) -> list[str]:
    return [str(urn) for urn in resource.get(DEPENDENCIES) or ()]


def is_kubernetes_object(resource: Mapping[str, Any]) -> bool:
    return type_of(resource).startswith(KUBERNETES_TYPE_PREFIX)


def is_provider(resource: Mapping[str, Any]) -> bool:
    return type_of(resource).startswith(PROVIDER_TYPE_PREFIX)


def provider_key(resource: Mapping[str, Any]) -> str:
    """``type::name``: what a provider is called in every stack of the project, whatever its URN's stack."""
    return f"{type_of(resource)}{URN_DELIMITER}{name_of(resource)}"


def is_root(resource: Mapping[str, Any]) -> bool:
    return resource.get(TYPE) == ROOT_TYPE and not resource.get(PARENT)


def is_child_of(resource: Mapping[str, Any], parent: Mapping[str, Any]) -> bool:
    return resource.get(PARENT) == parent.get(URN)


def kubernetes_kind(resource: Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any]]:
    """A kubernetes object's apiVersion, kind and other inputs, as it was last deployed."""
    inputs = inputs_of(resource)
    api_version, kind = (str(inputs.get(key)) for key in KUBERNETES_INPUTS)
    return api_version, kind, inputs


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SECRET_SIGNATURE[0]) == SECRET_SIGNATURE[1]


def root_of(resources: Iterable[Resource]) -> Resource | None:
    return next((r for r in resources if is_root(r)), None)


def root_outputs(exported: Mapping[str, Any]) -> Mapping[str, Any]:
    """The stack outputs of the last run (or of the last rewrite) in ``exported``; empty for a new stack."""
    root = root_of((exported.get(DEPLOYMENT_KEY) or {}).get(RESOURCES_KEY) or ())
    outputs: Mapping[str, Any] = (root or {}).get(OUTPUTS) or {}
    return outputs


def urn(stack: str, project: str, qualified_type: str, name: str) -> str:
    return f"{URN_PREFIX}{stack}{URN_DELIMITER}{project}{URN_DELIMITER}{qualified_type}{URN_DELIMITER}{name}"


def stack_and_project(resource: Mapping[str, Any]) -> tuple[str, str]:
    """The stack and project named in ``resource``'s URN."""
    stack, project = urn_of(resource).removeprefix(URN_PREFIX).split(URN_DELIMITER)[:2]
    return stack, project


def root_urn(stack: str, project: str) -> str:
    return urn(stack, project, ROOT_TYPE, f"{project}-{stack}")


def child_urn(resource: Mapping[str, Any], parent_type: str) -> str:
    """``resource``'s URN once it is the child of a component of ``parent_type`` that is a child of the root."""
    stack, project = stack_and_project(resource)
    return urn(stack, project, f"{parent_type}{TYPE_DELIMITER}{type_of(resource)}", name_of(resource))


def follow(resource: Resource, renamed: Mapping[str, str]) -> None:
    """``resource``'s references to the URNs in ``renamed`` rewritten to their new URNs."""
    for field in URN_FIELDS:
        if resource.get(field) in renamed:
            resource[field] = renamed[resource[field]]
    for field in URN_LIST_FIELDS:
        if resource.get(field):
            resource[field] = [renamed.get(urn, urn) for urn in resource[field]]
    for field in URN_MAP_FIELDS:
        if resource.get(field):
            resource[field] = {key: [renamed.get(urn, urn) for urn in urns or []]
                               for key, urns in resource[field].items()}
    provider_urn, _, provider_id = str(resource.get(PROVIDER) or "").rpartition(PROVIDER_REFERENCE_DELIMITER)
    if provider_urn in renamed:
        resource[PROVIDER] = f"{renamed[provider_urn]}{PROVIDER_REFERENCE_DELIMITER}{provider_id}"


def nest(deployment: dict[str, Any], component_type: str, component_name: str,
         moves: Callable[[Resource], bool]) -> dict[str, Any]:
    """``deployment`` with each child of the root for which ``moves`` is true made a child of the
    root's component ``component_type::component_name`` (created if there is none): it gets the URN
    it has when the program declares it there, and every reference to its old URN follows. Resources
    of ``component_type`` stay where they are."""
    resources = deployment.get(RESOURCES_KEY) or []
    root = root_of(resources)
    if root is None:
        raise StateFormatError("the stack has no root resource; run `pulumi stack export` to inspect it")
    stack, project = stack_and_project(root)
    component_urn = urn(stack, project, component_type, component_name)
    orphans = [r for r in resources if is_child_of(r, root) and type_of(r) != component_type and moves(r)]
    if orphans and not any(r.get(URN) == component_urn for r in resources):
        component = {URN: component_urn, CUSTOM: False, TYPE: component_type, PARENT: root[URN]}
        resources.insert(resources.index(root) + 1, component)
    renamed = {}
    for resource in orphans:
        new_urn = child_urn(resource, component_type)
        renamed[urn_of(resource)] = new_urn
        resource[PARENT], resource[URN] = component_urn, new_urn
    if renamed:
        for resource in resources:
            follow(resource, renamed)
    deployment[RESOURCES_KEY] = resources
    return deployment


def without(deployment: dict[str, Any], urns: Collection[str]) -> dict[str, Any]:
    """``deployment`` without the resources whose URNs are in ``urns``."""
    deployment[RESOURCES_KEY] = [r for r in deployment.get(RESOURCES_KEY) or [] if r.get(URN) not in urns]
    return deployment


def with_root(exported: Mapping[str, Any], stack: str, project: str) -> dict[str, Any]:
    """``exported``, with the root stack resource a stack with no state yet lacks, as `pulumi
    state move` would create it."""
    deployment = dict(exported.get(DEPLOYMENT_KEY) or {})
    resources = list(deployment.get(RESOURCES_KEY) or [])
    if root_of(resources) is None:
        resources.insert(0, {URN: root_urn(stack, project), CUSTOM: False, TYPE: ROOT_TYPE})
        deployment.setdefault(MANIFEST_KEY, dict(zip(MANIFEST_FIELDS, (datetime.now(UTC).isoformat(), "", ""),
                                                     strict=True)))
    deployment[RESOURCES_KEY] = resources
    return {**exported, VERSION_KEY: exported.get(VERSION_KEY, EMPTY_STACK_VERSION), DEPLOYMENT_KEY: deployment}


def change_root_outputs(deployment: Mapping[str, Any], change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """The stack outputs in ``deployment`` replaced by ``change(a copy of them)``."""
    root = root_of(deployment.get(RESOURCES_KEY) or ())
    if root is None:
        raise StateFormatError("the stack has no root resource; run `pulumi stack export` to inspect it")
    root[OUTPUTS] = change(dict(root.get(OUTPUTS) or {}))


def providers_under(exports: Iterable[Mapping[str, Any]], component_type: str) -> set[str]:
    """``provider_key`` of each provider that is a child of a component of ``component_type`` (in any export)."""
    found = set()
    for exported in exports:
        resources = (exported.get(DEPLOYMENT_KEY) or {}).get(RESOURCES_KEY) or ()
        components = {r.get(URN) for r in resources if r.get(TYPE) == component_type}
        found |= {provider_key(r) for r in resources if is_provider(r) and r.get(PARENT) in components}
    return found


def align_providers(deployment: Mapping[str, Any], canonical: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Give each provider in ``deployment`` the plain inputs its namesake has in the other stacks.

    `pulumi state move` puts a moved resource on the destination's provider of the same URN
    only when that provider has the same ID or the same inputs; otherwise it refuses ("provider
    ... already exists in destination stack"). A default provider's inputs hold the stack's
    own config (the `pulumi-python` provider of dynamic resources, feature E's statuses, gets all
    of it), and ``shardIndex`` differs from shard to shard. So, for the moves, every stack's
    provider of a given ``type::name`` takes the plain (non-secret) inputs of the first stack
    seen with it (``canonical``, filled in as stacks come); a secret input keeps the stack's own
    ciphertext (one stack cannot read another's; `state move` compares the plain values).
    Returns the inputs changed, by ``type::name``, for ``restore_providers`` to put back."""
    originals: dict[str, dict[str, Any]] = {}
    for resource in resources_of(deployment):
        if not is_provider(resource):
            continue
        key = provider_key(resource)
        inputs = dict(inputs_of(resource))
        if key not in canonical:
            canonical[key] = inputs
            continue
        aligned = {name: inputs[name] if is_secret(value) or is_secret(inputs.get(name)) else value
                   for name, value in canonical[key].items()
                   if name in inputs or not is_secret(value)}
        if aligned != inputs:
            originals[key] = inputs
            resource[INPUTS] = aligned
    return originals


def restore_providers(deployment: Mapping[str, Any], originals: Mapping[str, Mapping[str, Any]]) -> None:
    """The inputs ``align_providers`` changed, put back (a provider copied in keeps what it came with)."""
    for resource in deployment.get(RESOURCES_KEY) or ():
        if is_provider(resource) and provider_key(resource) in originals:
            resource[INPUTS] = dict(originals[provider_key(resource)])
