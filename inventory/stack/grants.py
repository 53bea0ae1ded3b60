"""Grants as Pulumi resources: ``cluster-inventory:index:ConsumerGrant``, one per (workload
cluster, consumer), served by the project's own provider (``inventory.stack.status_provider``).

Why a resource of the project's provider (docs/security.md, "Grants"): one plugin process serves
every grant of the stack, whatever the fleet's size, where a pulumi-kubernetes Provider per
workload cluster costs a plugin process each (about 92 MiB RSS measured); and the grant gets
Pulumi's whole lifecycle: ``preview`` shows what would be created, refreshed or removed on which
cluster, deletions follow the state, ``destroy`` removes every ServiceAccount and binding.

What the provider does (``Minter``, run inside the provider process):

- create and update read the admin kubeconfig from its Secret on the management cluster (the
  grant holds only the Secret's namespace, name and key: no admin credential is ever an input or
  output in the state), make the consumer's ServiceAccount, roles and bindings on the workload
  cluster by server-side apply under ``FIELD_MANAGER`` (idempotent), remove the roles and bindings
  of this consumer it made earlier and no longer wants, and mint a TokenRequest token with the
  grant's lifetime: ``token`` is a secret output, ``expirationTimestamp`` the granted expiry;
- diff reports an update when the grant changed, when the token is due (``token_refresh_reason``:
  80 % of its life, or expiry before the next scheduled run), or when the last attempt failed;
- a workload cluster that fails (unreachable, 401/403, timeout: each call is bounded by
  ``timeoutSeconds``) fails only its grants, and not the run: the grant keeps its previous token
  and outputs and records ``error``; the program reports it (``failedGrants`` output and the log,
  with a warning when the delivered token is close to its expiry), and the next run tries again;
- delete removes the ServiceAccount (which invalidates every token minted for it) and the roles
  and bindings. When the workload cluster is gone from the inventory (its kubeconfig Secret is
  deleted) or the last token it delivered has expired, a cluster that does not answer is let go
  of with nothing to revoke; while that token is still valid, delete fails and the grant stays in
  the state for the next run to try again: a removal that did not revoke must not look done.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi

from inventory.model import GRANTED_TOKEN, DesiredObject
from inventory.plan import GRANT_CONSUMER_LABEL, Binding, Grant, role_name, token_refresh_reason
from inventory.settings import Settings
from inventory.stack.status import Cluster

PACKAGE = "cluster-inventory"
GRANT_TYPE = f"{PACKAGE}:index:ConsumerGrant"
FIELD_MANAGER = "cluster-inventory-grants"
# What a grant is: a change of any of these makes an update (a new ServiceAccount namespace or
# name replaces: the old identity is deleted first so that its tokens die with it).
REPLACING = ("clusterNamespace", "clusterName", "consumer", "serviceAccount")
INPUTS = ("clusterNamespace", "clusterName", "consumer", "kubeconfigSecret", "serviceAccount", "bindings",
          "labels", "tokenLifetimeSeconds", "runIntervalSeconds", "timeoutSeconds")
# Inputs that only say how the provider works (never a new token by themselves).
_POLICY = ("runIntervalSeconds", "timeoutSeconds")
OUTPUTS = ("token", "expirationTimestamp", "issuedAt", "server", "username", "appliedGrant", "error")
FAILED_GRANTS_OUTPUT = "failedGrants"


def grant_inputs(grant: Grant, settings: Settings) -> dict[str, Any]:
    """The grant as the provider's inputs (no credential)."""
    secret = grant.kubeconfig_secret
    return {
        "clusterNamespace": grant.cluster.namespace, "clusterName": grant.cluster.name, "consumer": grant.consumer,
        "kubeconfigSecret": {"namespace": secret.namespace, "name": secret.name, "key": grant.kubeconfig_key},
        **grant.spec(), "tokenLifetimeSeconds": grant.token_lifetime_seconds,
        "runIntervalSeconds": settings.schedule_interval_minutes * 60,
        "timeoutSeconds": settings.grant_timeout_seconds,
    }


class ConsumerGrant(pulumi.CustomResource):
    """One consumer's identity on one workload cluster (``inventory.plan.grants.Grant``)."""

    token: pulumi.Output[str]
    expirationTimestamp: pulumi.Output[str]
    error: pulumi.Output[str]

    def __init__(self, grant: Grant, settings: Settings, opts: pulumi.ResourceOptions) -> None:
        props: dict[str, Any] = {**grant_inputs(grant, settings), **dict.fromkeys(OUTPUTS)}
        super().__init__(GRANT_TYPE, grant.logical_name, props,
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["token"])))


def declare_grants(grants: Sequence[Grant], settings: Settings, opts: pulumi.ResourceOptions,
                   now: datetime) -> tuple[GrantTokens, pulumi.Output[list[str]]]:
    """Every planned grant as a resource (with ``opts``: its parent and the project's provider),
    and the ``failedGrants`` output: the grants whose last attempt failed, logged once applied."""
    declared = {grant.logical_name: ConsumerGrant(grant, settings, opts) for grant in grants}
    names = list(declared)
    states = [pulumi.Output.all(g.error, g.expirationTimestamp) for g in declared.values()]
    interval = timedelta(minutes=settings.schedule_interval_minutes)
    failed = pulumi.Output.all(*states).apply(lambda found: failed_grants(names, found, now, interval))
    return GrantTokens(declared, HeldSecretData(settings)), failed


def failed_grants(names: Sequence[str], states: Sequence[Sequence[Any]], now: datetime,
                  interval: timedelta) -> list[str]:
    """The grants whose last attempt failed, each with why and what its consumer still holds;
    each also logged as a warning."""
    failed = []
    for name, (error, expires) in zip(names, states, strict=True):
        if not error:
            continue
        held = "no token was delivered yet"
        if expires:
            expiry = _parse_time(str(expires))
            held = f"the token delivered earlier stays valid until {expiry.isoformat()}"
            if expiry <= now + max(interval, timedelta(hours=1)):
                held += " (soon: the consumer loses access then unless a run before succeeds)"
        failed.append(f"{name}: {error}; {held}")
    for line in failed:
        pulumi.log.warn(f"grant failed, the run goes on: {line}")
    return failed


class HeldSecretData:
    """What a Secret holds on the management cluster now: the data a consumer's Secret keeps while
    its grant has delivered no token yet (a workload cluster that did not answer when the consumer
    moved to grants keeps its old credential until a run reaches it: no gap). Read at apply time,
    only for those Secrets; none (``{}``) for a Secret that does not exist or cannot be read."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._core: Any = None

    def __call__(self, namespace: str, name: str) -> dict[str, str]:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        from inventory.sources import api_client

        if self._core is None:
            self._core = client.CoreV1Api(api_client(self._settings))
        try:
            secret = self._core.read_namespaced_secret(name, namespace)
        except ApiException as err:
            if err.status != 404:
                pulumi.log.warn(f"Secret {namespace}/{name}: its grant has no token yet and the Secret could not be "
                                f"read to keep its data (HTTP {err.status}): it is written without data")
            return {}
        return dict(secret.data or {})


@dataclass(frozen=True)
class GrantTokens:
    """The declared grants by logical name, and how to read what a Secret holds now."""

    grants: Mapping[str, ConsumerGrant]
    held: Callable[[str, str], dict[str, str]]


def granted_secret_data(obj: DesiredObject, plain: Mapping[str, str], tokens: GrantTokens) -> pulumi.Output[dict[str, str]]:
    """``obj``'s data (``plain`` beside the credential keys) with its grant's token in place of
    ``GRANTED_TOKEN``, a secret. While the grant has delivered no token (its workload cluster has not
    answered since it was planned), what the Secret holds now, or no data for a new one."""
    assert obj.grant is not None and obj.namespace is not None

    def fill(token: str | None) -> dict[str, str]:
        if not token:
            held: dict[str, str] = tokens.held(str(obj.namespace), obj.name)
            return held
        return {**plain, **{key: base64.b64encode(value.replace(GRANTED_TOKEN.encode(), token.encode())).decode("ascii")
                            for key, value in obj.secret_data.items()}}

    return pulumi.Output.secret(tokens.grants[obj.grant].token.apply(fill))


# --- The workload-cluster side, run inside the provider process ----------------------------------


class GrantError(Exception):
    """One grant's step failed; the message names the cluster, the object and the step, never a credential."""


def now() -> datetime:
    return datetime.now(UTC)


def refresh_reason(olds: Mapping[str, Any], news: Mapping[str, Any], now: datetime) -> str | None:
    """Why a grant whose state is ``olds`` needs an update to ``news`` (inputs) now, or None."""
    if olds.get("error"):
        return f"its last attempt failed ({olds['error']})"
    applied = olds.get("appliedGrant") or {}
    wanted = applied_grant(news)
    changed = sorted(key for key in wanted if applied.get(key) != wanted[key])
    if changed:
        return f"{', '.join(changed)} changed"
    issued, expires = olds.get("issuedAt"), olds.get("expirationTimestamp")
    if not issued or not expires or not olds.get("token"):
        return "it has no token"
    return token_refresh_reason(_parse_time(issued), _parse_time(expires), now,
                                timedelta(seconds=float(news.get("runIntervalSeconds") or 0)))


def applied_grant(props: Mapping[str, Any]) -> dict[str, Any]:
    """What of the inputs makes the grant as applied (a change is a new token)."""
    return {key: props.get(key) for key in INPUTS if key not in _POLICY}


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)  # RFC 3339 as the API server writes it, "Z" included


class Minter:
    """Applies grants on workload clusters, reaching each through its admin kubeconfig, which it
    reads from the management cluster at apply time."""

    def __init__(self, management: Cluster) -> None:
        self._cluster = management
        self._core: Any = None
        self._lock = threading.Lock()
        # One client per workload cluster and admin kubeconfig: the grants of several consumers
        # on one cluster share its connections.
        self._workloads: dict[tuple[str, str], Workload] = {}

    def _management(self) -> Any:
        with self._lock:
            if self._core is None:
                from kubernetes import client as k8s

                self._core = k8s.CoreV1Api(self._cluster.api_client())
            return self._core

    def admin_kubeconfig(self, props: Mapping[str, Any]) -> dict[str, Any] | None:
        """The admin kubeconfig the grant's Secret holds; None when the Secret is gone."""
        from kubernetes.client.exceptions import ApiException

        ref = props["kubeconfigSecret"]
        try:
            secret = self._management().read_namespaced_secret(ref["name"], ref["namespace"])
        except ApiException as err:
            if err.status == 404:
                return None
            raise GrantError(f"read kubeconfig Secret {ref['namespace']}/{ref['name']} on the management cluster: "
                             f"HTTP {err.status} {err.reason}") from None
        raw = (secret.data or {}).get(ref["key"])
        if not raw:
            raise GrantError(f"kubeconfig Secret {ref['namespace']}/{ref['name']} has no key {ref['key']}")
        import yaml

        loaded = yaml.safe_load(base64.b64decode(raw))
        if not isinstance(loaded, dict):
            raise GrantError(f"kubeconfig Secret {ref['namespace']}/{ref['name']} key {ref['key']} is not a kubeconfig")
        return loaded

    def _workload(self, admin: Mapping[str, Any], props: Mapping[str, Any]) -> Workload:
        import hashlib

        key = (_cluster_name(props), hashlib.sha256(json.dumps(admin, sort_keys=True).encode()).hexdigest())
        with self._lock:
            found = self._workloads.get(key)
        if found is None or found.timeout != float(props["timeoutSeconds"]):
            found = Workload(admin, float(props["timeoutSeconds"]), key[0])
            with self._lock:
                self._workloads[key] = found
        return found

    def apply(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Make the grant on its workload cluster and mint a token: the new outputs."""
        admin = self.admin_kubeconfig(props)
        if admin is None:
            ref = props["kubeconfigSecret"]
            raise GrantError(f"kubeconfig Secret {ref['namespace']}/{ref['name']} is gone")
        cluster = self._workload(admin, props)
        account = props["serviceAccount"]
        labels = dict(props.get("labels") or {})
        cluster.apply(f"/api/v1/namespaces/{account['namespace']}", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": account["namespace"], "labels": labels}},
            create_only=True)
        cluster.apply(f"/api/v1/namespaces/{account['namespace']}/serviceaccounts/{account['name']}", {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": account["name"], "namespace": account["namespace"], "labels": labels}})
        wanted = set()
        for binding in props.get("bindings") or []:
            for path, body in binding_objects(props["consumer"], account, labels, binding):
                cluster.apply(path, body)
                wanted.add(path)
        cluster.prune(props["consumer"], labels, wanted)
        issued = now()
        status = cluster.token_request(account, int(props["tokenLifetimeSeconds"]))
        return {"token": status["token"], "expirationTimestamp": status["expirationTimestamp"],
                "issuedAt": issued.strftime("%Y-%m-%dT%H:%M:%SZ"), "server": cluster.server,
                "username": f"system:serviceaccount:{account['namespace']}:{account['name']}",
                "appliedGrant": applied_grant(props), "error": ""}

    def delete(self, props: Mapping[str, Any]) -> None:
        """Remove the grant's ServiceAccount, roles and bindings from its workload cluster."""
        try:
            admin = self.admin_kubeconfig(props)
        except GrantError:
            if _expired(props):
                return
            raise
        if admin is None:
            return  # the cluster left the inventory, or the token expired: nothing left to revoke
        cluster = self._workload(admin, props)
        account = props["serviceAccount"]
        labels = dict(props.get("labels") or {})
        try:
            cluster.delete(f"/api/v1/namespaces/{account['namespace']}/serviceaccounts/{account['name']}")
            cluster.prune(props["consumer"], labels, set())
            cluster.release_namespace(account["namespace"], _owner_labels(labels))
        except GrantError as err:
            if _expired(props):
                return
            raise GrantError(f"{err}; the token delivered for it stays valid until {props.get('expirationTimestamp')}, "
                             "so the grant stays in the state and the next run tries again (docs/security.md, "
                             "\"Grants\")") from None


def _owner_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that say the program made an object, whichever consumer it serves."""
    return {key: value for key, value in labels.items() if key != GRANT_CONSUMER_LABEL}


def _expired(props: Mapping[str, Any]) -> bool:
    expires = props.get("expirationTimestamp")
    return not expires or _parse_time(str(expires)) <= now()


def _cluster_name(props: Mapping[str, Any]) -> str:
    return f"workload cluster of Cluster {props['clusterNamespace']}/{props['clusterName']}"


def binding_objects(consumer: str, account: Mapping[str, str], labels: Mapping[str, str],
                    binding: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The role (for rules) and binding ``binding`` makes, as (API path, object)."""
    spec = Binding(binding.get("namespace") or None, binding.get("clusterRole") or None,
                   tuple(binding.get("rules") or ()))
    name = role_name(consumer, spec.cluster_role)
    subject = {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    scope = f"{rbac}/namespaces/{spec.namespace}" if spec.namespace else rbac
    meta = {"name": name, "labels": dict(labels), **({"namespace": spec.namespace} if spec.namespace else {})}
    objects: list[tuple[str, dict[str, Any]]] = []
    if spec.cluster_role:
        role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": spec.cluster_role}
    else:
        role_kind = "Role" if spec.namespace else "ClusterRole"
        objects.append((f"{scope}/{role_kind.lower()}s/{name}", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": role_kind, "metadata": meta,
            "rules": [dict(rule) for rule in spec.rules]}))
        role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name}
    binding_kind = "RoleBinding" if spec.namespace else "ClusterRoleBinding"
    objects.append((f"{scope}/{binding_kind.lower()}s/{name}", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding_kind, "metadata": meta,
        "roleRef": role_ref, "subjects": [subject]}))
    return objects


def _selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


# The RBAC kinds a grant makes, by the list path that finds them across namespaces.
_OWNED_KINDS = ("clusterrolebindings", "clusterroles", "rolebindings", "roles")


class Workload:
    """One workload cluster, reached with its admin kubeconfig; every call bounded by ``timeout``."""

    def __init__(self, kubeconfig: Mapping[str, Any], timeout: float, name: str) -> None:
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            config.load_kube_config_from_dict(dict(kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
        except Exception as err:  # noqa: BLE001 - the loader raises many kinds; say which step failed
            raise GrantError(f"{name}: its admin kubeconfig cannot be used: {type(err).__name__}") from None
        configuration.retries = 0  # a cluster that does not answer fails once, within the timeout
        self.api = client.ApiClient(configuration)
        self.server = str(configuration.host)
        self.timeout = timeout
        self.name = name

    def _call(self, method: str, path: str, body: Any = None, query: Sequence[tuple[str, str]] = (),
              content_type: str = "application/json") -> Any:
        try:
            _, url, headers, serialized, _ = self.api.param_serialize(
                method=method, resource_path=path, query_params=list(query), body=body,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                auth_settings=["BearerToken"])
            response = self.api.call_api(method, url, header_params=headers, body=serialized,
                                         _request_timeout=self.timeout)
            response.read()  # type: ignore[no-untyped-call]
        except Exception as err:  # noqa: BLE001 - urllib3's connection, TLS and timeout errors
            raise GrantError(f"{self.name} ({self.server}) does not answer: {method} {path}: "
                             f"{type(err).__name__}") from None
        if not 200 <= response.status < 300:
            raise GrantStatus(response.status, f"{self.name}: {method} {path}: HTTP {response.status} "
                                               f"{response.reason}")
        return json.loads(response.data) if response.data else None

    def apply(self, path: str, body: Mapping[str, Any], *, create_only: bool = False) -> None:
        """Server-side apply ``body`` at ``path`` under ``FIELD_MANAGER``; ``create_only``: leave an
        existing object as it is (a namespace others may label too)."""
        if create_only:
            try:
                self._call("GET", path)
                return
            except GrantStatus as err:
                if err.status != 404:
                    raise
        self._call("PATCH", path, dict(body), [("fieldManager", FIELD_MANAGER), ("force", "true")],
                   "application/apply-patch+yaml")

    def delete(self, path: str) -> None:
        try:
            self._call("DELETE", path)
        except GrantStatus as err:
            if err.status != 404:
                raise

    def prune(self, consumer: str, labels: Mapping[str, str], wanted: set[str]) -> None:
        """Delete the consumer's roles and bindings (found by its labels) that are not ``wanted``."""
        selector = _selector(labels)
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        for plural in _OWNED_KINDS:
            found = self._call("GET", f"{rbac}/{plural}", query=[("labelSelector", selector)])
            for item in (found or {}).get("items") or []:
                meta = item.get("metadata") or {}
                namespace = meta.get("namespace")
                path = (f"{rbac}/namespaces/{namespace}/{plural}/{meta.get('name')}" if namespace
                        else f"{rbac}/{plural}/{meta.get('name')}")
                if path not in wanted:
                    self.delete(path)

    def release_namespace(self, namespace: str, owner: Mapping[str, str]) -> None:
        """Delete the ServiceAccount namespace once no grant of the program has a ServiceAccount
        there, if the program made it (it carries ``owner``'s labels). Each grant deletes its own
        ServiceAccount before it looks, so of grants deleted side by side the last one to delete
        sees none left and takes the namespace; none is left behind."""
        selector = _selector(owner)
        left = self._call("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts", query=[("labelSelector", selector)])
        if (left or {}).get("items"):
            return
        try:
            found = self._call("GET", f"/api/v1/namespaces/{namespace}")
        except GrantStatus as err:
            if err.status == 404:
                return
            raise
        labels = ((found or {}).get("metadata") or {}).get("labels") or {}
        if all(labels.get(key) == value for key, value in owner.items()):
            self.delete(f"/api/v1/namespaces/{namespace}")

    def token_request(self, account: Mapping[str, str], lifetime: int) -> dict[str, str]:
        path = f"/api/v1/namespaces/{account['namespace']}/serviceaccounts/{account['name']}/token"
        found = self._call("POST", path, {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": lifetime}})
        status = (found or {}).get("status") or {}
        if not status.get("token") or not status.get("expirationTimestamp"):
            raise GrantError(f"{self.name}: TokenRequest for ServiceAccount {account['namespace']}/{account['name']} "
                             "returned no token")
        return {"token": str(status["token"]), "expirationTimestamp": str(status["expirationTimestamp"])}


class GrantStatus(GrantError):
    """The workload cluster answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
