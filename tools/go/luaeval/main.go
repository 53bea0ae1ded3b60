// Command luaeval runs an EventSource aggregatedSelection script the way sveltos-agent
// does, with the same Lua runtime (gopher-lua) and the same Go<->Lua conversions
// (libsveltos lib/lua MapToTable and ToGoValue), so tests can check the project's Lua
// on the runtime Sveltos embeds and not only on a reference Lua 5.1.
//
// Usage:
//
//	luaeval SCRIPT_FILE RESOURCES_JSON_FILE
//
// RESOURCES_JSON_FILE holds a JSON array of Kubernetes objects (what the
// resourceSelectors matched). The script's evaluate() result is printed as JSON:
// {"resources": [...], "message": "..."}. A script error, a result that is not a table,
// or a result sveltos-agent could not decode (resources not a list of objects that each
// have a kind) goes to stderr with exit status 1; a usage error exits with 2.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	sveltoslua "github.com/projectsveltos/libsveltos/lib/lua"
	lua "github.com/yuin/gopher-lua"
)

// aggregatedResult mirrors sveltos-agent's aggregatedStatus, except that resources are
// plain maps here: the kind check below stands in for unstructured.Unstructured's
// decoder, which rejects an object without one.
type aggregatedResult struct {
	Resources []map[string]interface{} `json:"resources"`
	Message   string                   `json:"message"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: luaeval SCRIPT_FILE RESOURCES_JSON_FILE")
		os.Exit(2)
	}
	output, err := run(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(output)
}

func run(scriptPath, resourcesPath string) ([]byte, error) {
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		return nil, fmt.Errorf("read script: %w", err)
	}
	objects, err := readResources(resourcesPath)
	if err != nil {
		return nil, err
	}

	// The sequence below is sveltos-agent's aggregatedSelection: DoString, a global
	// `resources` table, evaluate() called with it, ToGoValue, JSON round trip.
	l := lua.NewState()
	defer l.Close()
	if err := l.DoString(string(script)); err != nil {
		return nil, fmt.Errorf("load script: %w", err)
	}
	argTable := l.NewTable()
	for _, object := range objects {
		argTable.Append(sveltoslua.MapToTable(object))
	}
	l.SetGlobal("resources", argTable)
	if err := l.CallByParam(lua.P{Fn: l.GetGlobal("evaluate"), NRet: 1, Protect: true}, argTable); err != nil {
		return nil, fmt.Errorf("call evaluate: %w", err)
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("%s", sveltoslua.LuaTableError)
	}
	resultJSON, err := json.Marshal(sveltoslua.ToGoValue(table))
	if err != nil {
		return nil, fmt.Errorf("marshal result: %w", err)
	}
	var result aggregatedResult
	if err := json.Unmarshal(resultJSON, &result); err != nil {
		return nil, fmt.Errorf("decode result as sveltos-agent would: %w (result: %s)", err, resultJSON)
	}
	for i, resource := range result.Resources {
		if kind, _ := resource["kind"].(string); kind == "" {
			return nil, fmt.Errorf("resources[%d] has no kind: sveltos-agent cannot decode it", i)
		}
	}
	return json.Marshal(result)
}

// readResources decodes the objects with the number types Kubernetes' unstructured
// decoder produces (int64 for whole numbers, float64 otherwise), which is what
// MapToTable is handed in sveltos-agent.
func readResources(path string) ([]map[string]interface{}, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read resources: %w", err)
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	var objects []map[string]interface{}
	if err := decoder.Decode(&objects); err != nil {
		return nil, fmt.Errorf("decode resources %s: %w", path, err)
	}
	for _, object := range objects {
		convertNumbers(object)
	}
	return objects, nil
}

func convertNumbers(value interface{}) interface{} {
	switch typed := value.(type) {
	case map[string]interface{}:
		for key, item := range typed {
			typed[key] = convertNumbers(item)
		}
		return typed
	case []interface{}:
		for i, item := range typed {
			typed[i] = convertNumbers(item)
		}
		return typed
	case json.Number:
		if whole, err := typed.Int64(); err == nil {
			return whole
		}
		if real, err := typed.Float64(); err == nil {
			return real
		}
		return typed.String()
	default:
		return value
	}
}
