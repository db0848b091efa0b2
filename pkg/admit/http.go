package admit

import (
	"bytes"
	"context"
	jsonv1 "encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatemesh/gatemesh/pkg/mutate"
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
	// head, if set, makes a value to decode request.object into while the
	// review is decoded; the handler finds it with objectHead.
	head func() any
}

// A headReader reads its object's head (mutate.PodHead, say) rather than
// the whole object. The endpoint decodes the head in the same pass as the
// review: on a large pod, finding where the object ends in the review and
// then reading its head were two scans of the same bytes, and most of the
// admission's cost.
type headReader interface {
	newHead() any
}

// newEndpoint wraps h for serving.
func newEndpoint(h admission.Handler) *endpoint {
	e := &endpoint{hook: &admission.Webhook{Handler: h}}
	if hr, ok := h.(headReader); ok {
		e.head = hr.newHead
	}
	return e
}

type headKey struct{}

// objectHead returns the head the endpoint decoded from the request's
// object, or nil when it did not decode one: the handler then reads the
// object's raw JSON itself.
func objectHead(ctx context.Context) any { return ctx.Value(headKey{}) }

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
	var head any
	if e.head != nil {
		head = e.head()
	}
	req, head, err := decodeReview(body, head)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}

	// admission.Webhook.Handle puts a logger carrying the object, the user
	// and the request's UID into the handler's context.
	ctx := r.Context()
	if head != nil {
		ctx = context.WithValue(ctx, headKey{}, head)
	}
	resp := e.hook.Handle(ctx, req)
	observe(req, resp, time.Since(start))

	// The answer is encoded whole first, so that it goes out with a
	// Content-Length in one write rather than in chunks as it is encoded.
	// It reuses buf: the request, whose object may point into it, is done.
	out := admissionv1.AdmissionReview{Response: &resp.AdmissionResponse}
	out.APIVersion, out.Kind = admissionv1.SchemeGroupVersion.String(), "AdmissionReview"
	buf.Reset()
	if err := jsonv1.NewEncoder(buf).Encode(out); err != nil {
		log.FromContext(ctx).Error(err, "Failed to encode admission response")
		httpError(w, http.StatusInternalServerError, "failed to encode the admission response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	if _, err := w.Write(buf.Bytes()); err != nil {
		log.FromContext(ctx).Error(err, "Failed to write admission response")
	}
}

// bodies recycles request buffers: a review is read whole before it is
// decoded, and growing a fresh buffer for each was a third of the bytes
// allocated per admission. A buffer holds the review, whose decoded object
// may point into it (see reviewOptions), until the handler has answered;
// then it holds the encoded answer until that is written, and is free.
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
// The request's object, old object and options are slices of body, not
// copies, since a pod can be megabytes: body must not change while the
// request is in use.
//
// If head is not nil, request.object is also decoded into it in the same
// pass, and head is returned; if the object does not decode into head, the
// review is decoded again without it, head is returned nil, and the handler
// meets the object's error itself.
func decodeReview(body []byte, head any) (admission.Request, any, error) {
	if len(body) == 0 {
		return admission.Request{}, nil, errors.New("request body is empty; send an AdmissionReview")
	}
	var review admissionv1.AdmissionReview
	decoded := false
	err := json.Unmarshal(body, &review, reviewOptions(body, head, &decoded))
	if err != nil && head != nil {
		review, head = admissionv1.AdmissionReview{}, nil
		err = json.Unmarshal(body, &review, reviewOptions(body, nil, nil))
	}
	if err != nil {
		return admission.Request{}, nil, fmt.Errorf("malformed AdmissionReview: %w", err)
	}
	if gv := admissionv1.SchemeGroupVersion.String(); review.APIVersion != gv || review.Kind != "AdmissionReview" {
		return admission.Request{}, nil, fmt.Errorf("expected an AdmissionReview of %s, got apiVersion %q kind %q",
			gv, review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return admission.Request{}, nil, errors.New("AdmissionReview has no request")
	}
	if review.Request.UID == "" {
		return admission.Request{}, nil, errors.New("AdmissionReview request has no uid")
	}
	if !decoded {
		head = nil
	}
	return admission.Request{AdmissionRequest: *review.Request}, head, nil
}

// objectPointer is where the object sits in an AdmissionReview.
const objectPointer jsontext.Pointer = "/request/object"

// reviewOptions decode a review from body, with the request's raw objects
// (object, oldObject, options) as slices of body, and request.object also
// decoded into head when head is not nil; *decoded is then set if it was.
func reviewOptions(body []byte, head any, decoded *bool) json.Options {
	object := func(dec *jsontext.Decoder, raw *runtime.RawExtension) error {
		if dec.PeekKind() != '{' {
			return errors.ErrUnsupported // runtime.RawExtension's own decoding
		}
		// The offset is just past the member's name: what follows is
		// the colon, perhaps whitespace, and the object.
		start := dec.InputOffset()
		if head != nil && dec.StackPointer() == objectPointer {
			if err := json.UnmarshalDecode(dec, head); err != nil {
				return err
			}
			*decoded = true
		} else if _, err := dec.ReadValue(); err != nil {
			return err
		}
		raw.Raw = bytes.TrimLeft(body[start:dec.InputOffset()], ": \t\r\n")
		return nil
	}
	return json.JoinOptions(mutate.DecodeOptions(), json.WithUnmarshalers(json.UnmarshalFromFunc(object)))
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
