"""Exec credential plugins (SPEC §3 B.2): the entry point, composing the flow one profile at a time.

A ClusterProfile that lists a provider of the exec-provider file, and that stack config binds
that provider to (``execProviderBindings``, SPEC §9), gets its credentials by running that
provider's plugin, the way kubectl would, and turning the printed ExecCredential into a plain
kubeconfig. The data flows through one module per step:

    provider file             inventory.credentials.exec.provider_file   (pure; read once)
    -> invocation             inventory.credentials.exec.invocation  (pure; binding, KEP-5339 args/env merge)
    -> reuse or run           inventory.credentials.exec.reuse       (pure; expiry, ``now`` handed in)
                              inventory.credentials.exec.schedule    (which plugin starts next: fair per namespace)
                              inventory.credentials.exec.run         (the only side effect: processes)
    -> the plugin's answer    inventory.credentials.exec.output      (pure; kubeconfig, scrubbed stderr)

``resolve_exec_credentials`` runs it for every profile, plugins a few at a time, and
hands planning one ``ExecResult`` per profile. A profile refused every provider it lists gets an
``ExecResult`` with ``error`` naming each provider and the binding that would serve it; planning
then tries the labelled Secret. It reads no wall clock (``now`` is handed in; plugin time is
measured by ``schedule``) and never puts plugin output (tokens, keys) or the values of the
variables it or the deploy job holds into messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from inventory.credentials.exec.invocation import (
    Invocation,
    ProfileError,
    choose_provider,
    has_usable_secretreader,
    prepare,
)
from inventory.credentials.exec.output import (
    CredentialError,
    env_secrets,
    minted_result,
    parse_credential,
    secrets_in,
    with_stderr,
)
from inventory.credentials.exec.provider_file import ProviderFileError, load_providers
from inventory.credentials.exec.reuse import (
    ExecResult,
    kept_after_failed_refresh,
    refresh_is_due,
    stored_credential,
    usable_until_expiry,
)
from inventory.credentials.exec.run import (
    EXEC_INFO_ENV,
    STDOUT_LIMIT_BYTES,
    PluginRunner,
    inherited_env,
    job_env_values,
    run_plugin,
)
from inventory.credentials.exec.schedule import OverBudget, run_fairly
from inventory.model import Inventory, ObjectRef, sveltos_kubeconfig_secret_name
from inventory.settings import Settings

# ProviderFileError is what the entry point raises for a bad provider file, so its callers
# (``inventory.pipeline``) catch it from here.
__all__ = ["ProviderFileError", "resolve_exec_credentials"]

# Plugins mostly wait on a network; a few at a time keeps 1,000 profiles fast without a stampede.
MAX_PARALLEL_PLUGINS = 4


def _failure(message: str) -> ExecResult:
    return ExecResult(kubeconfig=None, annotations={}, refresh_at=None, error=message)


def _mint(invocation: Invocation, issued: datetime, timeout: float, runner: PluginRunner) -> ExecResult:
    """Run the plugin and turn its ExecCredential into a kubeconfig plus annotations."""
    command = invocation.argv[0]
    where = f"exec provider {invocation.provider.name!r} command {command!r}"
    env = {**inherited_env(), **invocation.env, EXEC_INFO_ENV: invocation.exec_info}
    try:
        output = runner(invocation.argv, env, timeout)
    except OSError as err:
        return _failure(f"{where} could not be started: {err.strerror or err}")
    secrets = secrets_in(output.stdout) + env_secrets(invocation, job_env_values())
    if output.stdout_too_large:
        limit = f"{STDOUT_LIMIT_BYTES // 1024 // 1024} MiB"
        return _failure(with_stderr(f"{where} printed more than {limit} on stdout, more than any ExecCredential, "
                                    "and was stopped", output.stderr, secrets))
    if output.timed_out:
        return _failure(with_stderr(f"{where} timed out after {timeout:g}s", output.stderr, secrets))
    if output.returncode != 0:
        return _failure(with_stderr(f"{where} {_exit_status(output.returncode)}", output.stderr, secrets))
    try:
        credential = parse_credential(output.stdout, invocation.provider.api_version)
    except CredentialError as err:
        return _failure(with_stderr(f"{where} exited with status 0 but {err}", output.stderr, secrets))
    return minted_result(invocation, credential, issued)


def _exit_status(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def resolve_exec_credentials(
    inventory: Inventory,
    settings: Settings,
    now: datetime,
    *,
    runner: PluginRunner | None = None,
    not_run: str | None = None,
) -> dict[ObjectRef, ExecResult]:
    """Credentials for every ClusterProfile served by an exec provider, keyed by its ref.

    A profile gets an entry when it has no usable kubeconfig-secretreader and lists a
    provider of the file. The entry reuses the stored credential while no refresh is
    due (see ``inventory.credentials.exec.reuse``), else it runs the plugin, a few at a time. A
    profile whose plugin fails gets an entry with ``error`` set, unless a refresh of
    a stored credential that has not expired yet failed: then the stored credential
    is kept with ``warning`` set. A bad provider file raises ProviderFileError.
    ``now`` must carry a time zone.

    With ``not_run`` (why), no plugin runs: a profile that would need one gets the error
    ``exec provider 'NAME' not run: <not_run>``, as if its plugin had failed (a stored credential
    is still reused, and kept while it has not expired).
    """
    if settings.exec_provider_file is None:
        return {}
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    providers = load_providers(settings.exec_provider_file)
    secrets = {(secret.namespace, secret.name): secret for secret in inventory.secrets}
    results: dict[ObjectRef, ExecResult] = {}
    refused: dict[ObjectRef, str] = {}  # providers a profile listed that do not serve it
    to_mint: list[Invocation] = []
    kept_if_refresh_fails: dict[ObjectRef, ExecResult] = {}
    for profile in inventory.profiles:
        if has_usable_secretreader(profile, secrets, settings):
            continue
        choice = choose_provider(profile, providers, settings.exec_provider_bindings)
        if choice.refusals:
            refused[profile.ref] = "; ".join(choice.refusals)
        if choice.chosen is None:
            if choice.refusals:
                results[profile.ref] = _failure(f"no exec provider the profile lists serves it: {refused[profile.ref]}")
            continue
        try:
            invocation = prepare(profile, *choice.chosen)
        except ProfileError as err:
            results[profile.ref] = _failure(str(err))
            continue
        stored_secret = secrets.get((profile.namespace, sveltos_kubeconfig_secret_name(profile.name)))
        stored = stored_credential(stored_secret, invocation.fingerprint, settings)
        if stored is not None and not refresh_is_due(stored, now):
            results[profile.ref] = stored
            continue
        to_mint.append(invocation)
        if stored is not None and usable_until_expiry(stored, now):
            kept_if_refresh_fails[profile.ref] = stored
    if not_run is None:
        outcomes = _mint_all(to_mint, now, settings, runner or run_plugin)
    else:
        outcomes = {invocation.profile.ref: _failure(f"exec provider {invocation.provider.name!r} not run: {not_run}")
                    for invocation in to_mint}
    for ref, minted in outcomes.items():
        stored = kept_if_refresh_fails.get(ref)
        if minted.error is not None and stored is not None:
            minted = kept_after_failed_refresh(stored, minted.error)
        results[ref] = minted
    for ref, refusals in refused.items():
        if results[ref].error is None:
            results[ref] = _with_warning(results[ref], f"used a later provider the profile lists: {refusals}")
    return dict(sorted(results.items()))


def _with_warning(result: ExecResult, warning: str) -> ExecResult:
    return replace(result, warning=warning if result.warning is None else f"{result.warning}; {warning}")


def _mint_all(
    invocations: Sequence[Invocation], now: datetime, settings: Settings, runner: PluginRunner
) -> dict[ObjectRef, ExecResult]:
    """Run the plugins, shared fairly between namespaces (``inventory.credentials.exec.schedule``)."""
    issued = now.astimezone(UTC).replace(microsecond=0)
    timeout = settings.exec_timeout_seconds
    outcomes = run_fairly(
        invocations,
        lambda invocation: _mint(invocation, issued, timeout, runner),
        slots=MAX_PARALLEL_PLUGINS,
        timeout=timeout,
        budget=settings.exec_namespace_budget_seconds,
    )
    return {ref: _failure(outcome.message) if isinstance(outcome, OverBudget) else outcome
            for ref, outcome in outcomes.items()}
