// Command clusterprofile-consumer reads ClusterProfiles the way pull-model consumers do, with
// sigs.k8s.io/cluster-inventory-api's own pkg/access library at the pinned version (go.mod),
// so tests can prove that a published profile is usable by the library those consumers use.
// Built into a cache outside the repository by tools/build-go-helper.sh.
//
//	clusterprofile-consumer access -clusterprofile-provider-file FILE -namespace NS -name NAME [-can VERB:GROUP:RESOURCE:NAMESPACE ...]
//	clusterprofile-consumer engage -clusterprofile-provider-file FILE [-namespace NS] [-selector LABELS]
//
// The management cluster is reached through -kubeconfig (default: $KUBECONFIG). Exec plugins
// named in the provider file inherit this process's environment, so the
// kubeconfig-secretreader plugin reads its Secrets with the same kubeconfig.
//
// access: read ClusterProfile NS/NAME, build a rest.Config with access.Config.BuildConfigFromCP,
// then make two authenticated requests with it: GET /version and a SelfSubjectReview, whose
// answer is the identity the cluster authenticated; and, for each -can, a SelfSubjectAccessReview
// (what that identity may do: "allowed" in the output, keyed by the -can value).
//
// engage: for every ClusterProfile in NS (all namespaces when empty) matching LABELS, what
// multicluster-runtime's cluster-inventory-api provider does in its Reconcile
// (providers/cluster-inventory-api/provider.go at v0.24.1), without the controller machinery:
// a profile whose readiness check fails waits and is not engaged; a ready one gets a rest.Config
// from its access-provider strategy, which is access.Config.BuildConfigFromCP; it is engaged when
// that config works. The readiness rule is this program's own rendering of the provider's default
// IsReady as written there (see ready below); the provider module itself is not built here (the
// module proxy refuses it, docs/consumer-shapes.md).
//
// Output: one JSON document on stdout. It names the Secret an access provider points at, never a
// credential: no token, key, certificate or kubeconfig is printed. Exit status: 0 done (engage:
// the profiles were listed, each profile's outcome is in the output); 1 a step failed, named in
// the output's "step" and "error"; 2 usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	clientset "sigs.k8s.io/cluster-inventory-api/client/clientset/versioned"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
)

// requestTimeout bounds every request, the exec plugin's included, so a test never hangs on an
// unreachable server.
const requestTimeout = 20 * time.Second

// secretReference is what the kubeconfig-secretreader plugin reads from the profile's
// client.authentication.k8s.io/exec extension (plugins/kubeconfig-secretreader/cmd/plugin/main.go,
// execClusterConfig). Only these fields are echoed: they name a Secret, they are not one.
//
// ClusterName is what the secretreader plugin reads from the same extension
// (plugins/secretreader/cmd/plugin/main.go): the name of the token Secret in the consumer's own
// namespace.
type secretReference struct {
	ClusterName string `json:"clusterName,omitempty"`
	Name        string `json:"name,omitempty"`
	Key         string `json:"key,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Context     string `json:"context,omitempty"`
}

// identity is the SelfSubjectReview's answer: who the cluster authenticated.
type identity struct {
	Username string   `json:"username"`
	UID      string   `json:"uid,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// reached is what a consumer learned by using a profile's rest.Config.
type reached struct {
	Server        string           `json:"server"`
	ExecCommand   string           `json:"execCommand"`
	ExecConfig    *secretReference `json:"execClusterConfig,omitempty"`
	ServerVersion string           `json:"serverVersion"`
	User          identity         `json:"user"`
	// Allowed: each -can review's answer, keyed by the -can value.
	Allowed map[string]bool `json:"allowed,omitempty"`
}

// reviews are the -can values: VERB:GROUP:RESOURCE:NAMESPACE, asked as SelfSubjectAccessReviews.
type reviews []string

func (r *reviews) String() string     { return strings.Join(*r, ",") }
func (r *reviews) Set(v string) error { *r = append(*r, v); return nil }

var accessReviews reviews

// profileResult is one profile's outcome; Step and Error say where it stopped.
type profileResult struct {
	Cluster         string   `json:"cluster"`
	AccessProviders []string `json:"accessProviders"`
	// KubernetesVersion is the profile's status.version.kubernetes, as published.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	Ready             *bool  `json:"ready,omitempty"`
	WaitReason        string `json:"waitReason,omitempty"`
	Engaged           *bool  `json:"engaged,omitempty"`
	// ConfigDeepEqualOnRebuild: two rest.Configs built from the same profile compared with
	// reflect.DeepEqual, the comparison multicluster-runtime v0.24.1 uses to decide that an
	// engaged cluster's kubeconfig is unchanged (provider.go, Reconcile).
	ConfigDeepEqualOnRebuild *bool    `json:"configDeepEqualOnRebuild,omitempty"`
	Reached                  *reached `json:"reached,omitempty"`
	Step                     string   `json:"step,omitempty"`
	Error                    string   `json:"error,omitempty"`
}

type engageOutput struct {
	ReadinessRule string          `json:"readinessRule"`
	Clusters      []profileResult `json:"clusters"`
	Engaged       []string        `json:"engaged"`
	Waiting       []string        `json:"waiting"`
	Failed        []string        `json:"failed"`
}

// readinessRule is printed with every engage result, so a reader sees which rule was applied.
const readinessRule = "condition " + v1alpha1.ClusterConditionControlPlaneHealthy + " present with status True"

// ready is multicluster-runtime's default IsReady as its source states it (v0.24.1,
// providers/cluster-inventory-api/provider.go, setDefaults): the ControlPlaneHealthy condition is
// found and its status is True. A missing condition, False and Unknown all wait.
func ready(profile *v1alpha1.ClusterProfile) (bool, string) {
	condition := meta.FindStatusCondition(profile.Status.Conditions, v1alpha1.ClusterConditionControlPlaneHealthy)
	if condition == nil {
		return false, "no " + v1alpha1.ClusterConditionControlPlaneHealthy + " condition"
	}
	if condition.Status != metav1.ConditionTrue {
		return false, fmt.Sprintf("%s is %s (reason %q)", condition.Type, condition.Status, condition.Reason)
	}
	return true, ""
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "access" && os.Args[1] != "engage") {
		fmt.Fprintln(os.Stderr, "usage: clusterprofile-consumer access|engage -clusterprofile-provider-file FILE [-kubeconfig FILE] [-namespace NS] [-name NAME] [-selector LABELS]")
		os.Exit(2)
	}
	mode := os.Args[1]
	flags := flag.NewFlagSet(mode, flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the management cluster")
	providerFile := flags.String("clusterprofile-provider-file", "", "access provider file (pkg/access's JSON format)")
	namespace := flags.String("namespace", "", "the ClusterProfile's namespace (engage: empty means every namespace)")
	name := flags.String("name", "", "the ClusterProfile's name (access)")
	selector := flags.String("selector", "", "label selector of the ClusterProfiles (engage)")
	flags.Var(&accessReviews, "can", "VERB:GROUP:RESOURCE:NAMESPACE to ask as a SelfSubjectAccessReview (repeatable)")
	_ = flags.Parse(os.Args[2:])
	if *providerFile == "" || (mode == "access" && (*namespace == "" || *name == "")) {
		fmt.Fprintln(os.Stderr, "clusterprofile-consumer: -clusterprofile-provider-file is required; access also needs -namespace and -name")
		os.Exit(2)
	}

	var output any
	var err error
	switch mode {
	case "access":
		output, err = runAccess(*kubeconfig, *providerFile, *namespace, *name)
	case "engage":
		output, err = runEngage(*kubeconfig, *providerFile, *namespace, *selector)
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	if encodeErr := encoder.Encode(output); encodeErr != nil {
		fmt.Fprintln(os.Stderr, "clusterprofile-consumer: writing the result:", encodeErr)
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterprofile-consumer:", err)
		os.Exit(1)
	}
}

// stepError names the step a profile stopped at.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }

func fail(result *profileResult, step string, err error) error {
	result.Step, result.Error = step, err.Error()
	return &stepError{step: step, err: err}
}

func setup(kubeconfig, providerFile string) (clientset.Interface, *access.Config, error) {
	accessConfig, err := access.NewFromFile(providerFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the access provider file %s: %w", providerFile, err)
	}
	management, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("loading the management cluster's kubeconfig %q: %w", kubeconfig, err)
	}
	management.Timeout = requestTimeout
	profiles, err := clientset.NewForConfig(management)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the ClusterProfile client: %w", err)
	}
	return profiles, accessConfig, nil
}

func runAccess(kubeconfig, providerFile, namespace, name string) (*profileResult, error) {
	result := &profileResult{Cluster: namespace + "/" + name}
	profiles, accessConfig, err := setup(kubeconfig, providerFile)
	if err != nil {
		return result, fail(result, "setup", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	profile, err := profiles.ApisV1alpha1().ClusterProfiles(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return result, fail(result, "read-profile", fmt.Errorf("getting ClusterProfile %s/%s: %w", namespace, name, err))
	}
	*result = newResult(profile)
	return result, useProfile(result, accessConfig, profile)
}

func runEngage(kubeconfig, providerFile, namespace, selector string) (*engageOutput, error) {
	output := &engageOutput{ReadinessRule: readinessRule, Clusters: []profileResult{},
		Engaged: []string{}, Waiting: []string{}, Failed: []string{}}
	profiles, accessConfig, err := setup(kubeconfig, providerFile)
	if err != nil {
		return output, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	list, err := profiles.ApisV1alpha1().ClusterProfiles(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return output, fmt.Errorf("listing ClusterProfiles in namespace %q (selector %q): %w", namespace, selector, err)
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].Namespace+"/"+list.Items[i].Name < list.Items[j].Namespace+"/"+list.Items[j].Name
	})
	for i := range list.Items {
		profile := &list.Items[i]
		// multicluster-runtime names a cluster by the profile's namespace/name (provider.go, Reconcile).
		result := newResult(profile)
		isReady, reason := ready(profile)
		result.Ready = &isReady
		engaged := false
		switch {
		case !isReady:
			result.WaitReason = reason
			output.Waiting = append(output.Waiting, result.Cluster)
		case engage(&result, accessConfig, profile) != nil:
			output.Failed = append(output.Failed, result.Cluster)
		default:
			engaged = true
			output.Engaged = append(output.Engaged, result.Cluster)
		}
		result.Engaged = &engaged
		output.Clusters = append(output.Clusters, result)
	}
	return output, nil
}

// engage uses a ready profile, first saying on stderr which profile the plugin's messages
// that follow are about.
func engage(result *profileResult, accessConfig *access.Config, profile *v1alpha1.ClusterProfile) error {
	fmt.Fprintf(os.Stderr, "clusterprofile-consumer: engaging %s\n", result.Cluster)
	return useProfile(result, accessConfig, profile)
}

// newResult starts a profile's result with what the profile itself publishes.
func newResult(profile *v1alpha1.ClusterProfile) profileResult {
	result := profileResult{
		Cluster:           profile.Namespace + "/" + profile.Name,
		AccessProviders:   []string{},
		KubernetesVersion: profile.Status.Version.Kubernetes,
	}
	for _, provider := range profile.Status.AccessProviders {
		result.AccessProviders = append(result.AccessProviders, provider.Name)
	}
	return result
}

// useProfile builds the profile's rest.Config with pkg/access and makes the two requests. An exec
// plugin's own messages go to this process's stderr (client-go hands it os.Stderr); the error
// returned here only says that the plugin failed.
func useProfile(result *profileResult, accessConfig *access.Config, profile *v1alpha1.ClusterProfile) error {
	config, err := accessConfig.BuildConfigFromCP(profile)
	if err != nil {
		return fail(result, "build-config", err)
	}
	if again, err := accessConfig.BuildConfigFromCP(profile); err == nil {
		same := reflect.DeepEqual(config, again)
		result.ConfigDeepEqualOnRebuild = &same
	}
	got := &reached{Server: config.Host}
	if config.ExecProvider != nil {
		got.ExecCommand = config.ExecProvider.Command
		got.ExecConfig = namedSecret(config)
	}
	config.Timeout = requestTimeout
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fail(result, "client", err)
	}
	version, err := client.Discovery().ServerVersion()
	if err != nil {
		return fail(result, "get-version", err)
	}
	got.ServerVersion = version.GitVersion
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return fail(result, "self-subject-review", err)
	}
	user := review.Status.UserInfo
	got.User = identity{Username: user.Username, UID: user.UID, Groups: user.Groups}
	result.Reached = got
	for _, asked := range accessReviews {
		parts := strings.Split(asked, ":")
		if len(parts) != 4 {
			return fail(result, "access-review", fmt.Errorf("-can %q: want VERB:GROUP:RESOURCE:NAMESPACE", asked))
		}
		access, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: parts[0], Group: parts[1], Resource: parts[2], Namespace: parts[3]}},
		}, metav1.CreateOptions{})
		if err != nil {
			return fail(result, "access-review", err)
		}
		if got.Allowed == nil {
			got.Allowed = map[string]bool{}
		}
		got.Allowed[asked] = access.Status.Allowed
	}
	return nil
}

// namedSecret reads back the Secret reference that BuildConfigFromCP put into the exec
// configuration (from the profile's client.authentication.k8s.io/exec extension).
func namedSecret(config *rest.Config) *secretReference {
	if config.ExecProvider.Config == nil {
		return nil
	}
	raw, err := json.Marshal(config.ExecProvider.Config)
	if err != nil {
		return nil
	}
	var reference secretReference
	if err := json.Unmarshal(raw, &reference); err != nil || reference == (secretReference{}) {
		return nil
	}
	return &reference
}
