package admit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatemesh/gatemesh/certs"
)

// writeServingCert writes a serving certificate for 127.0.0.1 as tls.crt
// and tls.key into a new directory and returns it with a pool trusting its CA.
func writeServingCert(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	files, err := certs.NewServingFiles([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := files.Write(dir); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(files.CA)
	return dir, pool
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// gate holds every admission until it is opened.
type gate struct {
	started atomic.Int32
	open    chan struct{}
}

func (g *gate) Handle(context.Context, admission.Request) admission.Response {
	g.started.Add(1)
	<-g.open
	return admission.Allowed("")
}

// TestDrainFinishesInFlightRequests shuts the real webhook server down while
// requests are in flight: readiness must fail first, and every request in
// flight must still get its answer.
func TestDrainFinishesInFlightRequests(t *testing.T) {
	const inFlight = 20
	dir, pool := writeServingCert(t)
	port := freePort(t)
	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})
	g := &gate{open: make(chan struct{})}
	srv.Register(PodPath, newEndpoint(g, testLimiter()))

	stop, signal := context.WithCancel(context.Background())
	defer signal()
	d := &drain{}
	ctx, ready := d.after(stop, 300*time.Millisecond), d.check
	served := make(chan error, 1)
	go func() { served <- srv.Start(ctx) }()
	waitFor(t, "the server to start", func() bool { return srv.StartedChecker()(nil) == nil })
	if err := ready(nil); err != nil {
		t.Fatalf("not ready before shutdown: %v", err)
	}

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: inFlight,
	}}
	url := "https://127.0.0.1:" + strconv.Itoa(port) + PodPath
	body := review("Pod", "CREATE", gatewayPod)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				t.Errorf("request dropped: %v", err)
				failed.Add(1)
				return
			}
			defer resp.Body.Close()
			var out admissionv1.AdmissionReview
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Response == nil || !out.Response.Allowed {
				t.Errorf("status %d, decode error %v", resp.StatusCode, err)
				failed.Add(1)
			}
		}()
	}
	waitFor(t, "every request to be in flight", func() bool { return g.started.Load() == inFlight })

	signal() // SIGTERM
	waitFor(t, "readiness to fail", func() bool { return ready(nil) != nil })
	select {
	case err := <-served:
		t.Fatalf("server stopped before the drain delay: %v", err)
	default:
	}
	time.Sleep(500 * time.Millisecond) // past the delay: the server is shutting down, requests still held
	close(g.open)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d in-flight requests failed", n, inFlight)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("server: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after its requests finished")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
