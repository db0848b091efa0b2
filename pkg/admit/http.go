package admit

import (
	"bytes"
	"context"
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
	"github.com/go-logr/logr"
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
// a runaway or hostile body is cut off. It is the bound controller-runtime's
// own handler uses.
const MaxRequestBytes = 7 << 20

// RequestTimeout bounds one review when the API server does not say how long
// it waits (its ?timeout= query parameter): reading it, deciding and writing
// the answer. The API server waits at most 30 s for a webhook.
const RequestTimeout = 30 * time.Second

// minTimeout is the least time a review is given, whatever ?timeout= says.
const minTimeout = time.Second

// endpoint serves one webhook path: HTTP in, one decoded review to its
// handler, the answer out. It answers malformed HTTP with HTTP errors (405,
// 415, 413, 400) rather than an AdmissionReview, bounds what every request
// may hold (see Limits), gives the handler the API server's deadline,
// recovers a handler's panic into a 500 carrying the request's UID, and
// records the metrics.
//
// H is the part of the object the handler wants decoded in the same pass as
// the review (mutate.PodHead for pods; on a large pod, finding where the
// object ends and then reading its head were two scans of the same bytes).
// An endpoint with readHead false decodes no head and passes nil.
type endpoint[H any] struct {
	handle   func(ctx context.Context, req admission.Request, head *H) admission.Response
	readHead bool
	limits   *limiter
	log      logr.Logger
}

// newEndpoint serves h, which needs no head.
func newEndpoint(h admission.Handler, l *limiter) *endpoint[struct{}] {
	return &endpoint[struct{}]{
		handle: func(ctx context.Context, req admission.Request, _ *struct{}) admission.Response {
			return h.Handle(ctx, req)
		},
		limits: l,
		log:    log.Log.WithName("admission"),
	}
}

var _ http.Handler = (*endpoint[struct{}])(nil)

func (e *endpoint[H]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, http.StatusMethodNotAllowed, refusedMethod, "method %s is not allowed; send a POST with an AdmissionReview", r.Method)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		refuse(w, http.StatusUnsupportedMediaType, refusedContentType, "content type %q is not supported; send application/json", r.Header.Get("Content-Type"))
		return
	}
	if r.ContentLength > MaxRequestBytes {
		refuse(w, http.StatusRequestEntityTooLarge, refusedTooLarge, "request body is larger than %d bytes", MaxRequestBytes)
		return
	}
	timeout := requestTimeout(r)
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	// The deadlines bound a slow client; the test recorder does not support
	// them, which is harmless.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(start.Add(timeout))
	_ = rc.SetWriteDeadline(start.Add(timeout + time.Second))

	buf := bodies.Get().(*bytes.Buffer)
	buf.Reset()
	held, err := e.limits.readBody(buf, http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	defer func() {
		e.limits.give(held)
		putBuffer(buf)
	}()
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			refuse(w, http.StatusRequestEntityTooLarge, refusedTooLarge, "request body is larger than %d bytes", MaxRequestBytes)
		case errors.Is(err, errNoBytes):
			w.Header().Set("Retry-After", "1")
			refuse(w, http.StatusServiceUnavailable, refusedBytes, "server busy: %v", err)
		default:
			refuse(w, http.StatusBadRequest, refusedBadRequest, "failed to read request body: %v", err)
		}
		return
	}
	if !e.limits.acquire(ctx) {
		w.Header().Set("Retry-After", "1")
		refuse(w, http.StatusTooManyRequests, refusedRequests, "server busy: too many reviews in flight")
		return
	}
	defer e.limits.release()

	var head *H
	if e.readHead {
		head = new(H)
	}
	req, head, err := decodeReview(buf.Bytes(), head)
	if err != nil {
		refuse(w, http.StatusBadRequest, refusedBadRequest, "%v", err)
		return
	}
	resp := e.call(log.IntoContext(ctx, e.log), req, head)
	observe(req, resp, time.Since(start))

	// The answer is encoded whole first, so that it goes out with a
	// Content-Length in one write rather than in chunks as it is encoded.
	// It reuses buf: the request, whose object may point into it, is done.
	answer, err := appendAnswer(buf.AvailableBuffer()[:0], &resp)
	buf.Reset()
	buf.Write(answer)
	if err != nil {
		e.log.Error(err, "Failed to encode admission response", "uid", req.UID)
		refuse(w, http.StatusInternalServerError, refusedInternal, "failed to encode the admission response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	if _, err := w.Write(buf.Bytes()); err != nil {
		e.log.Error(err, "Failed to write admission response", "uid", req.UID)
	}
}

// call runs the handler, turning a panic into a 500 that carries the UID.
func (e *endpoint[H]) call(ctx context.Context, req admission.Request, head *H) (resp admission.Response) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error(fmt.Errorf("%v", p), "Panic while handling an admission review", "uid", req.UID)
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("internal error: panic while handling the review: %v", p))
		}
		resp.UID = req.UID
		if r := resp.Result; !resp.Allowed && r != nil && r.Code >= http.StatusInternalServerError {
			e.log.Error(errors.New(r.Message), "Failed to answer an admission review", "uid", req.UID,
				"kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
		}
	}()
	return e.handle(ctx, req, head)
}

// requestTimeout is how long the API server waits for this review: its
// ?timeout= query parameter (a Go duration, as the API server writes it),
// clamped to [minTimeout, RequestTimeout]; RequestTimeout when absent or
// unreadable.
func requestTimeout(r *http.Request) time.Duration {
	d, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	switch {
	case err != nil || d > RequestTimeout:
		return RequestTimeout
	case d < minTimeout:
		return minTimeout
	}
	return d
}

// bodies recycles request buffers: a review is read whole before it is
// decoded, and growing a fresh buffer for each was a third of the bytes
// allocated per admission. A buffer holds the review, whose decoded object
// may point into it (see reviewOptions), until the handler has answered;
// then it holds the encoded answer until that is written, and is free.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps the rare huge review's buffer out of the pool.
const maxPooledBuffer = 1 << 20

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
// review is decoded again without it and head is returned nil: the handler
// meets the object's error itself.
func decodeReview[H any](body []byte, head *H) (admission.Request, *H, error) {
	if len(body) == 0 {
		return admission.Request{}, nil, errors.New("request body is empty; send an AdmissionReview")
	}
	var review admissionv1.AdmissionReview
	decoded := false
	var into any
	if head != nil {
		into = head
	}
	err := json.Unmarshal(body, &review, reviewOptions(body, into, &decoded))
	if err != nil && head != nil {
		review, head = admissionv1.AdmissionReview{}, nil
		err = json.Unmarshal(body, &review, reviewOptions(body, nil, &decoded))
	}
	if err != nil {
		return admission.Request{}, nil, fmt.Errorf("malformed AdmissionReview: %w", mutate.DecodeError("", err))
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

// refuse answers with a plain-text error and counts the refusal.
func refuse(w http.ResponseWriter, code int, reason, format string, args ...any) {
	refusedTotal.WithLabelValues(reason).Inc()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintf(w, "gatemesh: %s\n", fmt.Sprintf(format, args...))
}

// kindLabel bounds the kind metric label to the kinds gatemesh serves, so a
// client cannot grow the metric's cardinality.
func kindLabel(kind string) string {
	switch k := strings.ToLower(kind); k {
	case "pod", "upstream", "backend", "configmap":
		return k
	default:
		return "other"
	}
}
