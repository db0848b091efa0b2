package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// disableEnvoy is the env var whose value true marks an istio-proxy as the
// Istio agent alone, as kgateway's deployer renders it.
const disableEnvoy = "DISABLE_ENVOY"

// adjustedEnv are the env vars of the deployer's istio-proxy that gatemesh
// adjusts, in the order the summary names them.
var adjustedEnv = []string{"CA_ADDR", "PROXY_CONFIG", "ISTIO_META_CLUSTER_ID", "ISTIO_META_MESH_ID"}

// adjustWhy says, for each env var in adjustedEnv, where the policy's value
// for a pod in ns comes from.
func adjustWhy(pol *policy.Policy, ns *corev1.Namespace) map[string]string {
	mesh := pol.Config().Mesh
	istiod := fmt.Sprintf("the default revision's istiod in %s", mesh.IstiodNamespace)
	switch rev := ns.Labels[mesh.RevisionLabel]; {
	case mesh.DiscoveryAddress != "":
		istiod = "the policy's mesh.discoveryAddress"
	case rev != "" && rev != "default":
		istiod = fmt.Sprintf("revision %s's istiod, from namespace %s's %s", rev, ns.Name, mesh.RevisionLabel)
	}
	ca := "istiod signs the mesh certificates: " + istiod
	if mesh.CAAddress != "" {
		ca = "the policy's mesh.caAddress"
	}
	return map[string]string{
		"CA_ADDR":               ca,
		"PROXY_CONFIG":          "only its discoveryAddress changes: " + istiod,
		"ISTIO_META_CLUSTER_ID": "the policy's mesh.clusterID",
		"ISTIO_META_MESH_ID":    "the policy's mesh.meshID",
	}
}

// deploymentOf reads back the Deployment the seed walkthrough created pod
// from (named by the pod's generateName).
func deploymentOf(ctx context.Context, c client.Client, pod *corev1.Pod) (*appsv1.Deployment, error) {
	d := &appsv1.Deployment{}
	key := client.ObjectKey{Namespace: pod.Namespace, Name: strings.TrimSuffix(pod.GenerateName, "-")}
	if err := c.Get(ctx, key, d); err != nil {
		return nil, fmt.Errorf("failed to read back deployment %s/%s: %w", key.Namespace, key.Name, err)
	}
	return d, nil
}

// describeAdjusted says what gatemesh changed in a pod whose istio-proxy and
// sds kgateway's deployer added, from the record on the stored pod, and that
// the deployer's Deployment d kept its values. It returns an error when the
// stored pod is not what the webhook would make of it, when the record does
// not match the pod's env, or when d's values are not the record's.
func describeAdjusted(out io.Writer, pod *corev1.Pod, d *appsv1.Deployment, plan podPlan) error {
	name := fmt.Sprintf("Pod %s/%s", pod.Namespace, pod.Name)
	rec, recorded := mutate.ParseAdjusted(pod.Annotations)
	switch {
	case !plan.current && recorded:
		fmt.Fprintf(out, "  %s: adjusted, but not as the policy adjusts it now\n", name)
		return fmt.Errorf("%s was stored adjusted differently from the policy's values", name)
	case !plan.current:
		fmt.Fprintf(out, "  %s: untouched, although the policy would adjust it (was gatemesh down?)\n", name)
		return fmt.Errorf("%s was stored with the deployer's istio-proxy values, although the policy adjusts it", name)
	case !recorded:
		fmt.Fprintf(out, "  %s: untouched: %s (%s)\n", name, policy.ReasonAlreadyAdjusted.Sentence(), policy.ReasonAlreadyAdjusted)
		fmt.Fprintf(out, "      why: %s\n", plan.why)
		return nil
	}
	fmt.Fprintf(out, "  %s: %s (%s)\n", name, policy.ReasonAdjusted.Sentence(), policy.ReasonAdjusted)
	fmt.Fprintf(out, "      why: %s\n", plan.why)
	names := make([]string, 0, len(pod.Spec.Containers))
	proxy := corev1.Container{}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
		if c.Name == rec.Container {
			proxy = c
		}
	}
	fmt.Fprintf(out, "      containers: %s  (all kgateway's deployer's: gatemesh added none)\n", strings.Join(names, ", "))
	env := literalEnv(proxy)
	var unchanged []string
	for _, n := range adjustedEnv {
		change, ok := rec.Env[n]
		if !ok {
			if v, set := env[n]; set {
				unchanged = append(unchanged, n+" "+oneLine(v))
			}
			continue
		}
		if env[n] != change.To {
			return fmt.Errorf("%s: %s records %s=%q, but its %s has %q", name, mutate.AdjustedAnnotation, n, change.To, rec.Container, env[n])
		}
		fmt.Fprintf(out, "      %s %s: %s -> %s (%s)\n", rec.Container, n, oneLine(change.From), oneLine(change.To), plan.envWhy[n])
	}
	if len(unchanged) > 0 {
		fmt.Fprintf(out, "      %s unchanged: %s (already the policy's)\n", rec.Container, strings.Join(unchanged, ", "))
	}
	fmt.Fprintf(out, "      recorded in %s, which webhook check prints and webhook uninject restores\n", mutate.AdjustedAnnotation)
	rendered := corev1.Container{}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == rec.Container {
			rendered = c
		}
	}
	renderedEnv := literalEnv(rendered)
	for n, change := range rec.Env {
		if renderedEnv[n] != change.From {
			return fmt.Errorf("deployment %s/%s: its %s has %s=%q, not the deployer's %q that %s records",
				d.Namespace, d.Name, rec.Container, n, renderedEnv[n], change.From, name)
		}
	}
	fmt.Fprintf(out, "      Deployment %s/%s keeps the deployer's values: gatemesh adjusts each new pod, never the Deployment the deployer owns\n", d.Namespace, d.Name)
	return nil
}

// oneLine is an env value as the summary prints it: without its trailing
// newline, and quoted when it spans lines.
func oneLine(v string) string {
	v = strings.TrimRight(v, "\n")
	if strings.Contains(v, "\n") {
		return strconv.Quote(v)
	}
	return v
}
