//go:build tools

// Package tools pins the main packages of Sveltos' event-manager and addon-controller
// (both `cmd`, package main) so that `go mod tidy` records every module they need;
// tools/build-tools.sh builds each with `go build`.
package tools

import (
	_ "github.com/projectsveltos/addon-controller/cmd"
	_ "github.com/projectsveltos/event-manager/cmd"
)
