package admit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	kjson "sigs.k8s.io/json"
)

// MaxRequestBytes bounds an AdmissionReview's body. The API server accepts
// request bodies of at most 3 MiB and etcd stores objects of at most 1.5 MiB;
// a review carries at most two copies of the object (object and, on UPDATE,
// oldObject) in a small envelope. 7 MiB therefore admits every review an API
// server can send, with room for JSON's overhead over the stored form, while
// a runaway or hostile body is cut off before it is buffered whole. It is the
// bound controller-runtime's own handler uses.
const MaxRequestBytes = 7 << 20

// RequestTimeout bounds reading one review and writing its answer. The API
// server gives up on a webhook after its timeoutSeconds (5 in the shipped
// configuration, 30 at most), so a request still running after this is
// talking to nobody.
const RequestTimeout = 30 * time.Second

// endpoint serves one webhook path. It replaces controller-runtime's
// admission.Webhook.ServeHTTP to answer malformed HTTP with HTTP errors (405,
// 413, 415, 400) rather than an AdmissionReview carrying them, to decode the
// review once, and to record gatemesh's metrics; it still calls
// admission.Webhook.Handle, which recovers panics into a 500 response
// carrying the request's UID.
type endpoint struct {
	hook *admission.Webhook
}

// newEndpoint wraps h for serving.
func newEndpoint(h admission.Handler) *endpoint {
	return &endpoint{hook: &admission.Webhook{Handler: h}}
}

var _ http.Handler = (*endpoint)(nil)

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "method %s is not allowed; send a POST with an AdmissionReview", r.Method)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		httpError(w, http.StatusUnsupportedMediaType, "content type %q is not supported; send application/json", r.Header.Get("Content-Type"))
		return
	}
	// The deadlines bound a slow client; the test recorder does not support
	// them, which is harmless.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(start.Add(RequestTimeout))
	_ = rc.SetWriteDeadline(start.Add(RequestTimeout))

	buf := getBuffer(r.ContentLength)
	defer putBuffer(buf)
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	body := buf.Bytes()
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			httpError(w, http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", MaxRequestBytes)
			return
		}
		httpError(w, http.StatusBadRequest, "failed to read request body: %v", err)
		return
	}
	req, err := decodeReview(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}

	// admission.Webhook.Handle puts a logger carrying the object, the user
	// and the request's UID into the handler's context.
	ctx := r.Context()
	resp := e.hook.Handle(ctx, req)
	observe(req, resp, time.Since(start))

	w.Header().Set("Content-Type", "application/json")
	out := admissionv1.AdmissionReview{Response: &resp.AdmissionResponse}
	out.APIVersion, out.Kind = admissionv1.SchemeGroupVersion.String(), "AdmissionReview"
	if err := json.NewEncoder(w).Encode(out); err != nil {
		log.FromContext(ctx).Error(err, "Failed to write admission response")
	}
}

// bodies recycles request buffers: a review is read whole before it is
// decoded, and growing a fresh buffer for each was a third of the bytes
// allocated per admission. Decoding copies what it keeps, so a buffer is
// free again once the answer is written.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps the rare huge review's buffer out of the pool.
const maxPooledBuffer = 1 << 20

func getBuffer(contentLength int64) *bytes.Buffer {
	b := bodies.Get().(*bytes.Buffer)
	b.Reset()
	if contentLength > 0 && contentLength <= MaxRequestBytes {
		b.Grow(int(contentLength) + bytes.MinRead)
	}
	return b
}

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		bodies.Put(b)
	}
}

// decodeReview decodes and checks an admission.k8s.io/v1 AdmissionReview.
func decodeReview(body []byte) (admission.Request, error) {
	if len(body) == 0 {
		return admission.Request{}, errors.New("request body is empty; send an AdmissionReview")
	}
	var review admissionv1.AdmissionReview
	if err := kjson.UnmarshalCaseSensitivePreserveInts(body, &review); err != nil {
		return admission.Request{}, fmt.Errorf("malformed AdmissionReview: %w", err)
	}
	if gv := admissionv1.SchemeGroupVersion.String(); review.APIVersion != gv || review.Kind != "AdmissionReview" {
		return admission.Request{}, fmt.Errorf("expected an AdmissionReview of %s, got apiVersion %q kind %q",
			gv, review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return admission.Request{}, errors.New("AdmissionReview has no request")
	}
	if review.Request.UID == "" {
		return admission.Request{}, errors.New("AdmissionReview request has no uid")
	}
	return admission.Request{AdmissionRequest: *review.Request}, nil
}

// httpError answers with a plain-text error.
func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintf(w, "gatemesh: %s\n", fmt.Sprintf(format, args...))
}

// kindLabel bounds the kind metric label to the kinds gatemesh serves, so a
// client cannot grow the metric's cardinality.
func kindLabel(kind string) string {
	switch k := strings.ToLower(kind); k {
	case "pod", "upstream", "backend":
		return k
	default:
		return "other"
	}
}
