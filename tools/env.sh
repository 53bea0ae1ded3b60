#!/usr/bin/env bash
# Prints the environment that points Pulumi and the tests at the built tools:
#   eval "$(tools/env.sh)"
# Pulumi is told never to download a plugin and never to check for updates.
cache=${CLUSTER_INVENTORY_CACHE:-$HOME/.cache/cluster-inventory}
cat <<ENV
export CLUSTER_INVENTORY_CACHE="$cache"
export PATH="$cache/tools/bin:\$PATH"
export PULUMI_HOME="$cache/pulumi-home"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
ENV
