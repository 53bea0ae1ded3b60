"""Event Framework mode (SPEC §3 C): declare Sveltos EventSources, EventTriggers and templates.

Instead of computing push Secrets (A) or SveltosClusters (B) itself, the program can hand
the job to Sveltos: the objects planned here make Sveltos derive the same objects from
the inventory in-cluster, continuously, between Pulumi runs.

Public surface:

* ``plan_events(settings)``: every Event Framework object for the features whose mode is
  ``events``, plus the stack's extra EventSources/EventTriggers/ConfigMaps/Secrets. Pure.
  Unusable settings raise ``inventory.settings.SettingsError`` listing every problem,
  each naming the setting or the extra entry (``extraEventTriggers[0] (name): ...``).
* the names of the built-in objects (``push_name`` ...), for docs, adoption and tests.

The Lua (``lua/``) and Go templates (``templates/``) are package data; tests run them on
Lua 5.1 and gopher-lua, and on Go's text/template with Sveltos' function map.
"""

from inventory.events.builders import (
    plan_events,
    push_name,
    push_template_name,
    sveltos_cluster_name,
    sveltos_kubeconfig_name,
)

__all__ = [
    "plan_events",
    "push_name",
    "push_template_name",
    "sveltos_cluster_name",
    "sveltos_kubeconfig_name",
]
