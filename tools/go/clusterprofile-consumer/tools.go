//go:build tools

// Package tools pins the kubeconfig-secretreader plugin's main package so that
// `go mod tidy` records every module it needs; tools/build-go-helper.sh builds it with
// `go build` from the module cache, as upstream publishes it.
package tools

import _ "sigs.k8s.io/cluster-inventory-api/plugins/kubeconfig-secretreader/cmd/plugin"
