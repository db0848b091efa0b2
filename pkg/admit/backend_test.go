package admit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// backendNamespaces answers from a map; a missing namespace is NotFound, and
// the namespace named "broken" fails.
type backendNamespaces map[string]map[string]string

func (f backendNamespaces) Namespace(_ context.Context, name string) (policy.Namespace, error) {
	if name == "broken" {
		return policy.Namespace{}, errors.New("failed to get namespace \"broken\": connection refused")
	}
	l, ok := f[name]
	if !ok {
		return policy.Namespace{}, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, name)
	}
	return policy.Namespace{Name: name, Labels: l}, nil
}

var backendTestNamespaces = backendNamespaces{
	"default": {"istio.io/rev": "1-28"},
	"httpbin": {"istio-injection": "enabled"},
	"opted":   {"istio-injection": "disabled", "istio.io/rev": "1-28"},
	"plain":   {},
}

const (
	sslJSON = `{"alpnProtocols":["istio"],"sds":{"certificatesSecretName":"istio_server_cert","clusterName":"gateway_proxy_sds","targetUri":"127.0.0.1:8234","validationContextName":"istio_validation_context"}}`
	// sslMarker is the marker of sslJSON stamped with gatemesh.io/mtls: istio.
	sslMarker = "istio/sha256:fa4846b965c41be1e123b47206495f12f8b9800df72fe7858eca691d47964f9b"
	// disabledMarker is the marker of kgateway's annotation stamped with
	// gatemesh.io/mtls: disabled.
	disabledMarker = "disabled/sha256:18d10c7d2b4b04aaf04254d1ae5d655a5dc0407cbcdd5a8c3986e985370f36ee"
	// noneMarker is the marker of no block, as the user's opt-out.
	noneMarker = "sha256:74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"
)

var (
	upstreamKind   = metav1.GroupVersionKind{Group: "gloo.solo.io", Version: "v1", Kind: "Upstream"}
	backendKind    = metav1.GroupVersionKind{Group: "gateway.kgateway.dev", Version: "v1alpha1", Kind: "Backend"}
	backendV1beta1 = metav1.GroupVersionKind{Group: "gateway.kgateway.dev", Version: "v1beta1", Kind: "Backend"}
)

func upstreamJSON(spec, annotations string) string {
	return `{"apiVersion":"gloo.solo.io/v1","kind":"Upstream","metadata":{"name":"default-httpbin-8000","namespace":"gloo-system"` +
		annotations + `},"spec":` + spec + `}`
}

func TestBackendHandler(t *testing.T) {
	cases := map[string]struct {
		kind        metav1.GroupVersionKind
		op          admissionv1.Operation
		subResource string
		raw         string
		// want is the object after the patch; empty means no patch.
		want    string
		reason  policy.Reason
		code    int32
		message string
		warning string
	}{
		"the seed's kube Upstream in a revisioned namespace gets the sslConfig": {
			raw: upstreamJSON(`{"kube":{"serviceName":"httpbin","serviceNamespace":"default","servicePort":8000}}`, ""),
			want: upstreamJSON(`{"kube":{"serviceName":"httpbin","serviceNamespace":"default","servicePort":8000},"sslConfig":`+sslJSON+`}`,
				`,"annotations":{"gatemesh.io/mtls":"istio","gatemesh.io/mtls-hash":"`+sslMarker+`","gatemesh.io/mtls-reason":"target_in_mesh"}`),
			reason: policy.ReasonStamped,
		},
		"istio-injection=disabled wins over a revision label": {
			raw: upstreamJSON(`{"kube":{"serviceNamespace":"opted"}}`, ""),
			want: upstreamJSON(`{"kube":{"serviceNamespace":"opted"}}`,
				`,"annotations":{"gatemesh.io/mtls":"disabled","gatemesh.io/mtls-hash":"disabled/`+noneMarker+`","gatemesh.io/mtls-reason":"target_namespace_not_in_mesh"}`),
			reason: policy.ReasonStamped,
		},
		"a target namespace that does not exist is not in the mesh": {
			raw: upstreamJSON(`{"kube":{"serviceNamespace":"ghost"}}`, ""),
			want: upstreamJSON(`{"kube":{"serviceNamespace":"ghost"}}`,
				`,"annotations":{"gatemesh.io/mtls":"disabled","gatemesh.io/mtls-hash":"disabled/`+noneMarker+`","gatemesh.io/mtls-reason":"target_namespace_not_in_mesh"}`),
			reason: policy.ReasonStamped,
		},
		"a failed namespace lookup is a 500": {
			raw:     upstreamJSON(`{"kube":{"serviceNamespace":"broken"}}`, ""),
			code:    http.StatusInternalServerError,
			message: "connection refused",
		},
		"an UPDATE that opts out removes exactly the stamped sslConfig": {
			op: admissionv1.Update,
			raw: upstreamJSON(`{"kube":{"serviceNamespace":"default"},"sslConfig":`+sslJSON+`}`,
				`,"annotations":{"gatemesh.io/mtls":"disabled","gatemesh.io/mtls-hash":"`+sslMarker+`","gatemesh.io/mtls-reason":"target_in_mesh"}`),
			want: upstreamJSON(`{"kube":{"serviceNamespace":"default"}}`,
				`,"annotations":{"gatemesh.io/mtls":"disabled","gatemesh.io/mtls-hash":"`+noneMarker+`","gatemesh.io/mtls-reason":"opted_out"}`),
			reason: policy.ReasonUnstamped,
		},
		"an UPDATE whose stamped sslConfig was edited is left alone, with a warning": {
			op: admissionv1.Update,
			raw: upstreamJSON(`{"kube":{"serviceNamespace":"default"},"sslConfig":{"sni":"mine"}}`,
				`,"annotations":{"gatemesh.io/mtls":"disabled","gatemesh.io/mtls-hash":"`+sslMarker+`"}`),
			reason:  policy.ReasonStampEdited,
			warning: "were edited, so gatemesh leaves them alone",
		},
		"fields gatemesh does not know survive byte-for-byte": {
			raw: upstreamJSON(`{"big":18446744073709551615,"f":0.10000000000000000555,"kube":{"serviceNamespace":"httpbin","x":[null,{},[]]},"y~/z":"\u2603"}`, `,"annotations":{"a/b~c":"d"}`),
			want: upstreamJSON(`{"big":18446744073709551615,"f":0.10000000000000000555,"kube":{"serviceNamespace":"httpbin","x":[null,{},[]]},"y~/z":"\u2603","sslConfig":`+sslJSON+`}`,
				`,"annotations":{"a/b~c":"d","gatemesh.io/mtls":"istio","gatemesh.io/mtls-hash":"`+sslMarker+`","gatemesh.io/mtls-reason":"target_in_mesh"}`),
			reason: policy.ReasonStamped,
		},
		"a GCP Backend gets kgateway's disable annotation": {
			kind: backendKind,
			raw:  `{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"Backend","metadata":{"name":"run","namespace":"default"},"spec":{"type":"GCP","gcp":{"host":"x.run.app"}}}`,
			want: `{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"Backend","metadata":{"name":"run","namespace":"default","annotations":{` +
				`"gatemesh.io/mtls":"disabled","gatemesh.io/mtls-hash":"` + disabledMarker + `","gatemesh.io/mtls-reason":"target_external","kgateway.dev/disable-istio-auto-mtls":"true"}},` +
				`"spec":{"type":"GCP","gcp":{"host":"x.run.app"}}}`,
			reason: policy.ReasonStamped,
		},
		"a Backend already stamped yields no patch": {
			kind: backendKind,
			raw: `{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"Backend","metadata":{"name":"run","namespace":"default","annotations":{` +
				`"gatemesh.io/mtls":"disabled","gatemesh.io/mtls-hash":"` + disabledMarker + `","gatemesh.io/mtls-reason":"target_external","kgateway.dev/disable-istio-auto-mtls":"true"}},` +
				`"spec":{"gcp":{"host":"x.run.app"}}}`,
			reason: policy.ReasonAlreadyStamped,
		},
		"an unsupported version is allowed unchanged": {
			kind:   backendV1beta1,
			raw:    `{"apiVersion":"gateway.kgateway.dev/v1beta1","kind":"Backend","metadata":{"name":"b"},"spec":{"static":"not what v1alpha1 has"}}`,
			reason: policy.ReasonUnsupportedKind,
		},
		"an unsupported kind is allowed unchanged": {
			kind:   metav1.GroupVersionKind{Group: "gloo.solo.io", Version: "v1", Kind: "Settings"},
			raw:    `{"apiVersion":"gloo.solo.io/v1","kind":"Settings","metadata":{"name":"default"}}`,
			reason: policy.ReasonUnsupportedKind,
		},
		"a malformed object is refused with 400": {
			raw:     upstreamJSON(`{"kube":"httpbin"}`, ""),
			code:    http.StatusBadRequest,
			message: "/spec/kube: must not be a string",
		},
		"a malformed annotation is refused with 400, naming it": {
			raw:     upstreamJSON(`{"kube":{"serviceNamespace":"default"}}`, `,"annotations":{"gatemesh.io/mtls":["istio"]}`),
			code:    http.StatusBadRequest,
			message: "/metadata/annotations/gatemesh.io~1mtls: must be a string, not an array",
		},
		"a static host that is not an object is refused with 400, naming it": {
			raw:     upstreamJSON(`{"static":{"hosts":[{"addr":"a.default.svc"},"b.default.svc"]}}`, ""),
			code:    http.StatusBadRequest,
			message: "/spec/static/hosts/1: must be an object, not a string",
		},
		"more static hosts than the cap leave even a stamped Upstream alone": {
			raw: upstreamJSON(`{"static":{"hosts":[`+strings.Repeat(`{"addr":"httpbin.default.svc"},`, policy.MaxBackendTargets)+`{"addr":"x"}]},"sslConfig":`+sslJSON+`}`,
				`,"annotations":{"gatemesh.io/mtls":"istio","gatemesh.io/mtls-hash":"`+sslMarker+`","gatemesh.io/mtls-reason":"target_in_mesh"}`),
			reason: policy.ReasonTooManyTargets,
		},
		"static hosts in two mesh namespaces get the sslConfig": {
			raw: upstreamJSON(`{"static":{"hosts":[{"addr":"a.httpbin.svc"},{"addr":"b.default.svc.cluster.local"}]}}`, ""),
			want: upstreamJSON(`{"static":{"hosts":[{"addr":"a.httpbin.svc"},{"addr":"b.default.svc.cluster.local"}]},"sslConfig":`+sslJSON+`}`,
				`,"annotations":{"gatemesh.io/mtls":"istio","gatemesh.io/mtls-hash":"`+sslMarker+`","gatemesh.io/mtls-reason":"target_in_mesh"}`),
			reason: policy.ReasonStamped,
		},
		"a static host in a namespace outside the mesh stamps disabled": {
			raw: upstreamJSON(`{"static":{"hosts":[{"addr":"a.httpbin.svc"},{"addr":"b.plain.svc"}]}}`, ""),
			want: upstreamJSON(`{"static":{"hosts":[{"addr":"a.httpbin.svc"},{"addr":"b.plain.svc"}]}}`,
				`,"annotations":{"gatemesh.io/mtls":"disabled","gatemesh.io/mtls-hash":"disabled/`+noneMarker+`","gatemesh.io/mtls-reason":"target_namespace_not_in_mesh"}`),
			reason: policy.ReasonStamped,
		},
		"an object of another kind than the request is refused with 400": {
			raw:     `{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"Backend","metadata":{"name":"b"}}`,
			code:    http.StatusBadRequest,
			message: "the object is a gateway.kgateway.dev/v1alpha1 Backend but the request is for a gloo.solo.io/v1 Upstream",
		},
		"a DELETE is allowed unchanged": {
			op:  admissionv1.Delete,
			raw: upstreamJSON(`{"kube":{"serviceNamespace":"default"}}`, ""),
		},
		"a status update is allowed unchanged": {
			op: admissionv1.Update, subResource: "status",
			raw: upstreamJSON(`{"kube":{"serviceNamespace":"default"}}`, ""),
		},
	}
	h := newEndpoint(&BackendHandler{Policy: newBackendPolicy(t), Namespaces: backendTestNamespaces}, testLimiter())
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req := admissionv1.AdmissionRequest{
				UID: "1", Kind: tc.kind, Operation: tc.op, SubResource: tc.subResource,
				Namespace: "gloo-system", Name: "x",
				Object: runtime.RawExtension{Raw: []byte(tc.raw)},
			}
			if req.Kind == (metav1.GroupVersionKind{}) {
				req.Kind = upstreamKind
			}
			if req.Operation == "" {
				req.Operation = admissionv1.Create
			}
			resp := reviewBackend(t, h, req)
			if tc.code != 0 {
				if resp.Allowed || resp.Result == nil || resp.Result.Code != tc.code || !strings.Contains(resp.Result.Message, tc.message) {
					t.Fatalf("response = %+v, want a %d containing %q", resp, tc.code, tc.message)
				}
				return
			}
			if !resp.Allowed {
				t.Fatalf("not allowed: %+v", resp.Result)
			}
			if got := resp.AuditAnnotations[AuditAnnotation]; got != string(tc.reason) {
				t.Errorf("audit reason = %q, want %q", got, tc.reason)
			}
			if tc.warning != "" && (len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], tc.warning)) {
				t.Errorf("warnings = %q, want one containing %q", resp.Warnings, tc.warning)
			}
			if tc.want == "" {
				if len(resp.Patch) != 0 {
					t.Fatalf("patch = %s, want none", resp.Patch)
				}
				return
			}
			if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Fatalf("patch type = %v, want JSONPatch", resp.PatchType)
			}
			got := applyBackendPatch(t, []byte(tc.raw), resp.Patch)
			if diff := cmp.Diff(decodeBackendJSON(t, []byte(tc.want)), decodeBackendJSON(t, got)); diff != "" {
				t.Errorf("patched object mismatch (-want,+got):\n%s\npatch: %s", diff, resp.Patch)
			}
			// A second admission of the patched object changes nothing.
			req.Object.Raw = got
			again := reviewBackend(t, h, req)
			if len(again.Patch) != 0 {
				t.Errorf("second admission patch = %s, want none", again.Patch)
			}
		})
	}
}

// review sends req to h as an AdmissionReview over HTTP, the way the API
// server does, and returns the response.
func reviewBackend(t *testing.T, h http.Handler, req admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	t.Helper()
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, BackendPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("bad AdmissionReview response %q: %v", w.Body.String(), err)
	}
	return out.Response
}

func applyBackendPatch(t *testing.T, doc, patch []byte) []byte {
	t.Helper()
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("invalid patch %s: %v", patch, err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("patch %s does not apply: %v", patch, err)
	}
	return out
}

// decodeExact decodes JSON keeping every number as its text.
func decodeBackendJSON(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func newBackendPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// BenchmarkUpstreamHandlerLarge is the backend webhook stamping a 3 MB
// Upstream whose bulk is fields gatemesh does not read (labels, managed
// fields, unknown spec members): with -benchmem, the bytes allocated per
// review stay far below the object's size, since only the stamp's fields
// are decoded.
func BenchmarkUpstreamHandlerLarge(b *testing.B) {
	h := newEndpoint(&BackendHandler{Policy: newBackendPolicy(b), Namespaces: backendTestNamespaces}, testLimiter())
	benchEndpoint(b, h, backendReview(b, upstreamKind, string(bulkyUpstream(b, 3<<20))))
}

// bulkyUpstream is a kube Upstream of about size bytes: a third labels, a
// third managed fields, a third unknown spec members of every JSON type.
func bulkyUpstream(b *testing.B, size int) []byte {
	b.Helper()
	labels, fields, unknown := map[string]string{}, map[string]any{}, []any{}
	for i := 0; i*82 < size/3; i++ {
		labels[fmt.Sprintf("example.com/label-%06d", i)] = strings.Repeat("v", 70)
		fields[fmt.Sprintf("f:field-%06d", i)] = map[string]any{".": map[string]any{}, "f:x": map[string]any{}, "f:y": map[string]any{}}
		unknown = append(unknown, map[string]any{"n": i, "f": 1.5e-3, "b": true, "z": nil, "s": "text ☃ " + strings.Repeat("u", 20), "l": []any{1, []any{2, map[string]any{}}}})
	}
	return mustJSON(b, map[string]any{
		"apiVersion": "gloo.solo.io/v1", "kind": "Upstream",
		"metadata": map[string]any{"name": "big", "namespace": "gloo-system", "labels": labels,
			"managedFields": []any{map[string]any{"manager": "m", "fieldsV1": fields}}},
		"spec": map[string]any{
			"kube":      map[string]any{"serviceName": "httpbin", "serviceNamespace": "default", "servicePort": 8000},
			"x-unknown": unknown,
		},
	})
}

func mustJSON(b *testing.B, v any) []byte {
	b.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return out
}
