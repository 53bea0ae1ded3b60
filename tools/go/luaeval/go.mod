// A tiny helper for the tests: runs an aggregatedSelection Lua script on gopher-lua with
// libsveltos' Lua conversions, as sveltos-agent does (tests/unit/test_events_lua.py).
// Built into a cache outside the repository by tools/build-go-helper.sh.
module cluster-inventory.local/tools/luaeval

go 1.25.6

// libsveltos v1.5.0 = tools/versions.env LIBSVELTOS_VERSION; gopher-lua is the version
// it requires.
require github.com/projectsveltos/libsveltos v1.5.0

require github.com/yuin/gopher-lua v1.1.1

require (
	dario.cat/mergo v1.0.1 // indirect
	github.com/Masterminds/goutils v1.1.1 // indirect
	github.com/Masterminds/semver/v3 v3.4.0 // indirect
	github.com/Masterminds/sprig/v3 v3.3.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/huandu/xstrings v1.5.0 // indirect
	github.com/mitchellh/copystructure v1.2.0 // indirect
	github.com/mitchellh/reflectwalk v1.0.2 // indirect
	github.com/projectsveltos/lua-utils/glua-json v0.0.0-20251212200258-2b3cdcb7c0f5 // indirect
	github.com/projectsveltos/lua-utils/glua-runes v0.0.0-20251212200258-2b3cdcb7c0f5 // indirect
	github.com/projectsveltos/lua-utils/glua-sprig v0.0.0-20251212200258-2b3cdcb7c0f5 // indirect
	github.com/projectsveltos/lua-utils/glua-strings v0.0.0-20251212200258-2b3cdcb7c0f5 // indirect
	github.com/shopspring/decimal v1.4.0 // indirect
	github.com/spf13/cast v1.10.0 // indirect
	go.yaml.in/yaml/v2 v2.4.3 // indirect
	golang.org/x/crypto v0.47.0 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)
