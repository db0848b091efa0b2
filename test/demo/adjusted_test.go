package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
	"github.com/gatemesh/gatemesh/test/e2e"
)

// exampleDeployment is examples/kgateway-gateway-istio.yaml's Deployment,
// kgateway's deployer's Istio-enabled gateway.
func exampleDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	objs, err := e2e.ReadManifests(filepath.Join("..", "..", e2e.ExamplesDir, "kgateway-gateway-istio.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if u.GetKind() == "Deployment" {
			d := &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatal("examples/kgateway-gateway-istio.yaml has no Deployment")
	return nil
}

// adjustOffline is pod as the webhook stores it under pol in ns.
func adjustOffline(t *testing.T, pol *policy.Policy, pod *corev1.Pod, ns *corev1.Namespace) *corev1.Pod {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	head, err := mutate.DecodePodHead(raw)
	if err != nil {
		t.Fatal(err)
	}
	ops, _, err := mutate.PodPatch(raw, head, pol.DecidePod(head.Facts(), policy.Namespace{Name: ns.Name, Labels: ns.Labels}), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := patch.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	stored := &corev1.Pod{}
	if err := json.Unmarshal(out, stored); err != nil {
		t.Fatal(err)
	}
	return stored
}

// setEnv sets the literal value of env var name in container c of pod.
func setEnv(pod *corev1.PodSpec, c, name, value string) {
	for i := range pod.Containers {
		for j := range pod.Containers[i].Env {
			if pod.Containers[i].Name == c && pod.Containers[i].Env[j].Name == name {
				pod.Containers[i].Env[j].Value = value
			}
		}
	}
}

// TestDescribeAdjusted: the summary of the example's pod says what the
// record says changed, and fails rather than print a wrong summary.
func TestDescribeAdjusted(t *testing.T) {
	pol, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	onRevision := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kgateway-system", Labels: map[string]string{
		"gatemesh.io/injection": "enabled", "istio.io/rev": "1-28"}}}
	optedIn := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kgateway-system", Labels: map[string]string{
		"gatemesh.io/injection": "enabled"}}}
	rendered := exampleDeployment(t)
	sent := e2e.PodFromTemplate(rendered)
	sent.Name = "gw-abcde"
	adjusted := adjustOffline(t, pol, sent, onRevision)

	tests := map[string]struct {
		pod        *corev1.Pod
		deployment *appsv1.Deployment
		ns         *corev1.Namespace
		want       []string // lines of output
		wantErr    string   // in the error, "" for none
	}{
		"an adjusted pod is described from its record": {
			pod: adjusted, deployment: rendered, ns: onRevision,
			want: []string{
				"  Pod kgateway-system/gw-abcde: " + policy.ReasonAdjusted.Sentence() + " (adjusted)",
				"      why: namespace kgateway-system carries gatemesh.io/injection=enabled and istio.io/rev=1-28, the pod's labels match a kgateway gateway-proxy selector, and its istio-proxy (DISABLE_ENVOY=true) and sds are kgateway's deployer's",
				"      containers: kgateway-proxy, sds, istio-proxy  (all kgateway's deployer's: gatemesh added none)",
				"      istio-proxy CA_ADDR: istiod.istio-system.svc:15012 -> istiod-1-28.istio-system.svc:15012 (istiod signs the mesh certificates: revision 1-28's istiod, from namespace kgateway-system's istio.io/rev)",
				`      istio-proxy PROXY_CONFIG: {"discoveryAddress": istiod.istio-system.svc:15012 } -> {"discoveryAddress": istiod-1-28.istio-system.svc:15012 } (only its discoveryAddress changes: revision 1-28's istiod, from namespace kgateway-system's istio.io/rev)`,
				"      istio-proxy unchanged: ISTIO_META_CLUSTER_ID Kubernetes, ISTIO_META_MESH_ID cluster.local (already the policy's)",
				"      recorded in gatemesh.io/adjusted, which webhook check prints and webhook uninject restores",
				"      Deployment kgateway-system/gw keeps the deployer's values: gatemesh adjusts each new pod, never the Deployment the deployer owns",
			},
		},
		"a pod whose values are the policy's already is already_adjusted": {
			pod: sent, deployment: rendered, ns: optedIn,
			want: []string{
				"  Pod kgateway-system/gw-abcde: untouched: " + policy.ReasonAlreadyAdjusted.Sentence() + " (already_adjusted)",
				"      why: namespace kgateway-system carries gatemesh.io/injection=enabled, the pod's labels match a kgateway gateway-proxy selector, and its istio-proxy (DISABLE_ENVOY=true) and sds are kgateway's deployer's",
			},
		},
		"a pod stored with the deployer's values fails": {
			pod: sent, deployment: rendered, ns: onRevision,
			want:    []string{"  Pod kgateway-system/gw-abcde: untouched, although the policy would adjust it (was gatemesh down?)"},
			wantErr: "although the policy adjusts it",
		},
		"a pod whose record its env does not match fails": {
			pod: func() *corev1.Pod {
				p := adjusted.DeepCopy()
				setEnv(&p.Spec, "istio-proxy", "CA_ADDR", "istiod-1-27.istio-system.svc:15012")
				return p
			}(),
			deployment: rendered, ns: onRevision,
			want:    []string{"  Pod kgateway-system/gw-abcde: adjusted, but not as the policy adjusts it now"},
			wantErr: "adjusted differently",
		},
		"a Deployment that lost the deployer's values fails": {
			pod: adjusted, ns: onRevision,
			deployment: func() *appsv1.Deployment {
				d := rendered.DeepCopy()
				setEnv(&d.Spec.Template.Spec, "istio-proxy", "CA_ADDR", "istiod-1-28.istio-system.svc:15012")
				return d
			}(),
			wantErr: `deployment kgateway-system/gw: its istio-proxy has CA_ADDR="istiod-1-28.istio-system.svc:15012"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			plan, err := planFor(pol, tc.pod, tc.ns)
			if err != nil {
				t.Fatal(err)
			}
			if !plan.adjust {
				t.Fatalf("the policy does not adjust the example's pod: %+v", plan)
			}
			var out bytes.Buffer
			err = describeAdjusted(&out, tc.pod, tc.deployment, plan)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one with %q", err, tc.wantErr)
			}
			if tc.want == nil {
				return
			}
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("output (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestDescribePodFailsWhenNotInjected: a pod the policy injects that was
// stored without gatemesh's containers fails the demo.
func TestDescribePodFailsWhenNotInjected(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "gloo-system", Name: "gateway-proxy-abcde"}}
	var out bytes.Buffer
	if err := describePod(&out, pod, podPlan{}); err == nil {
		t.Errorf("no error for an uninjected pod the policy injects; output:\n%s", out.String())
	}
	if err := describePod(&out, pod, podPlan{reason: policy.ReasonNamespaceNotEnabled}); err != nil {
		t.Errorf("error for a pod the policy skips: %v", err)
	}
}
