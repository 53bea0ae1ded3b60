#!/usr/bin/env bash
# Build one of the small Go helpers under tools/go/ (gotemplate: Go text/template
# with Sveltos' function map; luaeval: gopher-lua with Sveltos' Lua conversions;
# applier: the concurrent server-side applier `make bench-deploy` measures as its floor;
# clusterprofile-consumer: a ClusterProfile consumer on cluster-inventory-api's pkg/access;
# kubeconfig-secretreader and secretreader: that module's exec plugins, built from the module as
# published; sveltos-consumer: a managed-cluster client on libsveltos' lib/clusterproxy, in the
# Sveltos wrapper module tools/go/sveltos)
# into a cache outside the repository, and print the binary's path.
#
#   tools/build-go-helper.sh gotemplate|luaeval|applier|clusterprofile-consumer|kubeconfig-secretreader|secretreader|sveltos-consumer
#
# The cache key is a hash of the helper's go.mod, go.sum, main.go and tools.go (and the package
# built, when it is not the wrapper itself),
# so a change to the pinned modules or to the helper builds a new binary beside the old one and
# a stale binary is never used; an existing binary is reused without invoking Go. The last two
# also carry the pinned module's version (tools/versions.env CLUSTER_INVENTORY_API_VERSION, which
# their wrapper's go.mod must require) in their directory's name. Modules come from the Go module
# proxy; go.sum is committed, so no checksum-database lookup is needed (the projectsveltos
# modules are not in the checksum database reachable here).
set -euo pipefail

name="${1:?usage: build-go-helper.sh gotemplate|luaeval|applier|clusterprofile-consumer|kubeconfig-secretreader|secretreader|sveltos-consumer}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
package=.
version=
case "$name" in
    gotemplate|luaeval|applier) src="$here/go/$name" ;;
    sveltos-consumer) src="$here/go/sveltos"; package=./sveltos-consumer ;;
    clusterprofile-consumer|kubeconfig-secretreader|secretreader)
        src="$here/go/clusterprofile-consumer"
        # shellcheck source=tools/versions.env
        version="-$(source "$here/versions.env" && echo "$CLUSTER_INVENTORY_API_VERSION")"
        if ! grep -q "sigs.k8s.io/cluster-inventory-api ${version#-}\$" "$src/go.mod"; then
            echo "build-go-helper.sh: $src/go.mod does not require sigs.k8s.io/cluster-inventory-api ${version#-} (tools/versions.env)" >&2
            exit 2
        fi
        if [[ $name != clusterprofile-consumer ]]; then
            package=sigs.k8s.io/cluster-inventory-api/plugins/$name/cmd/plugin
        fi
        ;;
    *) echo "build-go-helper.sh: unknown helper '$name' (gotemplate, luaeval, applier, clusterprofile-consumer, kubeconfig-secretreader, secretreader or sveltos-consumer)" >&2; exit 2 ;;
esac

cache_root="${CLUSTER_INVENTORY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cluster-inventory}"

inputs=("$src/go.mod" "$src/go.sum")
[[ ! -f $src/main.go ]] || inputs+=("$src/main.go")
[[ $package != ./* ]] || inputs+=("$src/$package/main.go")
[[ ! -f $src/tools.go ]] || inputs+=("$src/tools.go")
key="$( (cat "${inputs[@]}"; [[ $package == . ]] || echo "$package") | sha256sum | cut -c1-16)"
out_dir="$cache_root/tools/$name$version-$key"
binary="$out_dir/$name"

if [[ ! -x "$binary" ]]; then
    mkdir -p "$out_dir"
    # Build beside the target and rename: concurrent test runs never see a half-written
    # binary. The machine is shared with longer Go builds, hence nice.
    tmp="$(mktemp "$out_dir/.$name.XXXXXX")"
    trap 'rm -f "$tmp"' EXIT
    (
        cd "$src"
        GOFLAGS=-mod=readonly GOTOOLCHAIN=local nice -n 10 go build -trimpath -o "$tmp" "$package"
    ) >&2
    chmod 0755 "$tmp"
    mv -f "$tmp" "$binary"
    trap - EXIT
fi

printf '%s\n' "$binary"
