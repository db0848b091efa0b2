package admit

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Results of an admission, for the result label of gatemesh_mutations_total.
const (
	resultMutated   = "mutated"   // allowed with a patch
	resultUnchanged = "unchanged" // allowed without a patch
	resultDenied    = "denied"    // refused by policy
	resultError     = "error"     // failed: bad input or an internal error
)

// Reasons a request was refused before its review was answered, for the
// reason label of gatemesh_refused_total.
const (
	refusedMethod      = "method_not_allowed"
	refusedContentType = "unsupported_content_type"
	refusedTooLarge    = "body_too_large"
	refusedBytes       = "inflight_bytes"
	refusedRequests    = "inflight_requests"
	refusedBadRequest  = "malformed_review"
	refusedInternal    = "internal_error"
)

var (
	mutationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatemesh_mutations_total",
		Help: "Admission decisions by object kind, result (mutated, unchanged, denied, error) and reason.",
	}, []string{"kind", "result", "reason"})

	refusedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatemesh_refused_total",
		Help: "Requests refused before their review was answered, by reason: method_not_allowed, unsupported_content_type, " +
			"body_too_large, inflight_bytes (503), inflight_requests (429), malformed_review, internal_error.",
	}, []string{"reason"})

	admissionDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gatemesh_admission_duration_seconds",
		Help: "Time to answer one admission review, from request to response, by object kind.",
		// From 50µs (a typical review) to 1s (far past any healthy answer).
		Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1},
	}, []string{"kind"})
)

func init() {
	metrics.Registry.MustRegister(mutationsTotal, refusedTotal, admissionDuration)
}

// observe records one answered review. The reason comes from the audit
// annotation the handlers set; a failure's reason is its HTTP status text.
func observe(req admission.Request, resp admission.Response, took time.Duration) {
	kind := kindLabel(req.Kind.Kind)
	result, reason := resultUnchanged, resp.AuditAnnotations[AuditAnnotation]
	switch {
	case resp.Allowed && (len(resp.Patch) > 0 || len(resp.Patches) > 0):
		result = resultMutated
	case resp.Allowed:
	case resp.Result != nil && resp.Result.Code == http.StatusForbidden:
		result = resultDenied
	default:
		result = resultError
		code := http.StatusInternalServerError
		if resp.Result != nil && resp.Result.Code != 0 {
			code = int(resp.Result.Code)
		}
		reason = http.StatusText(code)
	}
	if reason == "" {
		reason = "none"
	}
	mutationsTotal.WithLabelValues(kind, result, reason).Inc()
	admissionDuration.WithLabelValues(kind).Observe(took.Seconds())
}
