#!/usr/bin/env bash
# Builds (or reuses from cache) every Go tool the project runs: the Pulumi CLI, the
# project's Python language host for it, the kubernetes provider plugin, kube-apiserver,
# kube-controller-manager and etcd, and Sveltos' event-manager and addon-controller with
# the project's EventReport writer. Everything lands
# outside the repository, in $CLUSTER_INVENTORY_CACHE (default
# ~/.cache/cluster-inventory), one directory per tool and version; a stamp of
# the wrapper module's files decides whether a cached build is still good.
# A warm run only checks stamps.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/versions.env
source "$here/versions.env"
cache=${CLUSTER_INVENTORY_CACHE:-$HOME/.cache/cluster-inventory}
tools=$cache/tools
mkdir -p "$tools/bin"

# Builds share Go's module and build caches. Some modules these tools need
# are not in the checksum database this machine can reach; the committed go.sum
# files pin their hashes instead.
export GOFLAGS="-mod=readonly -trimpath"
export GONOSUMDB="github.com/pulumi,github.com/projectsveltos,sigs.k8s.io/cluster-inventory-api"
export CGO_ENABLED=0

log() { printf '[tools] %s\n' "$*" >&2; }

stamp_of() { # the inputs that decide a build: wrapper files, link flags, the Go version
  (cd "$1" && cat go.mod go.sum ./*.go ./*/*.go 2>/dev/null; echo "$2"; go env GOVERSION) | sha256sum | cut -c1-16
}

# build NAME VERSION WRAPPER_DIR BINARY PACKAGE LDFLAGS
build() {
  local name=$1 version=$2 wrapper=$here/go/$3 binary=$4 package=$5 ldflags=${6:-}
  local dest=$tools/$name-$version stamp
  stamp=$(stamp_of "$wrapper" "$ldflags")
  if [[ -x $dest/bin/$binary && "$(cat "$dest/stamp" 2>/dev/null)" == "$stamp" ]]; then
    log "$name $version: cached"
  else
    log "$name $version: building (cold builds take minutes on 2 cores)..."
    local start=$SECONDS
    mkdir -p "$dest/bin"
    (cd "$wrapper" && go build -ldflags "-s -w $ldflags" -o "$dest/bin/$binary.tmp" "$package")
    mv "$dest/bin/$binary.tmp" "$dest/bin/$binary"
    echo "$stamp" >"$dest/stamp"
    log "$name $version: built in $((SECONDS - start)) s"
  fi
  # Plugins are not put on PATH: Pulumi finds them itself (see main).
  [[ $name == pulumi-resource-* || $name == pulumi-language-* ]] || ln -sf "$dest/bin/$binary" "$tools/bin/$binary"
}

build_provider() {
  # Upstream generates the provider's embedded schema at release time; do the
  # same from the module's schema.json, in a scratch copy of the wrapper.
  local module_dir work
  module_dir=$(cd "$here/go/kubernetes-provider" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)
  if [[ -z $module_dir ]]; then
    (cd "$here/go/kubernetes-provider" && go mod download github.com/pulumi/pulumi-kubernetes/provider/v4)
    module_dir=$(cd "$here/go/kubernetes-provider" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)
  fi
  work=$here/go/kubernetes-provider
  python3 - "$module_dir/cmd/pulumi-resource-kubernetes" "$work" "$PULUMI_KUBERNETES_VERSION" <<'PY'
import json, sys
src, dst, version = sys.argv[1:]
schema = json.load(open(f"{src}/schema.json"))
schema["version"] = version
with open(f"{dst}/schema-embed.json", "w") as out:
    json.dump(schema, out, separators=(",", ":"))
with open(f"{dst}/terraform-mapping-embed.json", "w") as out:
    json.dump(json.load(open(f"{src}/terraform-mapping.json")), out, separators=(",", ":"))
PY
  build pulumi-resource-kubernetes "$PULUMI_KUBERNETES_VERSION" kubernetes-provider \
    pulumi-resource-kubernetes . \
    "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION"
}

build_language_host() {
  # The module proxy does not serve Pulumi's Python language host, so the project builds its
  # own stand-in (tools/go/language-python, docs/building-and-testing.md) against the pinned sdk/v3.
  # It runs upstream's exec script from that same module, which must sit next to it.
  build pulumi-language-python "$PULUMI_VERSION" language-python pulumi-language-python . \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
  local bin=$tools/pulumi-language-python-$PULUMI_VERSION/bin sdk_dir
  if [[ ! -x $bin/pulumi-language-python-exec || $bin/pulumi-language-python -nt $bin/pulumi-language-python-exec ]]; then
    sdk_dir=$(cd "$here/go/language-python" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
    install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
  fi
  # Python dynamic providers run in upstream's plugin script `pulumi-resource-pulumi-python`
  # (`python -m pulumi.dynamic` in the project's virtualenv), shipped in the same module; the CLI
  # bundles it, so it never downloads it. Feature E's status was one until it moved to the
  # project's own provider (provider/, no build step): kept for the refresh or destroy of a stack
  # that still holds the old type (docs/cluster-manager.md, Stacks written before the provider).
  if [[ ! -x $bin/pulumi-resource-pulumi-python || $bin/pulumi-language-python -nt $bin/pulumi-resource-pulumi-python ]]; then
    sdk_dir=$(cd "$here/go/language-python" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
    install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$bin/pulumi-resource-pulumi-python"
  fi
  # The CLI looks for its language hosts and bundled plugins on PATH, then next to its own binary
  # (symlinks followed); a PATH copy would warn on every run, so they go next to the binary only.
  ln -sfn "$bin/pulumi-language-python" "$tools/pulumi-$PULUMI_VERSION/bin/pulumi-language-python"
  ln -sfn "$bin/pulumi-resource-pulumi-python" "$tools/pulumi-$PULUMI_VERSION/bin/pulumi-resource-pulumi-python"
}

install_provider_plugin() {
  # Register the built provider as Pulumi's kubernetes plugin of that exact
  # version, so the CLI never looks for it online.
  local plugin_dir=$PULUMI_HOME/plugins/resource-kubernetes-v$PULUMI_KUBERNETES_VERSION
  local binary=$tools/pulumi-resource-kubernetes-$PULUMI_KUBERNETES_VERSION/bin/pulumi-resource-kubernetes
  if ! cmp -s "$binary" "$plugin_dir/pulumi-resource-kubernetes" 2>/dev/null; then
    log "registering kubernetes provider plugin v$PULUMI_KUBERNETES_VERSION"
    "$tools/bin/pulumi" plugin install resource kubernetes "v$PULUMI_KUBERNETES_VERSION" --file "$binary" --reinstall >/dev/null
  fi
}

build_sveltos() {
  # One wrapper module, three binaries; the Go build cache makes the second and third
  # cheap. EVENT_MANAGER_VERSION and ADDON_CONTROLLER_VERSION must match its go.mod.
  local wrapper=$here/go/sveltos
  grep -q "github.com/projectsveltos/event-manager $EVENT_MANAGER_VERSION\$" "$wrapper/go.mod"
  grep -q "github.com/projectsveltos/addon-controller $ADDON_CONTROLLER_VERSION\$" "$wrapper/go.mod"
  build event-manager "$EVENT_MANAGER_VERSION" sveltos event-manager github.com/projectsveltos/event-manager/cmd
  build addon-controller "$ADDON_CONTROLLER_VERSION" sveltos addon-controller \
    github.com/projectsveltos/addon-controller/cmd
  build eventreporter "$LIBSVELTOS_VERSION" sveltos eventreporter ./eventreporter
}

main() {
  # The provider is found through Pulumi's plugin directory, not PATH (a plugin on
  # PATH makes every run warn "using pulumi-resource-kubernetes from $PATH").
  rm -f "$tools/bin/pulumi-resource-kubernetes" "$tools/bin/pulumi-language-python"
  build pulumi "$PULUMI_VERSION" pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
  build_language_host
  build_provider
  local k8s_version_flags="-X k8s.io/component-base/version.gitVersion=v$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
  build kube-apiserver "$KUBERNETES_VERSION" kube-apiserver kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver \
    "$k8s_version_flags"
  # Only its garbage-collector and namespace controllers run (tools/cluster.py), so that
  # deletions behave as on a real management cluster.
  build kube-controller-manager "$KUBERNETES_VERSION" kube-apiserver kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_version_flags"
  build etcd "$ETCD_VERSION" etcd etcd .
  build_sveltos
  eval "$("$here/env.sh")"
  install_provider_plugin
  no_automatic_log
}

no_automatic_log() {
  # Since 3.2xx the CLI writes every verbose log line, property values included, to an
  # encrypted, gzipped file under $PULUMI_HOME/logs on every run, with no switch to turn it
  # off. Measured on a no-op preview of 1,000 objects: 48% of the CLI's CPU (13.5 s -> 3.6 s)
  # and 29 s -> 16 s wall. In the project's own PULUMI_HOME a plain file stands where that
  # directory would go, so the CLI reports "automatic logging unavailable" (at debug level)
  # and runs without it; `-v`/`--logtostderr` logging works as before. docs/sizing.md.
  local logs=$PULUMI_HOME/logs
  if [[ ! -f $logs ]]; then
    rm -rf "$logs"
    printf 'cluster-inventory: the pulumi CLI writes no automatic log here (tools/build-tools.sh)\n' >"$logs"
  fi
}

main "$@"
