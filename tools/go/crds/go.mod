// This module only pins the Go modules whose published CRD manifests the local
// control plane installs (tools/cluster.sh); go.sum records their hashes.
module cluster-inventory.local/tools/crds

go 1.24

require (
	github.com/projectsveltos/event-manager v1.5.0
	github.com/projectsveltos/libsveltos v1.5.0
	sigs.k8s.io/cluster-api v1.11.0
	sigs.k8s.io/cluster-inventory-api v0.1.3
)
