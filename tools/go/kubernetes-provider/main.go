// Command pulumi-resource-kubernetes serves the Pulumi kubernetes provider.
//
// Upstream's main embeds schema-embed.json and terraform-mapping-embed.json,
// which its release build generates and which are therefore absent from the
// published module. tools/build-tools.sh generates both from the module's
// schema.json (with the release version set) and terraform-mapping.json, next
// to a copy of this file, before `go build`.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
