package admit

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// send posts body to h with the given method and content type.
func send(h http.Handler, method, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, PodPath, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestEndpointRejectsBadHTTP(t *testing.T) {
	h := newPodEndpoint(&PodHandler{Policy: testPolicy(t), Namespaces: enabledNamespaces(nil)}, testLimiter())
	valid := review("Pod", "CREATE", gatewayPod)
	cases := map[string]struct {
		method, contentType string
		body                []byte
		wantCode            int
		wantMsg             string
	}{
		"a GET": {
			method: http.MethodGet, contentType: "application/json", body: valid,
			wantCode: http.StatusMethodNotAllowed, wantMsg: "method GET is not allowed",
		},
		"a form post": {
			method: http.MethodPost, contentType: "application/x-www-form-urlencoded", body: valid,
			wantCode: http.StatusUnsupportedMediaType, wantMsg: "send application/json",
		},
		"no content type": {
			method: http.MethodPost, body: valid, wantCode: http.StatusUnsupportedMediaType,
		},
		"a body over the limit": {
			method: http.MethodPost, contentType: "application/json",
			body:     append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), MaxRequestBytes)...),
			wantCode: http.StatusRequestEntityTooLarge, wantMsg: "larger than",
		},
		"an empty body": {
			method: http.MethodPost, contentType: "application/json", wantCode: http.StatusBadRequest, wantMsg: "empty",
		},
		"malformed JSON": {
			method: http.MethodPost, contentType: "application/json", body: []byte(`{"request":`),
			wantCode: http.StatusBadRequest, wantMsg: "malformed AdmissionReview",
		},
		"a review without a request": {
			method: http.MethodPost, contentType: "application/json",
			body:     []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
			wantCode: http.StatusBadRequest, wantMsg: "has no request",
		},
		"a request without a uid": {
			method: http.MethodPost, contentType: "application/json",
			body:     []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}`),
			wantCode: http.StatusBadRequest, wantMsg: "has no uid",
		},
		"a v1beta1 review": {
			method: http.MethodPost, contentType: "application/json",
			body:     []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}`),
			wantCode: http.StatusBadRequest, wantMsg: "expected an AdmissionReview of admission.k8s.io/v1",
		},
		"a valid review with a charset": {
			method: http.MethodPost, contentType: "application/json; charset=utf-8", body: valid, wantCode: http.StatusOK,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rec := send(h, tc.method, tc.contentType, tc.body)
			if rec.Code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantCode, rec.Body.String())
			}
			if !strings.Contains(rec.Body.String(), tc.wantMsg) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), tc.wantMsg)
			}
		})
	}
}

type panicking struct{}

func (panicking) Handle(context.Context, admission.Request) admission.Response { panic("boom") }

func TestEndpointRecoversPanics(t *testing.T) {
	rec := send(newEndpoint(panicking{}, testLimiter()), http.MethodPost, "application/json", review("Pod", "CREATE", gatewayPod))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("not an AdmissionReview (%v): %s", err, rec.Body.String())
	}
	r := out.Response
	if r.Allowed || r.Result == nil || r.Result.Code != http.StatusInternalServerError || !strings.Contains(r.Result.Message, "boom") {
		t.Errorf("response %+v, want a 500 naming the panic", r)
	}
	if r.UID != "0d9e3b2c-1111-2222-3333-444455556666" {
		t.Errorf("uid = %q, want the request's", r.UID)
	}
}

func TestEndpointMetrics(t *testing.T) {
	h := newPodEndpoint(&PodHandler{Policy: testPolicy(t), Namespaces: enabledNamespaces(nil)}, testLimiter())
	mutated := mutationsTotal.WithLabelValues("pod", resultMutated, "injected")
	skipped := mutationsTotal.WithLabelValues("pod", resultUnchanged, "not_gateway_proxy")
	failed := mutationsTotal.WithLabelValues("pod", resultError, "Bad Request")
	before := []float64{testutil.ToFloat64(mutated), testutil.ToFloat64(skipped), testutil.ToFloat64(failed)}

	send(h, http.MethodPost, "application/json", review("Pod", "CREATE", gatewayPod))
	send(h, http.MethodPost, "application/json", review("Pod", "CREATE", `{"metadata":{"labels":{"app":"x"}}}`))
	send(h, http.MethodPost, "application/json", review("Pod", "CREATE", `{"spec":"oops","metadata":{"labels":{"gloo":"gateway-proxy"}}}`))

	after := []float64{testutil.ToFloat64(mutated), testutil.ToFloat64(skipped), testutil.ToFloat64(failed)}
	for i, name := range []string{"mutated", "unchanged", "error"} {
		if after[i]-before[i] != 1 {
			t.Errorf("%s counter went from %v to %v, want +1", name, before[i], after[i])
		}
	}
	if n := testutil.CollectAndCount(admissionDuration, "gatemesh_admission_duration_seconds"); n == 0 {
		t.Errorf("no duration observed")
	}
}

func TestKindLabelIsBounded(t *testing.T) {
	for in, want := range map[string]string{"Pod": "pod", "Upstream": "upstream", "Backend": "backend", "Secret": "other", "": "other"} {
		if got := kindLabel(in); got != want {
			t.Errorf("kindLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
