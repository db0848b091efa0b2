package admit

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// trickle yields its bytes a few at a time, then blocks until released:
// a client that claims a large body and sends little of it.
type trickle struct {
	data    []byte
	release chan struct{}
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		<-t.release
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 7)], t.data)
	t.data = t.data[n:]
	return n, nil
}

// TestReadBodyHoldsWhatArrived checks that a request holds, and reserves,
// only the bytes that arrived, whatever it claims, and gives them back.
func TestReadBodyHoldsWhatArrived(t *testing.T) {
	l := newLimiter(Limits{})
	src := &trickle{data: bytes.Repeat([]byte("x"), 100), release: make(chan struct{})}
	var buf bytes.Buffer
	done := make(chan int64)
	go func() {
		held, err := l.readBody(&buf, src)
		if err != nil {
			t.Error(err)
		}
		done <- held
	}()
	// While the reader waits for more, it holds at most the bytes read
	// plus one chunk reserved for the read in progress.
	time.Sleep(50 * time.Millisecond)
	if got := l.bytes.Load(); got > 100+readChunk {
		t.Errorf("reserved %d bytes while 100 arrived", got)
	}
	close(src.release)
	held := <-done
	if held != 100 || buf.Len() != 100 || l.bytes.Load() != 100 {
		t.Errorf("held %d, buffered %d, reserved %d; want 100 each", held, buf.Len(), l.bytes.Load())
	}
	if buf.Cap() > 100+2*readChunk {
		t.Errorf("buffer grew to %d for 100 bytes", buf.Cap())
	}
	l.give(held)
	if l.bytes.Load() != 0 {
		t.Errorf("%d bytes still reserved", l.bytes.Load())
	}
}

// TestEndpointRefusesPastTheByteBudget fills the byte budget and checks that
// the next request is refused with 503 and counted, and that the budget is
// whole again afterwards.
func TestEndpointRefusesPastTheByteBudget(t *testing.T) {
	l := newLimiter(Limits{MaxInflightBytes: 4 * readChunk})
	h := newEndpoint(allowAll{}, l)
	if !l.take(3 * readChunk) {
		t.Fatal("cannot take the budget")
	}
	before := testutil.ToFloat64(refusedTotal.WithLabelValues(refusedBytes))
	body := review("Pod", "CREATE", string(bytes.Repeat([]byte(" "), 2*readChunk))+gatewayPod)
	if rec := send(h, http.MethodPost, "application/json", body); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503: %s", rec.Code, rec.Body.String())
	}
	if got := testutil.ToFloat64(refusedTotal.WithLabelValues(refusedBytes)) - before; got != 1 {
		t.Errorf("gatemesh_refused_total{reason=%q} rose by %v, want 1", refusedBytes, got)
	}
	l.give(3 * readChunk)
	if l.bytes.Load() != 0 {
		t.Errorf("%d bytes still reserved after the refusal", l.bytes.Load())
	}
	if rec := send(h, http.MethodPost, "application/json", body); rec.Code != http.StatusOK {
		t.Errorf("with the budget free: status %d: %s", rec.Code, rec.Body.String())
	}
}

// TestEndpointRefusesWhenEverySlotIsBusy holds every slot and checks that a
// review waits SlotWait, then gets 429.
func TestEndpointRefusesWhenEverySlotIsBusy(t *testing.T) {
	l := newLimiter(Limits{MaxInflightRequests: 1, SlotWait: 20 * time.Millisecond})
	h := newEndpoint(allowAll{}, l)
	if !l.acquire(context.Background()) {
		t.Fatal("no slot")
	}
	before := testutil.ToFloat64(refusedTotal.WithLabelValues(refusedRequests))
	rec := send(h, http.MethodPost, "application/json", review("Pod", "CREATE", gatewayPod))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := testutil.ToFloat64(refusedTotal.WithLabelValues(refusedRequests)) - before; got != 1 {
		t.Errorf("gatemesh_refused_total{reason=%q} rose by %v, want 1", refusedRequests, got)
	}
	l.release()
	if rec := send(h, http.MethodPost, "application/json", review("Pod", "CREATE", gatewayPod)); rec.Code != http.StatusOK {
		t.Errorf("with a free slot: status %d", rec.Code)
	}
}

// deadlineHandler reports the deadline its context carries.
type deadlineHandler struct{ got time.Duration }

func (d *deadlineHandler) Handle(ctx context.Context, _ admission.Request) admission.Response {
	if dl, ok := ctx.Deadline(); ok {
		d.got = time.Until(dl)
	}
	return admission.Allowed("")
}

// TestHandlerGetsTheAPIServersTimeout checks that the handler's context ends
// when the API server stops waiting: its ?timeout=, clamped.
func TestHandlerGetsTheAPIServersTimeout(t *testing.T) {
	cases := map[string]struct {
		query string
		want  time.Duration
	}{
		"the shipped webhooks' 5s":     {query: "?timeout=5s", want: 5 * time.Second},
		"no timeout":                   {query: "", want: RequestTimeout},
		"more than the API server's":   {query: "?timeout=10m", want: RequestTimeout},
		"less than a second":           {query: "?timeout=1ms", want: minTimeout},
		"not a duration":               {query: "?timeout=soon", want: RequestTimeout},
		"the API server's 30s at most": {query: "?timeout=30s", want: 30 * time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := &deadlineHandler{}
			req := httptest.NewRequest(http.MethodPost, PodPath+tc.query, bytes.NewReader(review("Pod", "CREATE", gatewayPod)))
			req.Header.Set("Content-Type", "application/json")
			newEndpoint(d, testLimiter()).ServeHTTP(httptest.NewRecorder(), req)
			if d.got > tc.want || d.got < tc.want-time.Second {
				t.Errorf("deadline in %s, want %s", d.got, tc.want)
			}
		})
	}
}
