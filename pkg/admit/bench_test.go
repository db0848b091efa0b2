package admit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"
)

// The benchmarks measure one admission review end to end in process: bytes
// in, response bytes out. Run them with `make bench`; docs/performance.md
// records the figures.

// allowAll is the floor: a handler that decides nothing.
type allowAll struct{}

func (allowAll) Handle(context.Context, admission.Request) admission.Response {
	return admission.Allowed("")
}

// realisticPod is a ~6 KB Gloo gateway-proxy pod as the API server sends
// it: the chart's pod with the server's defaults and managed fields.
func realisticPod(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "gateway-proxy-pod.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// largePod is the realistic pod with 2,000 env vars on its gateway
// container and 2,000 managed-field entries.
func largePod(tb testing.TB) []byte {
	tb.Helper()
	var pod map[string]any
	if err := json.Unmarshal(realisticPod(tb), &pod); err != nil {
		tb.Fatal(err)
	}
	spec := pod["spec"].(map[string]any)
	c := spec["containers"].([]any)[0].(map[string]any)
	env := c["env"].([]any)
	fields := map[string]any{}
	for i := range 2000 {
		name := fmt.Sprintf("GATEWAY_SETTING_%04d", i)
		env = append(env, map[string]any{"name": name, "value": strings.Repeat("v", 24)})
		fields[fmt.Sprintf(`k:{"name":"%s"}`, name)] = map[string]any{".": map[string]any{}, "f:name": map[string]any{}, "f:value": map[string]any{}}
	}
	c["env"] = env
	meta := pod["metadata"].(map[string]any)
	meta["managedFields"] = []any{map[string]any{
		"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
		"time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1",
		"fieldsV1": map[string]any{"f:spec": map[string]any{"f:containers": map[string]any{
			`k:{"name":"gateway-proxy"}`: map[string]any{"f:env": fields},
		}}},
	}}
	out, err := json.Marshal(pod)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func benchEndpoint(b *testing.B, h http.Handler, body []byte) {
	b.Helper()
	check := send(h, http.MethodPost, "application/json", body)
	if check.Code != http.StatusOK || !bytes.Contains(check.Body.Bytes(), []byte(`"allowed":true`)) {
		b.Fatalf("status %d: %.300s", check.Code, check.Body.String())
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, PodPath, nil)
	req.Header.Set("Content-Type", "application/json")
	rd := bytes.NewReader(body)
	for b.Loop() {
		rd.Reset(body)
		req.Body = readCloser{rd}
		rec.Body.Reset()
		h.ServeHTTP(rec, req)
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// BenchmarkFloor decodes the review and encodes an allow response: the
// least any webhook on this path can cost.
func BenchmarkFloor(b *testing.B) {
	benchEndpoint(b, newEndpoint(allowAll{}, testLimiter()), review("Pod", "CREATE", string(realisticPod(b))))
}

// BenchmarkPodHandler is the whole pod webhook on a realistic gateway pod,
// including the namespace lookup, the injection and the JSON patch.
func BenchmarkPodHandler(b *testing.B) {
	benchEndpoint(b, newPodHandler(b, enabledNamespaces(nil)), review("Pod", "CREATE", string(realisticPod(b))))
}

// BenchmarkPodHandlerLarge is the pod webhook on a gateway pod with 2,000
// env vars and large managed fields, where patch generation has been slow in
// other injectors.
func BenchmarkPodHandlerLarge(b *testing.B) {
	benchEndpoint(b, newPodHandler(b, enabledNamespaces(nil)), review("Pod", "CREATE", string(largePod(b))))
}

// BenchmarkFloorLarge is the floor for the large pod.
func BenchmarkFloorLarge(b *testing.B) {
	benchEndpoint(b, newEndpoint(allowAll{}, testLimiter()), review("Pod", "CREATE", string(largePod(b))))
}

// BenchmarkPodHandlerInjected is a review of an already injected pod: the
// reinvocation case, which must produce no patch.
func BenchmarkPodHandlerInjected(b *testing.B) {
	h := newPodHandler(b, enabledNamespaces(nil))
	resp := post(b, h, review("Pod", "CREATE", string(realisticPod(b))))
	injected := applyPatch(b, realisticPod(b), resp)
	benchEndpoint(b, h, review("Pod", "CREATE", string(injected)))
}

// backendReview is a CREATE review of the object raw, of kind gvk, in the
// namespace gloo-system.
func backendReview(b *testing.B, gvk metav1.GroupVersionKind, raw string) []byte {
	b.Helper()
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "6f0c5a7e-0000-4000-8000-000000000001", Kind: gvk, Operation: admissionv1.Create,
			Namespace: "gloo-system", Name: "x", Object: runtime.RawExtension{Raw: []byte(raw)},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkUpstreamHandler is the backend webhook stamping the seed
// walkthrough's Upstream with Istio's sslConfig.
func BenchmarkUpstreamHandler(b *testing.B) {
	h := newEndpoint(&BackendHandler{Policy: newBackendPolicy(b), Namespaces: backendTestNamespaces}, testLimiter())
	benchEndpoint(b, h, backendReview(b, upstreamKind, upstreamJSON(
		`{"discoveryMetadata":{"labels":{"app":"httpbin"}},"kube":{"selector":{"app":"httpbin"},"serviceName":"httpbin","serviceNamespace":"default","servicePort":8000}}`,
		`,"labels":{"discovered_by":"kubernetesplugin"}`)))
}

// BenchmarkBackendHandler is the backend webhook marking an external
// kgateway Backend with kgateway's disable annotation.
func BenchmarkBackendHandler(b *testing.B) {
	h := newEndpoint(&BackendHandler{Policy: newBackendPolicy(b), Namespaces: backendTestNamespaces}, testLimiter())
	benchEndpoint(b, h, backendReview(b, backendKind,
		`{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"Backend","metadata":{"name":"json","namespace":"default"},`+
			`"spec":{"type":"Static","static":{"hosts":[{"host":"jsonplaceholder.typicode.com","port":80}]}}}`))
}
