#!/usr/bin/env bash
# Builds (or reuses from cache) actionlint, the GitHub Actions workflow linter `make lint` runs,
# at the version pinned in tools/versions.env; prints the binary's path.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/versions.env
source "$here/versions.env"
cache=${CLUSTER_INVENTORY_CACHE:-$HOME/.cache/cluster-inventory}
dest=$cache/tools/actionlint-$ACTIONLINT_VERSION/bin

if [[ ! -x $dest/actionlint ]]; then
  printf '[tools] actionlint %s: building...\n' "$ACTIONLINT_VERSION" >&2
  mkdir -p "$dest"
  GOBIN=$dest GOFLAGS="-trimpath" CGO_ENABLED=0 \
    go install -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION"
fi
mkdir -p "$cache/tools/bin"
ln -sf "$dest/actionlint" "$cache/tools/bin/actionlint"
echo "$cache/tools/bin/actionlint"
