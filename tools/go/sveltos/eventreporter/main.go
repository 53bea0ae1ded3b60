// Command eventreporter plays sveltos-agent's part in the local control plane: it
// evaluates Sveltos EventSources against the cluster and writes the EventReports
// event-manager turns into ClusterProfiles. sveltos-agent's Go module is not served by
// the module proxy this project builds from, so this stands in for it; the evaluation
// uses libsveltos v1.5.0's own libraries (lib/cel for evaluateCEL, lib/lua for the Lua
// conversions, on gopher-lua as the agent does) and follows the agent's sequence:
// list each resourceSelector (label filters and selector as a label selector,
// namespace and name as field selectors, deleting objects left out), keep objects
// one of the evaluateCEL rules or the evaluate Lua accepts, run aggregatedSelection over
// the lot, and report matchingResources plus, with collectResources, the resources as
// JSON documents each followed by "---\n" (the form event-manager v1.5.0's own tests feed
// it; the older agent's bare "---" breaks libsveltos' CustomSplit at a second resource).
//
// Two layouts, matching event-manager's --agent-in-mgmt-cluster:
//
//	mgmt (true):     the EventSources named in ConfigMap <ns>/<cluster>-sveltos (written by
//	                 event-manager) are evaluated; EventReports go to <ns>/sveltos--<source>--<cluster>
//	                 with the cluster labels; the version handshake is ConfigMap <ns>/sa-sveltos-<cluster>.
//	managed (false): every EventSource is evaluated; EventReports go to projectsveltos/<source>;
//	                 the handshake is ConfigMap projectsveltos/sveltos-agent-version.
//
// An EventReport is written only when its content changes, with status.phase
// WaitingForDelivery, as the agent does; event-manager marks it Processed.
//
// Usage:
//
//	eventreporter --kubeconfig FILE [--layout mgmt|managed] [--cluster-namespace mgmt]
//	              [--cluster-name mgmt] [--version v1.5.0] [--interval 2s] [--once]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	libsveltosv1beta1 "github.com/projectsveltos/libsveltos/api/v1beta1"
	sveltoscel "github.com/projectsveltos/libsveltos/lib/cel"
	sveltoslua "github.com/projectsveltos/libsveltos/lib/lua"
	"github.com/projectsveltos/libsveltos/lib/mgmtagent"
	"github.com/projectsveltos/libsveltos/lib/sveltos_upgrade"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const managedReportNamespace = "projectsveltos"

type reporter struct {
	client           client.Client
	dynamic          dynamic.Interface
	config           *rest.Config
	mgmtLayout       bool
	clusterNamespace string
	clusterName      string
	clusterType      libsveltosv1beta1.ClusterType
	version          string
	log              logr.Logger
}

func main() {
	// A flag set of its own: controller-runtime registers --kubeconfig on the global one.
	flags := flag.NewFlagSet("eventreporter", flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the cluster (required)")
	layout := flags.String("layout", "mgmt", "mgmt (event-manager --agent-in-mgmt-cluster=true) or managed")
	clusterNamespace := flags.String("cluster-namespace", "mgmt", "namespace of the SveltosCluster reported for")
	clusterName := flags.String("cluster-name", "mgmt", "name of the SveltosCluster reported for")
	version := flags.String("version", "v1.5.0", "agent version announced to event-manager")
	interval := flags.Duration("interval", 2*time.Second, "time between evaluations")
	once := flags.Bool("once", false, "evaluate once and exit")
	verbose := flags.Bool("v", false, "log every evaluation")
	_ = flags.Parse(os.Args[1:])
	if *kubeconfig == "" || (*layout != "mgmt" && *layout != "managed") {
		flags.Usage()
		os.Exit(2)
	}
	level := 0
	if *verbose {
		level = 1
	}
	logger := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) },
		funcr.Options{Verbosity: level, LogTimestamp: true})

	r, err := newReporter(*kubeconfig, *layout == "mgmt", *clusterNamespace, *clusterName, *version, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventreporter:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	for {
		if err := r.pass(ctx); err != nil {
			if *once {
				fmt.Fprintln(os.Stderr, "eventreporter:", err)
				os.Exit(1)
			}
			logger.Info("pass failed", "error", err.Error())
		}
		if *once {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(*interval):
		}
	}
}

func newReporter(kubeconfig string, mgmtLayout bool, clusterNamespace, clusterName, version string,
	logger logr.Logger) (*reporter, error) {

	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	config.QPS, config.Burst = 50, 100
	// Selecting both CAPI versions makes the API server warn about v1beta1 on every list.
	config.WarningHandler = rest.NoWarnings{}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := libsveltosv1beta1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	d, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	return &reporter{client: c, dynamic: d, config: config, mgmtLayout: mgmtLayout,
		clusterNamespace: clusterNamespace, clusterName: clusterName,
		clusterType: libsveltosv1beta1.ClusterTypeSveltos, version: version, log: logger}, nil
}

// pass: handshake, then one evaluation of every EventSource in scope; reports of
// EventSources out of scope are removed.
func (r *reporter) pass(ctx context.Context) error {
	if err := sveltos_upgrade.StoreSveltosAgentVersion(ctx, r.client, r.version, r.clusterNamespace,
		r.clusterName, r.clusterType, r.mgmtLayout, r.log.V(1)); err != nil {
		return fmt.Errorf("version handshake: %w", err)
	}
	names, err := r.eventSourcesInScope(ctx)
	if err != nil {
		return err
	}
	mapper, err := r.restMapper()
	if err != nil {
		return err
	}
	var failures []string
	for _, name := range names {
		if err := r.evaluate(ctx, mapper, name); err != nil {
			failures = append(failures, fmt.Sprintf("EventSource %s: %v", name, err))
		}
	}
	if err := r.removeStaleReports(ctx, names); err != nil {
		failures = append(failures, err.Error())
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

func (r *reporter) restMapper() (meta.RESTMapper, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(r.config)
	if err != nil {
		return nil, err
	}
	groupResources, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		return nil, err
	}
	return restmapper.NewDiscoveryRESTMapper(groupResources), nil
}

func (r *reporter) eventSourcesInScope(ctx context.Context) ([]string, error) {
	set := map[string]bool{}
	if r.mgmtLayout {
		cm := &corev1.ConfigMap{}
		err := r.client.Get(ctx, types.NamespacedName{Namespace: r.clusterNamespace,
			Name: mgmtagent.GetConfigMapName(r.clusterName, r.clusterType)}, cm)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		for key, value := range cm.Data {
			if mgmtagent.IsEventSourceEntry(key) {
				set[value] = true
			}
		}
	} else {
		list := &libsveltosv1beta1.EventSourceList{}
		if err := r.client.List(ctx, list); err != nil {
			return nil, err
		}
		for i := range list.Items {
			set[list.Items[i].Name] = true
		}
	}
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func (r *reporter) reportKey(eventSource string) types.NamespacedName {
	if r.mgmtLayout {
		return types.NamespacedName{Namespace: r.clusterNamespace,
			Name: libsveltosv1beta1.GetEventReportName(eventSource, r.clusterName, &r.clusterType)}
	}
	return types.NamespacedName{Namespace: managedReportNamespace, Name: eventSource}
}

func (r *reporter) evaluate(ctx context.Context, mapper meta.RESTMapper, name string) error {
	source := &libsveltosv1beta1.EventSource{}
	if err := r.client.Get(ctx, types.NamespacedName{Name: name}, source); err != nil {
		if apierrors.IsNotFound(err) {
			return r.deleteReport(ctx, name)
		}
		return err
	}
	if !source.DeletionTimestamp.IsZero() {
		return r.deleteReport(ctx, name)
	}
	matched, err := r.matchingResources(ctx, mapper, source)
	if err != nil {
		return err
	}
	spec := libsveltosv1beta1.EventReportSpec{EventSourceName: name, MatchingResources: []corev1.ObjectReference{}}
	if r.mgmtLayout {
		spec.ClusterNamespace, spec.ClusterName, spec.ClusterType = r.clusterNamespace, r.clusterName, r.clusterType
	}
	for _, resource := range matched {
		spec.MatchingResources = append(spec.MatchingResources, corev1.ObjectReference{
			Namespace: resource.GetNamespace(), Name: resource.GetName(),
			Kind: resource.GetKind(), APIVersion: resource.GetAPIVersion(),
		})
	}
	if source.Spec.CollectResources && len(matched) > 0 {
		resources, err := marshalResources(matched)
		if err != nil {
			return err
		}
		spec.Resources = resources
	}
	return r.writeReport(ctx, name, spec)
}

// marshalResources is sveltos-agent's marshalSliceOfUnstructured: each resource as JSON,
// each followed by "---\n"; event-manager splits them with libsveltos' deployer.CustomSplit.
func marshalResources(resources []*unstructured.Unstructured) ([]byte, error) {
	var builder strings.Builder
	for _, resource := range resources {
		raw, err := resource.MarshalJSON()
		if err != nil {
			return nil, err
		}
		builder.Write(raw)
		builder.WriteString("---\n")
	}
	return []byte(builder.String()), nil
}

func (r *reporter) labels(eventSource string) map[string]string {
	if r.mgmtLayout {
		return libsveltosv1beta1.GetEventReportLabels(eventSource, r.clusterName, &r.clusterType)
	}
	return map[string]string{libsveltosv1beta1.EventSourceNameLabel: eventSource}
}

func (r *reporter) writeReport(ctx context.Context, eventSource string, spec libsveltosv1beta1.EventReportSpec) error {
	key := r.reportKey(eventSource)
	current := &libsveltosv1beta1.EventReport{}
	err := r.client.Get(ctx, key, current)
	if apierrors.IsNotFound(err) {
		report := &libsveltosv1beta1.EventReport{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: r.labels(eventSource)},
			Spec:       spec,
		}
		if err := r.client.Create(ctx, report); err != nil {
			return fmt.Errorf("create EventReport %s: %w", key, err)
		}
		r.log.Info("EventReport created", "eventReport", key.String(), "matching", len(spec.MatchingResources))
		return r.markWaiting(ctx, report)
	}
	if err != nil {
		return err
	}
	if reflect.DeepEqual(normalize(current.Spec), normalize(spec)) && hasLabels(current.Labels, r.labels(eventSource)) {
		r.log.V(1).Info("EventReport unchanged", "eventReport", key.String())
		return nil
	}
	if current.Labels == nil {
		current.Labels = map[string]string{}
	}
	for k, v := range r.labels(eventSource) {
		current.Labels[k] = v
	}
	current.Spec = spec
	if err := r.client.Update(ctx, current); err != nil {
		return fmt.Errorf("update EventReport %s: %w", key, err)
	}
	r.log.Info("EventReport updated", "eventReport", key.String(), "matching", len(spec.MatchingResources))
	return r.markWaiting(ctx, current)
}

func normalize(spec libsveltosv1beta1.EventReportSpec) string {
	raw, _ := json.Marshal(spec)
	return string(raw)
}

func hasLabels(current, want map[string]string) bool {
	for k, v := range want {
		if current[k] != v {
			return false
		}
	}
	return true
}

func (r *reporter) markWaiting(ctx context.Context, report *libsveltosv1beta1.EventReport) error {
	phase := libsveltosv1beta1.ReportWaitingForDelivery
	report.Status.Phase = &phase
	return r.client.Status().Update(ctx, report)
}

func (r *reporter) deleteReport(ctx context.Context, eventSource string) error {
	report := &libsveltosv1beta1.EventReport{}
	err := r.client.Get(ctx, r.reportKey(eventSource), report)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !report.DeletionTimestamp.IsZero() {
		return nil
	}
	r.log.Info("EventReport deleted", "eventReport", r.reportKey(eventSource).String())
	return client.IgnoreNotFound(r.client.Delete(ctx, report))
}

// removeStaleReports deletes this reporter's EventReports whose EventSource is out of scope.
func (r *reporter) removeStaleReports(ctx context.Context, inScope []string) error {
	keep := map[string]bool{}
	for _, name := range inScope {
		keep[name] = true
	}
	list := &libsveltosv1beta1.EventReportList{}
	options := []client.ListOption{client.InNamespace(managedReportNamespace)}
	if r.mgmtLayout {
		options = []client.ListOption{client.InNamespace(r.clusterNamespace), client.MatchingLabels{
			libsveltosv1beta1.EventReportClusterNameLabel: r.clusterName,
			libsveltosv1beta1.EventReportClusterTypeLabel: strings.ToLower(string(r.clusterType)),
		}}
	}
	if err := r.client.List(ctx, list, options...); err != nil {
		return err
	}
	for i := range list.Items {
		name := list.Items[i].Labels[libsveltosv1beta1.EventSourceNameLabel]
		if name != "" && !keep[name] {
			if err := r.deleteReport(ctx, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// matchingResources is the agent's fetchResourcesMatchingEventSource.
func (r *reporter) matchingResources(ctx context.Context, mapper meta.RESTMapper,
	source *libsveltosv1beta1.EventSource) ([]*unstructured.Unstructured, error) {

	var all []*unstructured.Unstructured
	for i := range source.Spec.ResourceSelectors {
		selected, err := r.select1(ctx, mapper, &source.Spec.ResourceSelectors[i])
		if err != nil {
			return nil, err
		}
		all = append(all, selected...)
	}
	if source.Spec.AggregatedSelection != "" {
		return aggregatedSelection(source.Spec.AggregatedSelection, all, r.log)
	}
	return all, nil
}

func labelSelector(selector *libsveltosv1beta1.ResourceSelector) (string, error) {
	var parts []string
	for _, f := range selector.LabelFilters {
		switch f.Operation {
		case libsveltosv1beta1.OperationEqual:
			parts = append(parts, fmt.Sprintf("%s=%s", f.Key, f.Value))
		case libsveltosv1beta1.OperationDifferent:
			parts = append(parts, fmt.Sprintf("%s!=%s", f.Key, f.Value))
		case libsveltosv1beta1.OperationHas:
			parts = append(parts, f.Key)
		case libsveltosv1beta1.OperationDoesNotHave:
			parts = append(parts, "!"+f.Key)
		}
	}
	if selector.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(selector.Selector)
		if err != nil {
			return "", err
		}
		if s != labels.Everything() && s.String() != "" {
			parts = append(parts, s.String())
		}
	}
	return strings.Join(parts, ","), nil
}

func (r *reporter) select1(ctx context.Context, mapper meta.RESTMapper,
	selector *libsveltosv1beta1.ResourceSelector) ([]*unstructured.Unstructured, error) {

	gvk := schema.GroupVersionKind{Group: selector.Group, Version: selector.Version, Kind: selector.Kind}
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil // a version the cluster does not serve: nothing selected
		}
		return nil, err
	}
	options := metav1.ListOptions{}
	if options.LabelSelector, err = labelSelector(selector); err != nil {
		return nil, err
	}
	var fields []string
	if selector.Namespace != "" {
		fields = append(fields, "metadata.namespace="+selector.Namespace)
	}
	if selector.Name != "" {
		fields = append(fields, "metadata.name="+selector.Name)
	}
	options.FieldSelector = strings.Join(fields, ",")
	list, err := r.dynamic.Resource(mapping.Resource).List(ctx, options)
	if err != nil {
		return nil, err
	}
	var selected []*unstructured.Unstructured
	for i := range list.Items {
		resource := &list.Items[i]
		if !resource.GetDeletionTimestamp().IsZero() {
			continue
		}
		if len(selector.EvaluateCEL) > 0 {
			matched, err := sveltoscel.EvaluateRules(resource, selector.EvaluateCEL, r.log.V(1))
			if err != nil {
				return nil, err
			}
			if !matched {
				continue
			}
		}
		if selector.Evaluate != "" {
			matched, err := luaMatch(selector.Evaluate, resource)
			if err != nil {
				return nil, err
			}
			if !matched {
				continue
			}
		}
		selected = append(selected, resource)
	}
	return selected, nil
}

// luaMatch is the agent's isMatchForEventSource.
func luaMatch(script string, resource *unstructured.Unstructured) (bool, error) {
	l := lua.NewState()
	defer l.Close()
	obj := sveltoslua.MapToTable(resource.UnstructuredContent())
	if err := l.DoString(script); err != nil {
		return false, err
	}
	l.SetGlobal("obj", obj)
	if err := l.CallByParam(lua.P{Fn: l.GetGlobal("evaluate"), NRet: 1, Protect: true}, obj); err != nil {
		return false, err
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return false, errors.New(sveltoslua.LuaTableError)
	}
	raw, err := json.Marshal(sveltoslua.ToGoValue(table))
	if err != nil {
		return false, err
	}
	var result struct {
		Matching bool   `json:"matching"`
		Message  string `json:"message"`
	}
	if err := json.Unmarshal(raw, &result); err != nil {
		return false, err
	}
	return result.Matching, nil
}

// aggregatedSelection is the agent's aggregatedSelection.
func aggregatedSelection(script string, resources []*unstructured.Unstructured,
	logger logr.Logger) ([]*unstructured.Unstructured, error) {

	l := lua.NewState()
	defer l.Close()
	if err := l.DoString(script); err != nil {
		return nil, fmt.Errorf("aggregatedSelection: %w", err)
	}
	argTable := l.NewTable()
	for _, resource := range resources {
		argTable.Append(sveltoslua.MapToTable(resource.UnstructuredContent()))
	}
	l.SetGlobal("resources", argTable)
	if err := l.CallByParam(lua.P{Fn: l.GetGlobal("evaluate"), NRet: 1, Protect: true}, argTable); err != nil {
		return nil, fmt.Errorf("aggregatedSelection evaluate: %w", err)
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return nil, errors.New(sveltoslua.LuaTableError)
	}
	raw, err := json.Marshal(sveltoslua.ToGoValue(table))
	if err != nil {
		return nil, err
	}
	var result struct {
		Resources []*unstructured.Unstructured `json:"resources"`
		Message   string                       `json:"message"`
	}
	if err := json.Unmarshal(raw, &result); err != nil {
		return nil, fmt.Errorf("aggregatedSelection result: %w", err)
	}
	if result.Message != "" {
		logger.V(1).Info("aggregatedSelection", "message", result.Message)
	}
	return result.Resources, nil
}
