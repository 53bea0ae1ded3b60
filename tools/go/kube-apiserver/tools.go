//go:build tools

// Package tools pins the kube-apiserver and kube-controller-manager main packages so that `go mod tidy` records
// every module it needs; tools/build-tools.sh builds it with `go build`.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
