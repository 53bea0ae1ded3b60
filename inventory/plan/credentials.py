"""A ClusterProfile's credentials (SPEC §3 B): kubeconfig-secretreader -> exec plugin -> labelled Secret.

Pure planning, one step of ``inventory.plan.compose.build_plan``: the first source that applies
gives the kubeconfig Secret content that feature B (``inventory.plan.sveltos``) writes
next to a SveltosCluster and that Argo CD's profiles source converts. Exec-plugin results
were resolved at the edge beforehand (``inventory.credentials.exec.resolve``); planning only reads them
through ``ExecCredentials``. A source that applies but is broken is reported on the shared
``PlanContext``; a Secret copied from is recorded there so that no planned object overwrites it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from inventory.credentials import SECRET_READER_PROVIDER, SecretReference, secret_reader_reference
from inventory.model import ClusterProfile, ObjectRef, Secret, sveltos_kubeconfig_secret_name
from inventory.plan.context import PlanContext

# Seed 001's SveltosCluster reads this key: a labelled Secret written for the seed has it.
SEED_SVELTOS_KUBECONFIG_KEY = "config"


class ExecCredentials(Protocol):
    """What planning reads of an exec-plugin result (``inventory.credentials.exec.reuse.ExecResult``)."""

    @property
    def kubeconfig(self) -> bytes | None: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...

    @property
    def refresh_at(self) -> datetime | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def warning(self) -> str | None: ...


@dataclass(frozen=True)
class Credentials:
    """A ClusterProfile's kubeconfig Secret content and where it came from."""

    data: Mapping[str, bytes]
    key: str  # the SveltosCluster's kubeconfigKeyName
    source: ObjectRef | None  # the Secret copied from, if any
    annotations: Mapping[str, str] = field(default_factory=dict)
    refresh_at: datetime | None = None


class _NoCredentials(Exception):
    """One credential source does not apply; the message says why."""


class CredentialLookup:
    """Finds each ClusterProfile's credentials once, against indexes built once."""

    def __init__(self, context: PlanContext) -> None:
        self._context = context
        self._settings = context.settings
        self._secrets = {(s.namespace, s.name): s for s in context.inventory.secrets}
        self._labelled_secrets = self._index_labelled_secrets()
        # Features B and D resolve the same credentials: once each, reported once.
        self._profile_credentials_found: dict[ObjectRef, Credentials | None] = {}

    def profile_credentials(
        self, profile: ClusterProfile, exec_results: Mapping[ObjectRef, ExecCredentials]
    ) -> Credentials | None:
        """The profile's credentials from the first source that applies, else None (reported once)."""
        if profile.ref not in self._profile_credentials_found:
            self._profile_credentials_found[profile.ref] = self._find_profile_credentials(profile, exec_results)
        return self._profile_credentials_found[profile.ref]

    def _find_profile_credentials(
        self, profile: ClusterProfile, exec_results: Mapping[ObjectRef, ExecCredentials]
    ) -> Credentials | None:
        """The first credential source that applies (SPEC §3 B); each that fails is reported."""
        label = f"{self._settings.profile_label}={profile.name}"
        sources: tuple[tuple[str, Callable[[], Credentials | None]], ...] = (
            (f"no {SECRET_READER_PROVIDER} provider", lambda: self._secret_reader_credentials(profile)),
            ("no exec provider", lambda: self._exec_credentials(profile, exec_results.get(profile.ref))),
            (
                f"no Secret labelled {label} in namespace {profile.namespace}",
                lambda: self._labelled_secret_credentials(profile),
            ),
        )
        reasons: list[str] = []  # why each source before the one used did not apply, in order
        failures: list[str] = []  # the sources that apply but are broken: worth a warning either way
        for absent, source in sources:
            try:
                credentials = source()
            except _NoCredentials as err:
                reasons.append(str(err))
                failures.append(str(err))
                continue
            if credentials is None:
                reasons.append(absent)
                continue
            if failures:
                self._context.warn(profile.ref, f"{'; '.join(failures)}; using the next credential source instead")
            if credentials.source is not None:
                self._context.used_as_credentials(credentials.source, profile.ref)
            return credentials
        self._context.warn(profile.ref, "skipped, no usable credentials: " + "; ".join(reasons))
        return None

    def _secret_reader_credentials(self, profile: ClusterProfile) -> Credentials | None:
        try:
            reference = secret_reader_reference(profile)
        except ValueError as err:
            raise _NoCredentials(str(err)) from None
        if reference is None:
            return None
        where = f"{SECRET_READER_PROVIDER}: source Secret {reference.namespace}/{reference.name}"
        if profile.published_from is None and not self._settings.may_read_secret(profile.namespace,
                                                                                  reference.namespace):
            raise _NoCredentials(
                f"{where} refused: it is outside the profile's namespace, and secretReaderRoutes does not route "
                f"ClusterProfiles of namespace {profile.namespace} to Secrets of namespace {reference.namespace}")
        secret = self._secrets.get((reference.namespace, reference.name))
        if secret is None:
            raise _NoCredentials(f"{where} not found")
        if reference.key not in secret.data:
            raise _NoCredentials(f"{where} has no key {reference.key!r} (keys: {_keys(secret)})")
        kubeconfig = secret.data[reference.key]
        self._check_kubeconfig(kubeconfig, f"{where} key {reference.key}", secret.ref)
        key = self._settings.sveltos_kubeconfig_key
        return Credentials(data={key: kubeconfig}, key=key, source=_secret_ref(reference))

    def _exec_credentials(self, profile: ClusterProfile, result: ExecCredentials | None) -> Credentials | None:
        if result is None:
            return None
        if result.error is not None:
            raise _NoCredentials(f"exec plugin: {result.error}")
        if result.kubeconfig is None:
            raise _NoCredentials("exec plugin: no kubeconfig was produced")
        # A stored credential is reused from the profile's namespace, where a tenant may have planted
        # one: checked as tenant-written, although what this program mints is always static.
        stored_at = ObjectRef("Secret", profile.namespace, sveltos_kubeconfig_secret_name(profile.name))
        self._check_kubeconfig(result.kubeconfig, "exec plugin kubeconfig", stored_at)
        if result.warning is not None:
            self._context.warn(profile.ref, f"exec plugin: {result.warning}")
        return Credentials(
            data={self._settings.sveltos_kubeconfig_key: result.kubeconfig},
            key=self._settings.sveltos_kubeconfig_key,
            source=None,
            annotations=dict(result.annotations),
            refresh_at=result.refresh_at,
        )

    def _labelled_secret_credentials(self, profile: ClusterProfile) -> Credentials | None:
        """Seed 001: copy a Secret labelled with the profile's name; its kubeconfig key must exist."""
        candidates = self._labelled_secrets.get((profile.namespace, profile.name), [])
        if not candidates:
            return None
        label = f"{self._settings.profile_label}={profile.name}"
        if len(candidates) > 1:
            names = ", ".join(s.name for s in candidates)
            raise _NoCredentials(
                f"several Secrets labelled {label} in namespace {profile.namespace} ({names}): label only one"
            )
        secret = candidates[0]
        key = self._labelled_secret_key(secret)
        self._check_kubeconfig(secret.data[key], f"{secret.ref} (labelled {label}) key {key}", secret.ref)
        return Credentials(data=secret.data, key=key, source=secret.ref)

    def _labelled_secret_key(self, secret: Secret) -> str:
        """The configured key, else seed 001's ``config``, else the only key."""
        for key in (self._settings.sveltos_kubeconfig_key, SEED_SVELTOS_KUBECONFIG_KEY):
            if key in secret.data:
                return key
        if len(secret.data) == 1:
            return next(iter(secret.data))
        if not secret.data:
            raise _NoCredentials(f"{secret.ref} (labelled {self._settings.profile_label}) has no data")
        raise _NoCredentials(
            f"{secret.ref} has keys {_keys(secret)}, none of them "
            f"{self._settings.sveltos_kubeconfig_key!r} or {SEED_SVELTOS_KUBECONFIG_KEY!r}: "
            "cannot tell which holds the kubeconfig"
        )

    def _check_kubeconfig(self, data: bytes, where: str, source: ObjectRef | None = None) -> None:
        problem = self._context.kubeconfig_problem(data, source)
        if problem is not None:
            raise _NoCredentials(f"{where}: {problem}")

    def _index_labelled_secrets(self) -> dict[tuple[str, str], list[Secret]]:
        """(namespace, profile name) -> Secrets labelled for it, except our own outputs.

        Our push Secrets carry the same label: reading one back as a source would keep a
        deleted cluster's credentials alive.
        """
        settings = self._settings
        index: dict[tuple[str, str], list[Secret]] = {}
        for secret in sorted(self._context.inventory.secrets, key=lambda s: s.ref.sort_key):
            profile_name = secret.labels.get(settings.profile_label)
            if profile_name and secret.labels.get(settings.managed_by_label) != settings.managed_by_value:
                index.setdefault((secret.namespace, profile_name), []).append(secret)
        return index


def _secret_ref(reference: SecretReference) -> ObjectRef:
    return ObjectRef("Secret", reference.namespace, reference.name)


def _keys(secret: Secret) -> str:
    return ", ".join(sorted(secret.data)) or "none"
