// Command gotemplate executes one Go text/template the way Sveltos' event-manager
// instantiates a ConfigMap/Secret carrying the projectsveltos.io/instantiate annotation,
// so tests can check the project's templates with the real template engine.
//
// Usage:
//
//	gotemplate [-text-funcs] [-resources RESOURCES_JSON_FILE] TEMPLATE_FILE CONTEXT_JSON_FILE
//
// The rendered text goes to stdout. A parse or execution error goes to stderr and the
// exit status is 1; a usage error exits with 2.
//
// What is the same as event-manager (controllers/eventtrigger_deployer.go,
// instantiateDataSection): text/template, Option("missingkey=error"), and the function
// map of libsveltos' funcmap.SveltosFuncMap (Sprig plus toYaml/fromYaml/toJson/...),
// imported rather than copied so it cannot drift. -text-funcs selects Sprig's
// TxtFuncMap, as event-manager does when the EventTrigger carries the
// projectsveltos.io/tex-template annotation.
//
// -resources plays addon-controller's pass over a ConfigMap carrying the
// projectsveltos.io/template annotation (controllers/template_instantiation.go,
// instantiateTemplateValues): a JSON object from templateResourceRefs identifiers to the
// objects fetched, which getResource returns (nil for an unknown identifier, as there).
// addon-controller's resetFields strips metadata fields (managedFields, resourceVersion,
// uid ...) the project's templates do not read; here the objects are returned as given.
//
// What is not here: the other object helpers (copy, getField, setField, removeField,
// chainSetField, chainRemoveField), which need k8s.io/apimachinery; a template using
// them fails here with "function not defined".
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/template"

	"github.com/projectsveltos/libsveltos/lib/funcmap"
)

func main() {
	textFuncs := flag.Bool("text-funcs", false, "use Sprig's TxtFuncMap (projectsveltos.io/tex-template)")
	resourcesPath := flag.String("resources", "", "JSON object: templateResourceRefs identifier -> object, for getResource")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: gotemplate [-text-funcs] [-resources FILE] TEMPLATE_FILE CONTEXT_JSON_FILE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	rendered, err := render(flag.Arg(0), flag.Arg(1), *resourcesPath, *textFuncs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(rendered)
}

func render(templatePath, contextPath, resourcesPath string, textFuncs bool) ([]byte, error) {
	text, err := os.ReadFile(templatePath)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	data, err := readContext(contextPath)
	if err != nil {
		return nil, err
	}
	funcs := funcmap.SveltosFuncMap(textFuncs)
	if resourcesPath != "" {
		resources, err := readContext(resourcesPath)
		if err != nil {
			return nil, err
		}
		funcs["getResource"] = func(id string) map[string]interface{} {
			object, _ := resources[id].(map[string]interface{})
			return object
		}
	}
	tmpl, err := template.New(templatePath).Option("missingkey=error").
		Funcs(funcs).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", templatePath, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("execute template %s: %w", templatePath, err)
	}
	return out.Bytes(), nil
}

// readContext decodes the JSON context with the number types Kubernetes' unstructured
// decoder produces (int64 for whole numbers, float64 otherwise): event-manager hands
// templates objects decoded that way, and Sprig functions treat the two differently.
func readContext(path string) (map[string]interface{}, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read context: %w", err)
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	var data map[string]interface{}
	if err := decoder.Decode(&data); err != nil {
		return nil, fmt.Errorf("decode context %s: %w", path, err)
	}
	converted, ok := convertNumbers(data).(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("context %s: top level must be a JSON object", path)
	}
	return converted, nil
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
