// A tiny helper for the tests: runs a Go text/template with the function map Sveltos'
// event-manager uses (tests/unit/test_events_templates.py). Built into a cache outside
// the repository by tools/build-go-helper.sh.
module cluster-inventory.local/tools/gotemplate

go 1.25.6

// libsveltos v1.5.0 = tools/versions.env LIBSVELTOS_VERSION; its lib/funcmap is the function
// map event-manager v1.5.0 uses. mergo is raised to v1.0.2 to match event-manager's build list.
require github.com/projectsveltos/libsveltos v1.5.0

require (
	dario.cat/mergo v1.0.2 // indirect
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/Masterminds/goutils v1.1.1 // indirect
	github.com/Masterminds/semver/v3 v3.4.0 // indirect
	github.com/Masterminds/sprig/v3 v3.3.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/huandu/xstrings v1.5.0 // indirect
	github.com/mitchellh/copystructure v1.2.0 // indirect
	github.com/mitchellh/reflectwalk v1.0.2 // indirect
	github.com/shopspring/decimal v1.4.0 // indirect
	github.com/spf13/cast v1.10.0 // indirect
	go.yaml.in/yaml/v2 v2.4.3 // indirect
	golang.org/x/crypto v0.47.0 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)
