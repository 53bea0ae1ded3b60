"""The program's own least-privilege roles (SPEC §9), derived from a stack's settings.

* ``stack_access(settings)``: what the program reads and writes, kind by kind and namespace by
  namespace (``scope.py``), the single account both outputs below are built from;
* ``render_roles``: the preview and deploy identities' ServiceAccounts, ClusterRoles, Roles and
  bindings (``roles.py``);
* ``render_admission_policy``: a ValidatingAdmissionPolicy holding the deploy identity to objects
  carrying the managed-by label (``admission.py``);
* ``main``: ``python -m inventory rbac`` (``cli.py``).

Pure but for the command line reading a config file: no Kubernetes client, no Pulumi.
"""

from inventory.rbac.admission import render_admission_policy
from inventory.rbac.cli import main
from inventory.rbac.roles import render_roles
from inventory.rbac.scope import Access, Namespaces, stack_access

__all__ = ["Access", "Namespaces", "main", "render_admission_policy", "render_roles", "stack_access"]
