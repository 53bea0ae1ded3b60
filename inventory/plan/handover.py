"""Handing a feature's objects between this program and Sveltos without a gap (pure).

When a feature switches between ``direct`` (this program writes its objects) and
``events`` (Sveltos writes them from the Event Framework objects this program declares),
the same Secrets and SveltosClusters change writer. Done naively, consumers see them go:

- direct -> events: Pulumi deletes its objects at the end of the ``up`` that declares the
  EventTriggers, and Sveltos writes them again only once it has processed the first
  EventReport (20-50 s on the local control plane);
- events -> direct: this program takes the objects over, then Pulumi deletes the
  EventTriggers, event-manager deletes their ClusterProfiles, and addon-controller withdraws
  every object whose ``projectsveltos.io/owner-kind``/``owner-name`` annotations still
  name one of them (libsveltos v1.5.0 ``lib/deployer/clean.go``, ``isResourceOwner``):
  the object this program just took over is deleted.

So, in the run that switches:

- **to Sveltos**: every object this stack wrote that events mode will write too stays
  declared, with a ``pulumi.com/waitFor`` on Sveltos' owner annotation. The ``up`` ends once
  Sveltos has written each of them (addon-controller takes over an object no Sveltos profile
  owns: ``validateSveltosOwner``); if it times out (Sveltos not running), later runs wait again.
  The next run marks the objects Sveltos has written ``retainOnDelete``, and the one after leaves
  them out: Pulumi forgets them without deleting them (``handingOver``/``handedOver`` outputs).
- **from Sveltos**: this program's objects claim Sveltos' owner annotations for this stack
  (``owner-kind: PulumiStack``). addon-controller then neither overwrites them (a profile
  that does not own an object gets a conflict) nor withdraws them when its ClusterProfile
  goes (the same while ``adoptExisting`` is set, for migrations from other Event Framework
  objects). They also claim the ``pulumi.com/waitFor`` a hand-over to Sveltos left, with an
  empty value (no wait). The next run no longer declares these annotations, so server-side
  apply removes them.

Only objects that events mode writes are handed to Sveltos: every push Secret (feature A),
and for feature B the ClusterProfiles whose credentials come from a labelled Secret (the
one source Sveltos templates can copy); others are deleted as in any other run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from inventory.model import DesiredObject, Feature, Inventory
from inventory.plan.compose import build_plan
from inventory.settings import Mode, Settings

SVELTOS_OWNER_NAME = "projectsveltos.io/owner-name"
# The owner kind addon-controller writes on what a ClusterProfile deploys, and the one this
# program claims instead (any other kind makes addon-controller leave the object alone).
SVELTOS_PROFILE_KIND = "ClusterProfile"
STACK_OWNER_KIND = "PulumiStack"
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
# The provider's jsonpath (RFC 9535, github.com/theory/jsonpath): satisfied once Sveltos has written the object.
# Set by addon-controller on what a Sveltos profile deployed.
SVELTOS_OWNER_KIND = "projectsveltos.io/owner-kind"
WAIT_FOR_SVELTOS = f"jsonpath={{.metadata.annotations['{SVELTOS_OWNER_KIND}']}}={SVELTOS_PROFILE_KIND}"
# An object handed to Sveltos keeps the waitFor above (written by a field manager that is gone
# once Pulumi forgot the object); the provider reads it from the live object, so taking the
# object back would wait for Sveltos forever. An empty value means "ready at once".
NO_WAIT = ""

# The outputs' ``modes`` keys, per feature that Sveltos can write.
MODE_KEYS = {Feature.PUSH: "push", Feature.SVELTOS: "sveltos"}


@dataclass(frozen=True)
class Switch:
    """The features whose writer changes in this run."""

    to_sveltos: frozenset[Feature] = frozenset()
    from_sveltos: frozenset[Feature] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.to_sveltos or self.from_sveltos)


def _mode(settings: Settings, feature: Feature) -> Mode:
    return settings.push_mode if feature is Feature.PUSH else settings.sveltos_mode


def switch(previous_modes: Mapping[str, str], settings: Settings) -> Switch:
    """Which features the last run had in one of direct/events and this run has in the other."""
    to_sveltos, from_sveltos = set(), set()
    for feature, key in MODE_KEYS.items():
        before, now = previous_modes.get(key), _mode(settings, feature)
        if before == Mode.DIRECT.value and now is Mode.EVENTS:
            to_sveltos.add(feature)
        elif before == Mode.EVENTS.value and now is Mode.DIRECT:
            from_sveltos.add(feature)
    return Switch(frozenset(to_sveltos), frozenset(from_sveltos))


def handing_features(switch: Switch, unfinished: bool, settings: Settings) -> frozenset[Feature]:
    """The features whose objects this run may hand to Sveltos: those switching to events, and,
    while an earlier run's hand-over is ``unfinished``, every feature in events mode."""
    features = set(switch.to_sveltos)
    if unfinished:
        features |= {feature for feature in MODE_KEYS if _mode(settings, feature) is Mode.EVENTS}
    return frozenset(features)


def reading(settings: Settings, features: Collection[Feature]) -> Settings:
    """What the inventory must be read as: events mode reads less than direct mode, but the
    objects handed to Sveltos are planned as direct mode plans them (``features`` direct, every
    other feature as it was)."""
    if not features:
        return settings
    return replace(
        settings,
        push_mode=Mode.DIRECT if Feature.PUSH in features else settings.push_mode,
        sveltos_mode=Mode.DIRECT if Feature.SVELTOS in features else settings.sveltos_mode,
    )


def direct_for(settings: Settings, features: Collection[Feature]) -> Settings:
    """``settings`` with ``features`` in direct mode and every other feature off."""
    return reading(replace(settings, push_mode=Mode.OFF, sveltos_mode=Mode.OFF, argocd_mode=Mode.OFF), features)


def events_mode_objects(inventory: Inventory, settings: Settings, features: Collection[Feature],
                        now: datetime) -> tuple[DesiredObject, ...]:
    """What Sveltos will write for ``features``, as direct mode writes it: direct mode's plan
    with no credential source but labelled Secrets (the Event Framework's only one)."""
    if not features:
        return ()
    direct = direct_for(settings, features)
    labelled_only = replace(inventory, profiles=tuple(
        replace(profile, access_providers=(), credential_providers=()) for profile in inventory.profiles))
    return tuple(o for o in build_plan(labelled_only, direct, {}, now).objects if o.feature in features)


@dataclass(frozen=True)
class HandOver:
    """What this run declares of the objects it hands to Sveltos."""

    waiting: tuple[DesiredObject, ...] = ()  # not written by Sveltos yet: the run waits for it
    retained: tuple[DesiredObject, ...] = ()  # written by Sveltos: marked to be forgotten, not deleted

    @property
    def objects(self) -> tuple[DesiredObject, ...]:
        return self.waiting + self.retained


NOTHING = HandOver()


def to_sveltos(candidates: Collection[DesiredObject], switch: Switch, previous: Collection[str],
               previous_waiting: Collection[str], previous_retained: Collection[str],
               sveltos_kind: Callable[[DesiredObject], str | None]) -> HandOver:
    """Each object this stack wrote (``previous``) that Sveltos takes over goes through three runs:

    1. while Sveltos has not written it (from the switching run on): declared with a wait for
       Sveltos; a run whose wait times out leaves it declared, and the next run waits again;
    2. once Sveltos has written it: declared with ``retainOnDelete``;
    3. the run after that leaves it out: Pulumi forgets it without deleting it.

    An object is never marked to be retained before Sveltos owns it, so a `destroy` in between
    deletes what Sveltos would not withdraw. New objects are Sveltos' to create.
    """
    forgotten, waiting = set(previous_retained), set(previous_waiting)
    kept = [obj for obj in candidates
            if obj.logical_name in previous and obj.logical_name not in forgotten
            and (obj.feature in switch.to_sveltos or obj.logical_name in waiting)]
    written = [sveltos_kind(obj) == SVELTOS_PROFILE_KIND for obj in kept]
    return HandOver(
        waiting=tuple(replace(obj, annotations={**obj.annotations, WAIT_FOR_ANNOTATION: WAIT_FOR_SVELTOS})
                      for obj, done in zip(kept, written, strict=True) if not done),
        retained=tuple(obj for obj, done in zip(kept, written, strict=True) if done),
    )


def claiming_features(switch: Switch, settings: Settings) -> frozenset[Feature]:
    """The features whose objects claim Sveltos' owner annotations: those taken back from this
    stack's events mode, and, while ``adoptExisting`` is set, every feature in direct mode (an
    adopted object may have been deployed by someone else's Event Framework objects)."""
    if not settings.adopt_existing:
        return switch.from_sveltos
    return switch.from_sveltos | {feature for feature in MODE_KEYS if _mode(settings, feature) is Mode.DIRECT}


def from_sveltos(objects: tuple[DesiredObject, ...], features: Collection[Feature],
                 stack: str) -> tuple[DesiredObject, ...]:
    """``objects`` with those of ``features`` claiming Sveltos' owner annotations for ``stack``."""
    if not features:
        return objects
    claim = {SVELTOS_OWNER_KIND: STACK_OWNER_KIND, SVELTOS_OWNER_NAME: stack, WAIT_FOR_ANNOTATION: NO_WAIT}
    return tuple(replace(obj, annotations={**obj.annotations, **claim}) if obj.feature in features else obj
                 for obj in objects)
