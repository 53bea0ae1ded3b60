#!/usr/bin/env bash
# Build one of the small Go helpers under tools/go/ (gotemplate: Go text/template
# with Sveltos' function map; luaeval: gopher-lua with Sveltos' Lua conversions;
# applier: the concurrent server-side applier `make bench-deploy` measures as its floor)
# into a cache outside the repository, and print the binary's path.
#
#   tools/build-go-helper.sh gotemplate|luaeval|applier
#
# The cache key is a hash of the helper's go.mod, go.sum and main.go, so a change to the
# pinned modules or to the helper builds a new binary beside the old one and a stale
# binary is never used; an existing binary is reused without invoking Go. Modules come
# from the Go module proxy; go.sum is committed, so no checksum-database lookup is
# needed (the projectsveltos modules are not in the checksum database reachable here).
set -euo pipefail

name="${1:?usage: build-go-helper.sh gotemplate|luaeval|applier}"
case "$name" in
    gotemplate|luaeval|applier) ;;
    *) echo "build-go-helper.sh: unknown helper '$name' (gotemplate, luaeval or applier)" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/go/$name"
cache_root="${CLUSTER_INVENTORY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cluster-inventory}"

key="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
out_dir="$cache_root/tools/$name-$key"
binary="$out_dir/$name"

if [[ ! -x "$binary" ]]; then
    mkdir -p "$out_dir"
    # Build beside the target and rename: concurrent test runs never see a half-written
    # binary. The machine is shared with longer Go builds, hence nice.
    tmp="$(mktemp "$out_dir/.$name.XXXXXX")"
    trap 'rm -f "$tmp"' EXIT
    (
        cd "$src"
        GOFLAGS=-mod=readonly GOTOOLCHAIN=local nice -n 10 go build -trimpath -o "$tmp" .
    ) >&2
    chmod 0755 "$tmp"
    mv -f "$tmp" "$binary"
    trap - EXIT
fi

printf '%s\n' "$binary"
