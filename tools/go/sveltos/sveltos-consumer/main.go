// Command sveltos-consumer reaches a managed cluster the way Sveltos' controllers do: with
// libsveltos v1.5.0's lib/clusterproxy (GetSveltosKubernetesRestConfig), which reads the
// SveltosCluster, finds its kubeconfig Secret (spec.kubeconfigName and spec.kubeconfigKeyName,
// or <name>-sveltos-kubeconfig) and builds a rest.Config from it. Tests use it to prove that
// the SveltosCluster and Secret this program writes are usable by Sveltos' own library.
// Built into a cache outside the repository by tools/build-go-helper.sh.
//
//	sveltos-consumer -kubeconfig FILE -namespace NS -name NAME [-can VERB:RESOURCE[:NAMESPACE] ...]
//
// -kubeconfig reaches the management cluster (default: $KUBECONFIG). With the rest.Config
// clusterproxy builds, it makes a SelfSubjectReview (the identity the managed cluster
// authenticated) and, for each -can, a SelfSubjectAccessReview.
//
// Output: one JSON document on stdout: {"server", "username", "groups", "can": {"VERB:RESOURCE[:NS]": bool}}
// or {"step", "error"}. No credential is printed. Exit status: 0 done, 1 a step failed, 2 usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	libsveltosv1beta1 "github.com/projectsveltos/libsveltos/api/v1beta1"
	"github.com/projectsveltos/libsveltos/lib/clusterproxy"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// requestTimeout bounds every request, so a test never hangs on an unreachable server.
const requestTimeout = 20 * time.Second

type checks []string

func (c *checks) String() string     { return strings.Join(*c, ",") }
func (c *checks) Set(v string) error { *c = append(*c, v); return nil }

type result struct {
	Server   string          `json:"server,omitempty"`
	Username string          `json:"username,omitempty"`
	Groups   []string        `json:"groups,omitempty"`
	Can      map[string]bool `json:"can,omitempty"`
	Step     string          `json:"step,omitempty"`
	Error    string          `json:"error,omitempty"`
}

func fail(step string, err error) {
	emit(result{Step: step, Error: err.Error()})
	os.Exit(1)
}

func emit(r result) {
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

func main() {
	// A flag set of its own: controller-runtime registers -kubeconfig on the global one.
	flags := flag.NewFlagSet("sveltos-consumer", flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the management cluster")
	namespace := flags.String("namespace", "", "namespace of the SveltosCluster")
	name := flags.String("name", "", "name of the SveltosCluster")
	var can checks
	flags.Var(&can, "can", "VERB:RESOURCE[:NAMESPACE] to ask a SelfSubjectAccessReview about (repeatable)")
	_ = flags.Parse(os.Args[1:])
	if *namespace == "" || *name == "" {
		fmt.Fprintln(os.Stderr, "usage: sveltos-consumer -kubeconfig FILE -namespace NS -name NAME [-can VERB:RESOURCE[:NS]]")
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*requestTimeout)
	defer cancel()
	mgmt, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("management kubeconfig", err)
	}
	mgmt.Timeout = requestTimeout
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fail("scheme", err)
	}
	if err := libsveltosv1beta1.AddToScheme(scheme); err != nil {
		fail("scheme", err)
	}
	c, err := client.New(mgmt, client.Options{Scheme: scheme})
	if err != nil {
		fail("management client", err)
	}
	cfg, err := clusterproxy.GetSveltosKubernetesRestConfig(ctx, logr.Discard(), c, *namespace, *name)
	if err != nil {
		fail("clusterproxy.GetSveltosKubernetesRestConfig", err)
	}
	if cfg == nil {
		fail("clusterproxy.GetSveltosKubernetesRestConfig", fmt.Errorf("SveltosCluster %s/%s is in pull mode", *namespace, *name))
	}
	cfg.Timeout = requestTimeout
	managed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fail("managed client", err)
	}
	review, err := managed.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		fail("SelfSubjectReview", err)
	}
	out := result{Server: cfg.Host, Username: review.Status.UserInfo.Username, Groups: review.Status.UserInfo.Groups, Can: map[string]bool{}}
	for _, check := range can {
		parts := strings.SplitN(check, ":", 3)
		if len(parts) < 2 {
			fmt.Fprintf(os.Stderr, "sveltos-consumer: -can %q: want VERB:RESOURCE[:NAMESPACE]\n", check)
			os.Exit(2)
		}
		attrs := &authorizationv1.ResourceAttributes{Verb: parts[0], Resource: parts[1]}
		if len(parts) == 3 {
			attrs.Namespace = parts[2]
		}
		access, err := managed.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
			&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}},
			metav1.CreateOptions{})
		if err != nil {
			fail("SelfSubjectAccessReview "+check, err)
		}
		out.Can[check] = access.Status.Allowed
	}
	emit(out)
}
