package admit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

const gatewayPod = `{
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"generateName": "gateway-proxy-", "namespace": "gloo-system", "labels": {"gloo": "gateway-proxy"}},
  "spec": {
    "futurePodField": {"nested": [1, 2, 3]},
    "containers": [{"name": "gateway-proxy", "image": "envoy:1", "futureContainerField": "kept"}],
    "volumes": [{"name": "envoy-config", "configMap": {"name": "gw"}, "futureVolumeField": true}]
  },
  "futureTopLevel": "kept"
}`

// errNamespaces fails every lookup.
type errNamespaces struct{}

func (errNamespaces) Namespace(context.Context, string) (policy.Namespace, error) {
	return policy.Namespace{}, errors.New("cache not synced")
}

func enabledNamespaces(extra map[string]string) StaticNamespaces {
	labels := map[string]string{policy.DefaultNamespaceLabel: "enabled"}
	for k, v := range extra {
		labels[k] = v
	}
	return StaticNamespaces{"gloo-system": labels}
}

func testPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	pol, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// newPodHandler serves the pod webhook as the server does.
func newPodHandler(t testing.TB, ns Namespaces) http.Handler {
	t.Helper()
	return newPodEndpoint(&PodHandler{Policy: testPolicy(t), Namespaces: ns}, testLimiter())
}

func review(kind, op, object string) []byte {
	group, version := "", "v1"
	if kind == "Deployment" {
		group = "apps"
	}
	r := map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid":       "0d9e3b2c-1111-2222-3333-444455556666",
			"kind":      map[string]string{"group": group, "version": version, "kind": kind},
			"resource":  map[string]string{"group": group, "version": version, "resource": strings.ToLower(kind) + "s"},
			"namespace": "gloo-system", "operation": op,
			"object": json.RawMessage(object),
		},
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

// post sends body to h and decodes the AdmissionReview it answers; an HTTP
// error is returned as a response with its code.
func post(t testing.TB, h http.Handler, body []byte) admissionv1.AdmissionResponse {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, PodPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return admissionv1.AdmissionResponse{Result: &metav1.Status{Code: int32(rec.Code), Message: rec.Body.String()}}
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("response is not an AdmissionReview (%v): %s", err, rec.Body.String())
	}
	return *out.Response
}

// applyPatch applies the response's JSON patch to object as the API server
// does, with a strict RFC 6902 implementation.
func applyPatch(t testing.TB, object []byte, resp admissionv1.AdmissionResponse) []byte {
	t.Helper()
	if len(resp.Patch) == 0 {
		return object
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type = %v, want JSONPatch", resp.PatchType)
	}
	p, err := jsonpatchapply.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("patch does not decode: %v", err)
	}
	out, err := p.Apply(object)
	if err != nil {
		t.Fatalf("patch does not apply: %v\npatch: %s", err, resp.Patch)
	}
	return out
}

func TestPodHandlerInjectsAndKeepsUnknownFields(t *testing.T) {
	h := newPodHandler(t, enabledNamespaces(map[string]string{"istio.io/rev": "1-28"}))
	resp := post(t, h, review("Pod", "CREATE", gatewayPod))
	if !resp.Allowed || len(resp.Patch) == 0 {
		t.Fatalf("allowed = %v, patch = %s; want an allowed patch", resp.Allowed, resp.Patch)
	}
	if resp.UID != "0d9e3b2c-1111-2222-3333-444455556666" {
		t.Errorf("uid = %q", resp.UID)
	}
	if got := resp.AuditAnnotations[AuditAnnotation]; got != string(policy.ReasonInjected) {
		t.Errorf("audit reason = %q", got)
	}
	var patched map[string]any
	if err := json.Unmarshal(applyPatch(t, []byte(gatewayPod), resp), &patched); err != nil {
		t.Fatal(err)
	}
	spec := patched["spec"].(map[string]any)
	for path, got := range map[string]any{
		"futureTopLevel":                     patched["futureTopLevel"],
		"spec.futurePodField":                spec["futurePodField"],
		"containers[0].futureContainerField": spec["containers"].([]any)[0].(map[string]any)["futureContainerField"],
		"volumes[0].futureVolumeField":       spec["volumes"].([]any)[0].(map[string]any)["futureVolumeField"],
	} {
		if got == nil {
			t.Errorf("%s was lost", path)
		}
	}
	var names []string
	for _, c := range spec["containers"].([]any) {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	if diff := cmp.Diff([]string{"gateway-proxy", "istio-proxy", "sds"}, names); diff != "" {
		t.Errorf("containers (-want,+got):\n%s", diff)
	}
	if !strings.Contains(string(resp.Patch), "istiod-1-28.istio-system.svc:15012") {
		t.Errorf("patch does not carry the revision's discovery address")
	}

	// Admitting the patched pod again changes nothing.
	again := post(t, h, review("Pod", "CREATE", string(applyPatch(t, []byte(gatewayPod), resp))))
	if !again.Allowed || len(again.Patch) != 0 {
		t.Errorf("second admission: allowed = %v, patch = %s; want allowed, no patch", again.Allowed, again.Patch)
	}
	if got := again.AuditAnnotations[AuditAnnotation]; got != string(policy.ReasonAlreadyInjected) {
		t.Errorf("second admission reason = %q", got)
	}
}

func TestPodHandlerAllowsUnchanged(t *testing.T) {
	cases := map[string]struct {
		ns         Namespaces
		body       []byte
		wantReason string
	}{
		"a namespace that has not opted in": {
			ns: StaticNamespaces{}, body: review("Pod", "CREATE", gatewayPod), wantReason: string(policy.ReasonNamespaceNotEnabled),
		},
		"a pod that is not a gateway": {
			ns:         enabledNamespaces(nil),
			body:       review("Pod", "CREATE", `{"metadata":{"name":"app","labels":{"app":"httpbin"}},"spec":{"containers":[{"name":"a","image":"a"}]}}`),
			wantReason: string(policy.ReasonNotGatewayProxy),
		},
		"an update": {ns: enabledNamespaces(nil), body: review("Pod", "UPDATE", gatewayPod)},
		"a kind the pod webhook does not handle": {
			ns: enabledNamespaces(nil), body: review("Deployment", "CREATE", `{"metadata":{"name":"d"}}`),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp := post(t, newPodHandler(t, tc.ns), tc.body)
			if !resp.Allowed || len(resp.Patch) != 0 {
				t.Fatalf("allowed = %v, patch = %s; want allowed unchanged", resp.Allowed, resp.Patch)
			}
			if got := resp.AuditAnnotations[AuditAnnotation]; got != tc.wantReason {
				t.Errorf("reason = %q, want %q", got, tc.wantReason)
			}
		})
	}
}

func TestPodHandlerErrors(t *testing.T) {
	cases := map[string]struct {
		ns       Namespaces
		body     []byte
		wantCode int32
		wantMsg  string
	}{
		"a body that is not an AdmissionReview": {
			ns: enabledNamespaces(nil), body: []byte(`{"request": [`), wantCode: http.StatusBadRequest, wantMsg: "",
		},
		"a pod whose spec is not an object": {
			ns: enabledNamespaces(nil), body: review("Pod", "CREATE", `{"metadata":{"labels":{"gloo":"gateway-proxy"}},"spec":"oops"}`),
			wantCode: http.StatusBadRequest, wantMsg: "/spec: must be an object, not a string",
		},
		"a label that is not a string names the field and no Go type": {
			ns: enabledNamespaces(nil), body: review("Pod", "CREATE", `{"metadata":{"labels":{"gloo":5}}}`),
			wantCode: http.StatusBadRequest, wantMsg: "/metadata/labels/gloo: must not be a number",
		},
		"a container that is not an object": {
			ns: enabledNamespaces(nil), body: review("Pod", "CREATE", `{"metadata":{"labels":{"gloo":"gateway-proxy"}},"spec":{"containers":[{"name":"gw"},7]}}`),
			wantCode: http.StatusBadRequest, wantMsg: "/spec/containers/1: must be an object, not a number",
		},
		"a failed namespace lookup": {
			ns: errNamespaces{}, body: review("Pod", "CREATE", gatewayPod),
			wantCode: http.StatusInternalServerError, wantMsg: "cache not synced",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp := post(t, newPodHandler(t, tc.ns), tc.body)
			if resp.Allowed || resp.Result == nil || resp.Result.Code != tc.wantCode {
				t.Fatalf("allowed = %v, result = %+v; want code %d", resp.Allowed, resp.Result, tc.wantCode)
			}
			if !strings.Contains(resp.Result.Message, tc.wantMsg) {
				t.Errorf("message %q does not contain %q", resp.Result.Message, tc.wantMsg)
			}
			for _, goType := range []string{"Go type", "map[", "[]", "mutate.", "v1."} {
				if strings.Contains(resp.Result.Message, goType) {
					t.Errorf("message %q names a Go type (%q)", resp.Result.Message, goType)
				}
			}
		})
	}
}

// testLimiter is a limiter with the default Limits.
func testLimiter() *limiter { return newLimiter(Limits{}) }

// kgatewayIstioPod is a kgateway proxy pod whose deployer added istio-proxy
// and sds (its Istio integration on), as the API server sends it: name
// before env.
const kgatewayIstioPod = `{"apiVersion":"v1","kind":"Pod",
  "metadata":{"generateName":"http-","namespace":"gloo-system","labels":{"kgateway":"kube-gateway"}},
  "spec":{"containers":[{"name":"kgateway-proxy","image":"envoy-wrapper:v2.2.0"},{"name":"sds","image":"sds:v2.2.0"},
    {"name":"istio-proxy","image":"proxyv2:1.22.0","env":[{"name":"CA_ADDR","value":"istiod.istio-system.svc:15012"},
      {"name":"ISTIO_META_MESH_ID","value":"cluster.local"},{"name":"ISTIO_META_CLUSTER_ID","value":"Kubernetes"},
      {"name":"PROXY_CONFIG","value":"{\"discoveryAddress\": istiod.istio-system.svc:15012 }\n"},
      {"name":"DISABLE_ENVOY","value":"true"}]}]}}`

// TestPodHandlerAdjustsKgatewaysSidecars: the review of kgateway's
// Istio-enabled pod in a revisioned namespace is answered with a patch of
// the four env values and the record, audited as adjusted; the patched pod
// reviewed again (reinvocation) gets no patch.
func TestPodHandlerAdjustsKgatewaysSidecars(t *testing.T) {
	h := newPodHandler(t, enabledNamespaces(map[string]string{"istio.io/rev": "1-28"}))
	resp := post(t, h, review("Pod", "CREATE", kgatewayIstioPod))
	if !resp.Allowed || resp.AuditAnnotations[AuditAnnotation] != string(policy.ReasonAdjusted) {
		t.Fatalf("allowed %v, reason %q, want adjusted", resp.Allowed, resp.AuditAnnotations[AuditAnnotation])
	}
	var ops []struct{ Op, Path string }
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	want := []struct{ Op, Path string }{
		{"add", "/metadata/annotations"},
		{"add", "/spec/containers/2/env/0/value"},
		{"add", "/spec/containers/2/env/3/value"},
	}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("patch (-want,+got):\n%s", diff)
	}
	adjusted := applyPatch(t, []byte(kgatewayIstioPod), resp)
	if !bytes.Contains(adjusted, []byte(`istiod-1-28.istio-system.svc:15012 }`)) {
		t.Errorf("PROXY_CONFIG not adjusted: %s", adjusted)
	}
	again := post(t, h, review("Pod", "CREATE", string(adjusted)))
	if len(again.Patch) != 0 || again.AuditAnnotations[AuditAnnotation] != string(policy.ReasonAlreadyAdjusted) {
		t.Errorf("reinvocation: reason %q, patch %s; want already_adjusted and none", again.AuditAnnotations[AuditAnnotation], again.Patch)
	}
}
