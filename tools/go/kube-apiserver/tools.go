//go:build tools

// Package tools pins kube-apiserver's main package so that `go mod tidy` records
// every module it needs; tools/build-tools.sh builds it with `go build`.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
