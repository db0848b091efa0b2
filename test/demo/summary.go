package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
	"github.com/gatemesh/gatemesh/test/e2e"
)

// summarize reads back every pod, bootstrap ConfigMap, Upstream and Backend
// of the walkthrough
// and says what gatemesh did to it and why. What gatemesh did comes from
// the stored objects (its status annotation on pods, its mtls annotations
// on backends); why a pod was left alone comes from the policy's decision
// for the pod's stored labels and namespace, because a pod gatemesh does
// not touch is never even sent to it.
func summarize(ctx context.Context, out io.Writer, c client.Client, pol *policy.Policy, res *e2e.SeedResult) error {
	for _, p := range res.Pods {
		pod := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), pod); err != nil {
			return fmt.Errorf("failed to read back pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: pod.Namespace}, ns); err != nil {
			return fmt.Errorf("failed to read back namespace %s: %w", pod.Namespace, err)
		}
		describePod(out, pod, planFor(pol, pod, ns))
	}
	for _, obj := range res.Applied {
		if obj.GetKind() == "ConfigMap" {
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cm); err != nil {
				return fmt.Errorf("failed to read back %s: %w", e2e.Describe(obj), err)
			}
			describeBootstrap(out, cm, pol)
			continue
		}
		if !mutate.Stamps(obj.GroupVersionKind()) {
			continue
		}
		stored := &unstructured.Unstructured{}
		stored.SetGroupVersionKind(obj.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), stored); err != nil {
			return fmt.Errorf("failed to read back %s: %w", e2e.Describe(obj), err)
		}
		describeBackend(out, stored)
	}
	return nil
}

// podPlan is the policy's decision for a pod: why it is injected, or the
// reason it is not.
type podPlan struct {
	why    string
	reason policy.Reason
}

func planFor(pol *policy.Policy, pod *corev1.Pod, ns *corev1.Namespace) podPlan {
	raw, err := json.Marshal(pod)
	if err != nil {
		return podPlan{reason: policy.Reason(err.Error())}
	}
	head, err := mutate.DecodePodHead(raw)
	if err != nil {
		return podPlan{reason: policy.Reason(err.Error())}
	}
	plan := pol.DecidePod(head.Facts(), policy.Namespace{Name: ns.Name, Labels: ns.Labels})
	if !plan.Inject() {
		return podPlan{reason: plan.Skip}
	}
	label := pol.Config().Selection.NamespaceLabel
	return podPlan{why: fmt.Sprintf("namespace %s carries %s=%s, and the pod's labels match a %s gateway-proxy selector",
		ns.Name, label, ns.Labels[label], plan.Flavour)}
}

func describePod(out io.Writer, pod *corev1.Pod, plan podPlan) {
	name := fmt.Sprintf("Pod %s/%s", pod.Namespace, pod.Name)
	status, injected := mutate.ParseStatus(pod.Annotations)
	if !injected {
		if plan.reason == "" {
			fmt.Fprintf(out, "  %s: untouched, although the policy would inject it (was gatemesh down?)\n", name)
			return
		}
		fmt.Fprintf(out, "  %s: untouched: %s (%s)\n", name, plan.reason.Sentence(), plan.reason)
		return
	}
	fmt.Fprintf(out, "  %s: %s\n", name, policy.ReasonInjected.Sentence())
	if plan.why != "" {
		fmt.Fprintf(out, "      why: %s\n", plan.why)
	}
	var names []string
	for _, c := range pod.Spec.Containers {
		n := c.Name
		if contains(status.Containers, n) {
			n = "+" + n
		}
		names = append(names, n)
	}
	fmt.Fprintf(out, "      containers: %s  (+ added by gatemesh)\n", strings.Join(names, ", "))
	for _, c := range pod.Spec.Containers {
		switch {
		case !contains(status.Containers, c.Name):
		case c.Name == mutate.IstioProxyName:
			env := literalEnv(c)
			fmt.Fprintf(out, "      %s: %s, gets the mesh certificates from istiod at %s (cluster %s, mesh %s)\n",
				c.Name, c.Image, discoveryAddress(env), env["ISTIO_META_CLUSTER_ID"], env["ISTIO_META_MESH_ID"])
		case c.Name == mutate.SDSName:
			fmt.Fprintf(out, "      %s: %s, serves them to the gateway's Envoy over SDS\n", c.Name, c.Image)
		}
	}
	fmt.Fprintf(out, "      volumes added: %s\n", strings.Join(status.Volumes, ", "))
}

func describeBackend(out io.Writer, u *unstructured.Unstructured) {
	ann := u.GetAnnotations()
	mtls, reason := ann[mutate.MtlsAnnotation], policy.Reason(ann[mutate.MtlsReasonAnnotation])
	_, stamped := ann[mutate.MtlsHashAnnotation]
	name := fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
	switch {
	case !stamped:
		fmt.Fprintf(out, "  %s: left alone (gatemesh recorded no decision)\n", name)
		return
	case mtls == string(policy.MtlsIstio):
		fmt.Fprintf(out, "  %s: mTLS stamped: %s (%s)\n", name, reason.Sentence(), reason)
	default:
		fmt.Fprintf(out, "  %s: mTLS skipped: %s (%s)\n", name, reason.Sentence(), reason)
	}
	if ssl, ok, _ := unstructured.NestedMap(u.Object, "spec", "sslConfig"); ok {
		sds, _, _ := unstructured.NestedStringMap(ssl, "sds")
		alpn, _, _ := unstructured.NestedStringSlice(ssl, "alpnProtocols")
		fmt.Fprintf(out, "      spec.sslConfig: certificates %s and %s from SDS at %s, ALPN %s\n",
			sds["certificatesSecretName"], sds["validationContextName"], sds["targetUri"], strings.Join(alpn, ","))
	}
	if v, ok := ann[mutate.KgatewayDisableAutoMtlsAnnotation]; ok {
		fmt.Fprintf(out, "      %s: %q, kgateway's own Istio auto-mTLS switch, says the same\n", mutate.KgatewayDisableAutoMtlsAnnotation, v)
	}
}

// describeBootstrap says whether a gateway's Envoy bootstrap carries the
// SDS cluster gatemesh adds.
func describeBootstrap(out io.Writer, cm *corev1.ConfigMap, pol *policy.Policy) {
	name := fmt.Sprintf("ConfigMap %s/%s", cm.Namespace, cm.Name)
	cluster := pol.Config().Backends.UpstreamSSLConfig.SDS.ClusterName
	if _, ok := cm.Annotations[mutate.BootstrapClusterAnnotation]; !ok {
		fmt.Fprintf(out, "  %s: left alone (gatemesh added no cluster)\n", name)
		return
	}
	fmt.Fprintf(out, "  %s: %s\n", name, policy.ReasonBootstrapClusterAdded.Sentence())
	fmt.Fprintf(out, "      %s: static cluster %s, which the stamped Upstreams' SDS config names, to sds at %s\n",
		mutate.BootstrapKey, cluster, pol.Config().Backends.UpstreamSSLConfig.SDS.TargetURI)
}

func literalEnv(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// discoveryAddress is istiod's address from PROXY_CONFIG, else CA_ADDR.
func discoveryAddress(env map[string]string) string {
	var pc struct {
		DiscoveryAddress string `json:"discoveryAddress"`
	}
	if json.Unmarshal([]byte(env["PROXY_CONFIG"]), &pc) == nil && pc.DiscoveryAddress != "" {
		return pc.DiscoveryAddress
	}
	return env["CA_ADDR"]
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
