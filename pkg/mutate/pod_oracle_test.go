package mutate

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// The pod oracle: PodPatch builds its patch piece by piece from a skeleton
// (see PodPatch), which is fast but would silently drop an edit to a field
// it does not diff. The library path cannot drop one: decode the pod into
// its Go type, inject it with Pod, marshal it, diff that against the raw
// bytes with jsonpatch.CreatePatch (as controller-runtime's
// PatchResponseFromRaw does) and apply the diff. Both patches are applied
// strictly (RFC 6902, as the API server applies them) to the raw pod, and
// the results must be the same pod. They are compared after a round trip
// through corev1.Pod, because the library path also removes every field the
// Go type does not know, which is the flaw the fast path exists to avoid
// (TestPodGolden's unknown-fields case holds that the fast path keeps them).

// oraclePod checks PodPatch's patch against the library path on raw, for a
// pod in ns. It returns false when raw is not a pod both paths accept.
func oraclePod(t testing.TB, raw []byte, pol *policy.Policy, ns policy.Namespace) bool {
	t.Helper()
	head, err := DecodePodHead(raw)
	if err != nil {
		return false
	}
	var typed corev1.Pod
	if err := decodeStrictCase(raw, &typed); err != nil { // case-sensitive, as the API server decodes
		return false
	}
	plan := pol.DecidePod(head.Facts(), ns)
	if typedPlan := pol.DecidePod(PodFactsOf(&typed.ObjectMeta, &typed.Spec), ns); typedPlan != plan {
		t.Fatalf("the head and the typed pod decide differently:\nhead:  %+v\ntyped: %+v", plan, typedPlan)
	}
	fast, fastReason, err := PodPatch(raw, head, plan, &SidecarCache{})
	if err != nil {
		return false
	}
	injected, libReason := Pod(&typed, plan)
	if fastReason != libReason {
		t.Fatalf("reason: fast path %q, library path %q", fastReason, libReason)
	}
	marshalled, err := json.Marshal(injected)
	if err != nil {
		t.Fatalf("library path: %v", err)
	}
	library, err := jsonpatch.CreatePatch(raw, marshalled)
	if err != nil {
		t.Fatalf("library path: %v", err)
	}
	fastOut, err := strictApply(raw, fast)
	if err != nil {
		t.Fatalf("fast patch does not apply strictly: %v\npatch: %v", err, fast)
	}
	libOut, err := strictApply(raw, library)
	if err != nil {
		t.Fatalf("library patch does not apply strictly: %v", err)
	}
	if diff := cmp.Diff(normalPod(t, libOut), normalPod(t, fastOut)); diff != "" {
		t.Fatalf("the fast patch and the library path give different pods (-library,+fast):\n%s", diff)
	}
	return true
}

// normalPod is raw through corev1.Pod, decoded case-sensitively as the API
// server decodes, as a generic JSON value.
func normalPod(t testing.TB, raw []byte) any {
	t.Helper()
	var p corev1.Pod
	if err := decodeStrictCase(raw, &p); err != nil {
		t.Fatalf("patched pod does not decode: %v", err)
	}
	b, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPodOracle runs the oracle on every golden pod, in a plain and in a
// revisioned namespace, and on the same pods already injected.
func TestPodOracle(t *testing.T) {
	pol := defaultPolicy(t)
	for _, in := range goldenPodInputs(t) {
		for _, rev := range []string{"", "1-28"} {
			ns := testNamespaces{"istio.io/rev": rev}.Namespace("gloo-system")
			if !oraclePod(t, in.json, pol, ns) {
				continue // a Deployment: its template is a pod's shape, not a pod
			}
			ops, _, err := patchPod(in.json, pol, ns, nil)
			if err != nil {
				t.Fatal(err)
			}
			injected, err := strictApply(in.json, ops)
			if err != nil {
				t.Fatal(err)
			}
			if !oraclePod(t, injected, pol, ns) {
				t.Errorf("%s: the injected pod is refused", in.path)
			}
		}
	}
}

// TestPodOracleCatchesADroppedEdit proves the oracle can fail: an edit the
// fast path does not diff (here, the pod's service account, outside
// annotations, containers and volumes) makes the two paths differ.
func TestPodOracleCatchesADroppedEdit(t *testing.T) {
	raw := []byte(`{"metadata":{"name":"gw","labels":{"gloo":"gateway-proxy"}},"spec":{"containers":[{"name":"gateway-proxy"}]}}`)
	var typed corev1.Pod
	if err := decodeStrictCase(raw, &typed); err != nil { // case-sensitive, as the API server decodes
		t.Fatal(err)
	}
	pol := defaultPolicy(t)
	plan := pol.DecidePod(PodFactsOf(&typed.ObjectMeta, &typed.Spec), testNamespaces{}.Namespace("gw"))
	fast, _, err := PodPatch(raw, &PodHead{Metadata: &PodHeadMeta{Labels: typed.Labels}, Spec: &PodHeadSpec{Containers: &[]nameOnly{{Name: "gateway-proxy"}}}}, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	injected, _ := Pod(&typed, plan)
	injected.Spec.ServiceAccountName = "edited-by-a-future-ensure"
	marshalled, _ := json.Marshal(injected)
	library, _ := jsonpatch.CreatePatch(raw, marshalled)
	fastOut, _ := strictApply(raw, fast)
	libOut, _ := strictApply(raw, library)
	if cmp.Equal(normalPod(t, libOut), normalPod(t, fastOut)) {
		t.Fatal("the oracle's comparison does not see an edit the fast path dropped")
	}
}
