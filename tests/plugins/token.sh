#!/bin/bash
# A plugin written as a bash script, as many cloud login wrappers are: bash reads BASH_ENV first.
# With PLUGIN_RECORD set, it creates that file to show it ran.
if [ -n "$PLUGIN_RECORD" ]; then : > "$PLUGIN_RECORD"; fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"plugin-token-7f3a9c1e5b2d"}}\n'
