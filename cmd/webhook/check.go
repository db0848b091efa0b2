package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// The exit codes of check, for scripts.
const (
	// checkOK: the object is as the policy wants it.
	checkOK = 0
	// checkSkipped: gatemesh does not inject it, and it is not injected.
	checkSkipped = 3
	// checkActionNeeded: the object is not as the policy wants it (stale,
	// or not injected though it would be now): restart or re-apply it.
	checkActionNeeded = 4
)

// checkKinds are the kinds check knows, by the names kubectl takes.
var checkKinds = map[string]schema.GroupVersionKind{
	"pod":         {Version: "v1", Kind: "Pod"},
	"namespace":   {Version: "v1", Kind: "Namespace"},
	"deployment":  {Group: "apps", Version: "v1", Kind: "Deployment"},
	"statefulset": {Group: "apps", Version: "v1", Kind: "StatefulSet"},
	"daemonset":   {Group: "apps", Version: "v1", Kind: "DaemonSet"},
	"upstream":    {Group: "gloo.solo.io", Version: "v1", Kind: "Upstream"},
	"backend":     {Group: "gateway.kgateway.dev", Version: "v1alpha1", Kind: "Backend"},
}

// exitError ends check with code after its report.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// checkOptions are the flags of check.
type checkOptions struct {
	kubeconfig, namespace string
	// For "check install": gatemesh's namespace, webhook configuration
	// and Service.
	installNamespace, webhookConfig, serviceName string
	pf                                           *policyFlags
	// newClient makes the client; tests may replace it.
	newClient func(kubeconfig string) (client.Reader, error)
}

func newCheckCommand(ctx context.Context) *cobra.Command {
	o := &checkOptions{newClient: liveClient}
	cmd := &cobra.Command{
		Use:   "check (TYPE/NAME | install) [flags]",
		Short: "Say whether gatemesh injects or stamps an object in the cluster, and why",
		Long: `Check an object in the cluster against the policy, like "istioctl x
check-inject": a pod, a workload's pod template, a namespace, a Gloo
Upstream or a kgateway Backend. It says what gatemesh decides and why, the
istiod address and revision a pod gets, whether its bootstrap has the SDS
cluster, and whether the object is stale against the current policy.
Give it the policy the webhook serves (--config and the same flags).
"check install" checks the installation: the webhook configuration is
there, its caBundle verifies the serving certificate, the Service has
ready endpoints.

Exit codes: 0 as the policy wants it; 3 not injected, and the policy
does not inject it; 4 action needed (stale, or not injected though it
would be now: restart or re-apply it); 1 the check failed; 2 usage.`,
		Example: `  webhook check pod/gateway-proxy-7d9f -n gloo-system --config policy.yaml
  webhook check upstream/default-httpbin-8000 -n gloo-system
  webhook check install`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("%s takes one TYPE/NAME, got %d arguments", cmd.CommandPath(), len(args))}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig path; empty means $KUBECONFIG or in-cluster")
	fs.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of the object")
	fs.StringVar(&o.installNamespace, "gatemesh-namespace", "gatemesh-system", "check install: the namespace gatemesh runs in")
	fs.StringVar(&o.webhookConfig, "webhook-config-name", "gatemesh", "check install: the MutatingWebhookConfiguration")
	fs.StringVar(&o.serviceName, "service-name", "gatemesh-webhook", "check install: the webhook Service")
	o.pf = addPolicyFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if args[0] == "install" {
			return o.run(ctx, cmd.OutOrStdout(), schema.GroupVersionKind{}, "")
		}
		kind, name, ok := strings.Cut(strings.ToLower(args[0]), "/")
		gvk, known := checkKinds[strings.TrimSuffix(kind, "s")]
		if !ok || !known || name == "" {
			return usageError{fmt.Errorf("%q is not TYPE/NAME with TYPE one of pod, deployment, statefulset, daemonset, namespace, upstream, backend", args[0])}
		}
		return o.run(ctx, cmd.OutOrStdout(), gvk, name)
	}
	return cmd
}

func liveClient(kubeconfig string) (client.Reader, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("failed to create client: %w", err)
	}
	return c, nil
}

func (o *checkOptions) run(ctx context.Context, out io.Writer, gvk schema.GroupVersionKind, name string) error {
	pol, err := o.pf.load()
	if err != nil {
		return err
	}
	c, err := o.newClient(o.kubeconfig)
	if err != nil {
		return err
	}
	ck := &checker{ctx: ctx, c: c, pol: pol, out: out}
	var code int
	switch gvk.Kind {
	case "":
		code, err = ck.install(o)
	case "Namespace":
		code, err = ck.namespace(name)
	default:
		var obj *unstructured.Unstructured
		if obj, err = ck.get(gvk, o.namespace, name); err != nil {
			return err
		}
		code, err = ck.object(obj)
	}
	if err != nil {
		return err
	}
	if code != checkOK {
		return exitError{code}
	}
	return nil
}

// checker reads the cluster and reports on one object.
type checker struct {
	ctx context.Context
	c   client.Reader
	pol *policy.Policy
	out io.Writer
}

func (ck *checker) get(gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := ck.c.Get(ck.ctx, types.NamespacedName{Namespace: ns, Name: name}, u); err != nil {
		return nil, fmt.Errorf("failed to get %s %s/%s: %w", gvk.Kind, ns, name, err)
	}
	return u, nil
}

// ns reads a namespace as the policy sees it.
func (ck *checker) ns(name string) (policy.Namespace, error) {
	u, err := ck.get(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "", name)
	if err != nil {
		return policy.Namespace{}, err
	}
	return policy.Namespace{Name: name, Labels: u.GetLabels()}, nil
}

func (ck *checker) namespace(name string) (int, error) {
	ns, err := ck.ns(name)
	if err != nil {
		return 0, err
	}
	rev := ns.Labels[ck.pol.Config().Mesh.RevisionLabel]
	fmt.Fprintf(ck.out, "namespace %s: opted in %v, in the mesh %v (revision %q)\n", name, ck.pol.NamespaceEnabled(ns), ck.pol.InMesh(ns), rev)
	if !ck.pol.NamespaceEnabled(ns) {
		label := ck.pol.NamespaceLabels()
		for k, v := range label {
			fmt.Fprintf(ck.out, "  gateway pods here are not injected: label it %s=%s\n", k, v)
		}
		return checkSkipped, nil
	}
	return checkOK, nil
}

func (ck *checker) object(obj *unstructured.Unstructured) (int, error) {
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		return 0, fmt.Errorf("internal error: failed to encode the object: %w", err)
	}
	gvk := obj.GroupVersionKind()
	what := fmt.Sprintf("%s %s/%s", strings.ToLower(gvk.Kind), obj.GetNamespace(), obj.GetName())
	if mutate.Stamps(gvk) {
		return ck.backend(what, raw)
	}
	path := templatePaths[gvk]
	if path != nil {
		tmpl, err := member(raw, path)
		if err != nil || tmpl == nil {
			return 0, fmt.Errorf("%s has no pod template: %v", what, err)
		}
		raw = tmpl
	}
	return ck.pod(what, obj.GetNamespace(), raw, path != nil)
}

// pod reports on a pod or, when template, a workload's pod template, raw,
// in namespace nsName.
func (ck *checker) pod(what, nsName string, raw []byte, template bool) (int, error) {
	ns, err := ck.ns(nsName)
	if err != nil {
		return 0, err
	}
	head, err := mutate.DecodePodHead(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	plan := ck.pol.DecidePod(head.Facts(), ns)
	ops, _, err := mutate.PodPatch(raw, head, plan, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	var annotations map[string]string
	if head.Metadata != nil && head.Metadata.Annotations != nil {
		annotations = *head.Metadata.Annotations
	}
	_, injected := mutate.ParseStatus(annotations)
	if plan.Adjust {
		return ck.adjusted(what, annotations, plan, ops, template), nil
	}
	if _, adjusted := mutate.ParseAdjusted(annotations); adjusted && !injected {
		fmt.Fprintf(ck.out, "%s: adjusted, but the policy would not adjust it now: %s (%s); restart it\n", what, plan.Skip, plan.Skip.Sentence())
		return checkActionNeeded, nil
	}
	code := checkOK
	switch {
	case plan.Inject() && len(ops) == 0:
		fmt.Fprintf(ck.out, "%s: injected, current with the policy\n", what)
	case plan.Inject() && injected:
		fmt.Fprintf(ck.out, "%s: injected, stale: the webhook would inject it differently now; restart it\n", what)
		code = checkActionNeeded
	case plan.Inject():
		fmt.Fprintf(ck.out, "%s: not injected, but would be now (created before its namespace opted in, or while the webhook was down); restart it\n", what)
		code = checkActionNeeded
	case injected:
		fmt.Fprintf(ck.out, "%s: injected, but the policy would not inject it now: %s (%s); restart it\n", what, plan.Skip, plan.Skip.Sentence())
		code = checkActionNeeded
	default:
		fmt.Fprintf(ck.out, "%s: not injected: %s (%s)\n", what, plan.Skip, plan.Skip.Sentence())
		return checkSkipped, nil
	}
	if plan.Inject() {
		fmt.Fprintf(ck.out, "  istiod: %s (revision %q)\n", plan.DiscoveryAddress, ns.Labels[ck.pol.Config().Mesh.RevisionLabel])
		if err := ck.bootstrap(raw, nsName); err != nil {
			return 0, err
		}
	}
	return code, nil
}

// adjusted reports on a pod, or a pod template when template, whose
// istio-proxy and sds kgateway's deployer added, which the plan adjusts;
// ops is the patch the webhook would make now.
func (ck *checker) adjusted(what string, annotations map[string]string, plan policy.PodPlan, ops []jsonpatch.Operation, template bool) int {
	rec, recorded := mutate.ParseAdjusted(annotations)
	code := checkOK
	switch {
	case template:
		fmt.Fprintf(ck.out, "%s: kgateway's deployer added istio-proxy and sds; the webhook adjusts each new pod's istio-proxy, and leaves the %s as the deployer renders it\n", what, strings.SplitN(what, " ", 2)[0])
	case len(ops) == 0 && recorded:
		fmt.Fprintf(ck.out, "%s: adjusted, current with the policy: kgateway's deployer added istio-proxy and sds, and gatemesh changed these env vars of %s:\n", what, rec.Container)
		for _, name := range slices.Sorted(maps.Keys(rec.Env)) {
			fmt.Fprintf(ck.out, "  %s: %q (the deployer's) -> %q\n", name, rec.Env[name].From, rec.Env[name].To)
		}
	case len(ops) == 0:
		fmt.Fprintf(ck.out, "%s: %s (%s)\n", what, policy.ReasonAlreadyAdjusted, policy.ReasonAlreadyAdjusted.Sentence())
	case recorded:
		fmt.Fprintf(ck.out, "%s: adjusted, stale: the webhook would adjust it differently now; restart it\n", what)
		code = checkActionNeeded
	default:
		fmt.Fprintf(ck.out, "%s: not adjusted, but would be now (created before its namespace opted in, or while the webhook was down); restart it\n", what)
		code = checkActionNeeded
	}
	fmt.Fprintf(ck.out, "  istiod: %s, CA: %s, cluster ID %s, mesh ID %s\n", plan.DiscoveryAddress, plan.CAAddress, plan.Sidecars.ClusterID, plan.Sidecars.MeshID)
	return code
}

// bootstrap says whether the Envoy bootstrap the pod mounts has the SDS
// cluster.
func (ck *checker) bootstrap(raw []byte, nsName string) error {
	var pod struct {
		Spec struct {
			Volumes []struct {
				Name      string
				ConfigMap *struct{ Name string }
			}
		}
	}
	if err := json.Unmarshal(raw, &pod); err != nil {
		return fmt.Errorf("internal error: failed to read volumes: %w", err)
	}
	cfg := ck.pol.Config()
	for _, v := range pod.Spec.Volumes {
		if v.Name != cfg.SDS.EnvoyConfigVolume || v.ConfigMap == nil {
			continue
		}
		cm, err := ck.get(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, nsName, v.ConfigMap.Name)
		if err != nil {
			fmt.Fprintf(ck.out, "  bootstrap: %v\n", err)
			return nil
		}
		text, _, _ := unstructured.NestedString(cm.Object, "data", mutate.BootstrapKey)
		has, err := mutate.BootstrapHasCluster(text, policy.DefaultSDSClusterName)
		var ie *mutate.InputError
		if errors.As(err, &ie) {
			fmt.Fprintf(ck.out, "  bootstrap: ConfigMap %s/%s: %v\n", nsName, v.ConfigMap.Name, err)
			return nil
		}
		fmt.Fprintf(ck.out, "  bootstrap: ConfigMap %s/%s has the SDS cluster %s: %v\n", nsName, v.ConfigMap.Name, policy.DefaultSDSClusterName, has)
		return err
	}
	fmt.Fprintf(ck.out, "  bootstrap: no %s volume from a ConfigMap\n", cfg.SDS.EnvoyConfigVolume)
	return nil
}

// backend reports the decision for an Upstream or Backend, and whether the
// object carries it.
func (ck *checker) backend(what string, raw []byte) (int, error) {
	b, err := mutate.ParseBackendObject(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	facts := b.Facts(ck.pol)
	facts.TargetInMesh = true
	for _, name := range facts.Target.Namespaces {
		ns, err := ck.ns(name)
		if err != nil {
			return 0, err
		}
		facts.TargetInMesh = facts.TargetInMesh && ck.pol.InMesh(ns)
	}
	plan := ck.pol.DecideBackend(facts)
	ops, outcome, err := b.Patch(plan)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintf(ck.out, "%s: %s\n", what, planWhy(plan))
	if len(ops) > 0 {
		fmt.Fprintf(ck.out, "  stale: the webhook would make it %s now; re-apply it or let the reconciler catch up\n", outcome)
		return checkActionNeeded, nil
	}
	fmt.Fprintf(ck.out, "  current: %s\n", outcome)
	return checkOK, nil
}
