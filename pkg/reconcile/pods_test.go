package reconcile

import (
	"encoding/json"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// TestDifferenceOfAnAdjustedPod: a kgateway pod whose deployer's
// istio-proxy gatemesh adjusted at creation is stale once its namespace
// moves to another revision (the adjusted discovery address would differ),
// and not before.
func TestDifferenceOfAnAdjustedPod(t *testing.T) {
	pol, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	enabled := map[string]string{"gatemesh.io/injection": "enabled"}
	plain := policy.Namespace{Name: "kgw", Labels: enabled}
	revisioned := policy.Namespace{Name: "kgw", Labels: map[string]string{"gatemesh.io/injection": "enabled", "istio.io/rev": "1-28"}}

	// The deployer's CA address differs from the policy's, so gatemesh
	// adjusts it and records that.
	raw := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"gw","namespace":"kgw","labels":{"kgateway":"kube-gateway"}},` +
		`"spec":{"containers":[{"name":"kgateway-proxy","image":"envoy:1"},{"name":"sds","image":"sds:1"},` +
		`{"name":"istio-proxy","image":"proxyv2:1","env":[{"name":"CA_ADDR","value":"ca.example.com:15012"},` +
		`{"name":"PROXY_CONFIG","value":"{\"discoveryAddress\": istiod.istio-system.svc:15012 }"},{"name":"DISABLE_ENVOY","value":"true"}]}]}}`)
	head, err := mutate.DecodePodHead(raw)
	if err != nil {
		t.Fatal(err)
	}
	plan := pol.DecidePod(head.Facts(), plain)
	if !plan.Adjust {
		t.Fatalf("plan %+v: want an adjusting plan", plan)
	}
	ops, _, err := mutate.PodPatch(raw, head, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatchapply.DecodePatch(patch)
	if err != nil {
		t.Fatal(err)
	}
	adjustedRaw, err := p.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(adjustedRaw, &pod); err != nil {
		t.Fatal(err)
	}
	if _, ok := mutate.ParseAdjusted(pod.Annotations); !ok {
		t.Fatalf("the adjusted pod carries no %s: %v", mutate.AdjustedAnnotation, pod.Annotations)
	}

	r := &pods{pol: pol}
	if diff, err := r.difference(&pod, plain); err != nil || diff != "" {
		t.Errorf("same namespace: difference %q, %v; want none", diff, err)
	}
	diff, err := r.difference(&pod, revisioned)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(diff, "/spec/containers/2/env/") {
		t.Errorf("revision 1-28: difference %q; want the istio-proxy's env", diff)
	}
	// A pod gatemesh neither injected nor adjusted is none of its business.
	var untouched corev1.Pod
	if err := json.Unmarshal(raw, &untouched); err != nil {
		t.Fatal(err)
	}
	if diff, err := r.difference(&untouched, revisioned); err != nil || diff != "" {
		t.Errorf("an untouched pod: difference %q, %v; want none", diff, err)
	}
}
