// The floor for `make bench-deploy`: server-side apply of exactly the objects the
// program renders, from N concurrent workers with no client-side rate limit, so every
// figure of the Pulumi path can be read as a ratio to what the API server itself costs.
// Built into a cache outside the repository by tools/build-go-helper.sh.
//
//	applier --kubeconfig FILE --mode apply|dry-run|delete [--workers 8] < objects.json
//
// Input: a JSON list of manifests (`python -m inventory render -o json --show-secrets`);
// an object's `status`, if any, is applied to its status subresource too.
// Output: one JSON line {"mode", "objects", "seconds", "errors", "firstError"}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// fieldManager differs from the provider's, so the floor never takes fields from a stack.
const fieldManager = "cluster-inventory-bench-floor"

type result struct {
	Mode       string  `json:"mode"`
	Objects    int     `json:"objects"`
	Seconds    float64 `json:"seconds"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server")
	mode := flag.String("mode", "apply", "apply, dry-run or delete")
	workers := flag.Int("workers", 8, "concurrent connections")
	flag.Parse()
	if err := run(*kubeconfig, *mode, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "applier:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, mode string, workers int) error {
	var manifests []map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&manifests); err != nil {
		return fmt.Errorf("reading the objects (a JSON list) from stdin: %w", err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	// No client-side throttling: the floor is what the server can do.
	config.QPS, config.Burst = 1e6, 1e6
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}

	objects := make([]*unstructured.Unstructured, len(manifests))
	for i, m := range manifests {
		objects[i] = &unstructured.Unstructured{Object: m}
		// Resolve every kind before the clock starts: discovery is not the floor's cost.
		if _, err := mapper.RESTMapping(objects[i].GroupVersionKind().GroupKind(), objects[i].GroupVersionKind().Version); err != nil {
			return fmt.Errorf("%s %s/%s: %w", objects[i].GetKind(), objects[i].GetNamespace(), objects[i].GetName(), err)
		}
	}

	jobs := make(chan *unstructured.Unstructured)
	var mu sync.Mutex
	res := result{Mode: mode, Objects: len(objects)}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for obj := range jobs {
				if err := one(client, mapper, obj, mode); err != nil {
					mu.Lock()
					res.Errors++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, obj := range objects {
		jobs <- obj
	}
	close(jobs)
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

func one(client dynamic.Interface, mapper meta.RESTMapper, obj *unstructured.Unstructured, mode string) error {
	gvk := obj.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	resource := client.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	ctx := context.Background()
	switch mode {
	case "apply", "dry-run":
		opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
		if mode == "dry-run" {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err = resource.Apply(ctx, obj.GetName(), obj, opts)
		// A ClusterProfile's accessProviders live in its status subresource, which the
		// main resource ignores: the bench's inventory sets it the way a cluster manager would.
		if status, ok := obj.Object["status"]; ok && err == nil {
			body := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(), "status": status,
				"metadata": map[string]any{"name": obj.GetName(), "namespace": obj.GetNamespace()},
			}}
			_, err = resource.Apply(ctx, obj.GetName(), body, opts, "status")
		}
	case "delete":
		policy := metav1.DeletePropagationBackground
		err = resource.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy})
		if apierrors.IsNotFound(err) {
			err = nil
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
