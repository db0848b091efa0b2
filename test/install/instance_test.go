package install

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/gatemesh/gatemesh/certs"
	"github.com/gatemesh/gatemesh/pkg/admit"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// instance is gatemesh's webhook server, in-process, as cmd/webhook's serve
// builds it: a controller-runtime manager whose webhook server takes its
// certificate from a certs.Source, with admit's handlers and checks.
type instance struct {
	t           *testing.T
	webhookAddr string // host:port of the webhook server
	probeURL    string // http://host:port of /healthz and /readyz
	mgr         manager.Manager
	ctx         context.Context
	cancel      context.CancelFunc
	done        chan error
}

// newInstance builds an instance serving on webhookPort, talking to the API
// server through cfg. start runs it.
func newInstance(t *testing.T, cfg *rest.Config, src certs.Source, webhookPort int) *instance {
	t.Helper()
	pol, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	probeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	srv, err := admit.New(cfg, admit.Config{
		Policy: pol, Certs: src, Host: "127.0.0.1", Port: webhookPort,
		MetricsAddr: "0", ProbeAddr: probeAddr,
	})
	if err != nil {
		t.Fatal(err)
	}
	mgr := srv.Manager
	ctx, cancel := context.WithCancel(context.Background())
	inst := &instance{
		t:           t,
		webhookAddr: fmt.Sprintf("127.0.0.1:%d", webhookPort),
		probeURL:    "http://" + probeAddr,
		mgr:         mgr,
		ctx:         ctx,
		cancel:      cancel,
	}
	t.Cleanup(inst.stop)
	return inst
}

// start runs the instance until stop.
func (i *instance) start() {
	i.done = make(chan error, 1)
	go func() { i.done <- i.mgr.Start(i.ctx) }()
}

func (i *instance) stop() {
	i.cancel()
	if i.done != nil {
		if err := <-i.done; err != nil {
			i.t.Errorf("instance %s: %v", i.webhookAddr, err)
		}
		i.done = nil
	}
}

// ready reports whether the readiness check at path (/readyz, or
// /readyz/<check>) passes, with the body.
func (i *instance) ready(path string) (bool, string) {
	resp, err := http.Get(i.probeURL + path)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	var body strings.Builder
	_, _ = fmt.Fprint(&body, resp.Status)
	return resp.StatusCode == http.StatusOK, body.String()
}

// waitReady waits until the instance's /readyz passes.
func (i *instance) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, body := i.ready("/readyz")
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not ready after %s: %s", i.webhookAddr, timeout, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// servedCertificate completes a TLS handshake with the instance, trusting
// roots and verifying the Service's DNS name, and returns the certificate.
func (i *instance) servedCertificate(roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", i.webhookAddr, &tls.Config{
		RootCAs: roots, ServerName: serviceName + "." + systemNamespace + ".svc", MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// clientFor returns an uncached client for cfg that knows cert-manager's
// types, as cmd/webhook builds for the certificate sources.
func clientFor(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	scheme, err := certs.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createWebhookConfiguration creates manifests/base's
// MutatingWebhookConfiguration with its webhooks pointed at URLs on this
// machine, since envtest has no Service networking; everything else (names,
// rules, selectors, matchConditions, failurePolicy) is as shipped. It is
// deleted when the test ends.
func createWebhookConfiguration(t *testing.T, podURL, backendURL string) {
	t.Helper()
	mwc := readYAML(t, repoRootPath("manifests", "base", "mutatingwebhookconfiguration.yaml"))
	createWebhookConfigurationFrom(t, mwc, podURL, backendURL, nil)
}

// logRecorder keeps log lines, for tests that check what was logged.
type logRecorder struct {
	t      *testing.T
	mu     sync.Mutex
	lines  []string
	closed bool
}

// newLogRecorder returns a recorder that also logs to t with go test -v,
// until t ends.
func newLogRecorder(t *testing.T) *logRecorder {
	r := &logRecorder{t: t}
	t.Cleanup(func() { r.mu.Lock(); r.closed = true; r.mu.Unlock() })
	return r
}

func (r *logRecorder) logger(name string) logr.Logger {
	return funcr.New(func(prefix, args string) {
		line := prefix + " " + args
		r.mu.Lock()
		defer r.mu.Unlock()
		r.lines = append(r.lines, line)
		if testing.Verbose() && !r.closed {
			r.t.Log(line)
		}
	}, funcr.Options{}).WithName(name)
}

// count returns how many lines contain every one of parts.
func (r *logRecorder) count(parts ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
line:
	for _, l := range r.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue line
			}
		}
		n++
	}
	return n
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
