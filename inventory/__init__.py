"""cluster-inventory: turn a management cluster's cluster inventory into credentials.

Data flows one way:

    sources (live cluster | YAML dir) -> model -> plan (pure) -> stack (Pulumi) | render (CLI)
"""
