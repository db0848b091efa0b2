package main

import (
	"context"
	"encoding/json"
	"errors"
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
//
// It returns an error, after saying everything, when a pod the policy
// injects or adjusts was not stored so: the summary then does not match
// what gatemesh should have done, and the demo fails.
func summarize(ctx context.Context, out io.Writer, c client.Client, pol *policy.Policy, res *e2e.SeedResult) error {
	var wrong []error
	for _, p := range res.Pods {
		pod := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), pod); err != nil {
			return fmt.Errorf("failed to read back pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: pod.Namespace}, ns); err != nil {
			return fmt.Errorf("failed to read back namespace %s: %w", pod.Namespace, err)
		}
		plan, err := planFor(pol, pod, ns)
		if err != nil {
			return err
		}
		if plan.adjust {
			deployment, err := deploymentOf(ctx, c, pod)
			if err != nil {
				return err
			}
			if err := describeAdjusted(out, pod, deployment, plan); err != nil {
				wrong = append(wrong, err)
			}
			continue
		}
		if err := describePod(out, pod, plan); err != nil {
			wrong = append(wrong, err)
		}
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
	return errors.Join(wrong...)
}

// podPlan is the policy's decision for a pod: why it is injected or
// adjusted, or the reason it is not; and whether the stored pod is what
// the webhook would make of it now.
type podPlan struct {
	why    string
	reason policy.Reason
	// adjust: kgateway's deployer added the pod's istio-proxy and sds, and
	// the policy adjusts them.
	adjust bool
	// envWhy says where each adjusted env value comes from.
	envWhy map[string]string
	// current: the webhook would not change the stored pod now.
	current bool
}

func planFor(pol *policy.Policy, pod *corev1.Pod, ns *corev1.Namespace) (podPlan, error) {
	raw, err := json.Marshal(pod)
	if err != nil {
		return podPlan{}, fmt.Errorf("failed to encode pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	head, err := mutate.DecodePodHead(raw)
	if err != nil {
		return podPlan{}, fmt.Errorf("failed to decode pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	plan := pol.DecidePod(head.Facts(), policy.Namespace{Name: ns.Name, Labels: ns.Labels})
	if !plan.Inject() && !plan.Adjust {
		return podPlan{reason: plan.Skip}, nil
	}
	ops, _, err := mutate.PodPatch(raw, head, plan, nil)
	if err != nil {
		return podPlan{}, fmt.Errorf("failed to patch pod %s/%s as the webhook would: %w", pod.Namespace, pod.Name, err)
	}
	label := pol.Config().Selection.NamespaceLabel
	p := podPlan{adjust: plan.Adjust, current: len(ops) == 0}
	if !plan.Adjust {
		p.why = fmt.Sprintf("namespace %s carries %s=%s, and the pod's labels match a %s gateway-proxy selector",
			ns.Name, label, ns.Labels[label], plan.Flavour)
		return p, nil
	}
	rev := pol.Config().Mesh.RevisionLabel
	carries := fmt.Sprintf("%s=%s", label, ns.Labels[label])
	if v, ok := ns.Labels[rev]; ok {
		carries += fmt.Sprintf(" and %s=%s", rev, v)
	}
	p.why = fmt.Sprintf("namespace %s carries %s, the pod's labels match a %s gateway-proxy selector, "+
		"and its istio-proxy (%s=true) and sds are kgateway's deployer's", ns.Name, carries, plan.Flavour, disableEnvoy)
	p.envWhy = adjustWhy(pol, ns)
	return p, nil
}

// describePod says what gatemesh did to a pod the policy injects or skips.
// It returns an error when the policy injects the pod but it was stored
// without gatemesh's containers.
func describePod(out io.Writer, pod *corev1.Pod, plan podPlan) error {
	name := fmt.Sprintf("Pod %s/%s", pod.Namespace, pod.Name)
	status, injected := mutate.ParseStatus(pod.Annotations)
	if !injected {
		if plan.reason == "" {
			fmt.Fprintf(out, "  %s: untouched, although the policy would inject it (was gatemesh down?)\n", name)
			return fmt.Errorf("%s was stored without gatemesh's containers, although the policy injects it", name)
		}
		fmt.Fprintf(out, "  %s: untouched: %s (%s)\n", name, plan.reason.Sentence(), plan.reason)
		return nil
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
	return nil
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
