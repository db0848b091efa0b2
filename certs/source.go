package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Source provides the webhook server's serving certificate. Every Source is
// a manager.Runnable that runs on every replica (no leader election).
type Source interface {
	// Start keeps the certificate current until ctx ends.
	Start(ctx context.Context) error
	// GetCertificate is a tls.Config.GetCertificate: the certificate to
	// serve from this handshake on. It fails while there is none, so the
	// server listens but no handshake succeeds.
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Check is a readiness check (a healthz.Checker): nil once a valid
	// certificate is served, otherwise an error saying what is missing.
	Check(*http.Request) error
}

// TLSOption returns a webhook.Options.TLSOpts entry that serves src's
// certificate, so that controller-runtime's server does not watch files of
// its own.
func TLSOption(src Source) func(*tls.Config) {
	return func(c *tls.Config) { c.GetCertificate = src.GetCertificate }
}

// Add runs src with mgr and adds its readiness check, named "certificate".
func Add(mgr manager.Manager, src Source) error {
	if err := mgr.Add(src); err != nil {
		return fmt.Errorf("failed to add the certificate source: %w", err)
	}
	if err := mgr.AddReadyzCheck("certificate", src.Check); err != nil {
		return fmt.Errorf("failed to add readiness check: %w", err)
	}
	return nil
}

// NewScheme returns a scheme with the types certs reads: Kubernetes' own
// and cert-manager's v1 API (Certificate).
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("failed to build scheme: %w", err)
	}
	if err := cmapi.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("failed to build scheme: %w", err)
	}
	return s, nil
}

// Option configures a Source.
type Option func(*options)

type options struct {
	clock       clock.Clock
	log         logr.Logger
	poll        time.Duration
	resync      time.Duration
	propagation time.Duration
	maxBackoff  time.Duration
}

func newOptions(opts []Option) options {
	o := options{
		clock:       clock.RealClock{},
		log:         log.Log.WithName("certs"),
		poll:        5 * time.Second,
		resync:      time.Minute,
		propagation: 10 * time.Second,
		maxBackoff:  30 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithClock sets the clock every time is read from. Default: the real
// clock; tests pass a fake one.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger sets the logger. Default: controller-runtime's, named "certs".
func WithLogger(l logr.Logger) Option { return func(o *options) { o.log = l } }

// WithPollInterval sets how often Files and CertManager look again for what
// is not there yet (certificate files, a Ready Certificate) and how often
// the files are re-read besides the file watch. Default: 5s.
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithResync sets how often Self re-reads its Secret and webhook
// configuration when nothing is due, to pick up another replica's renewal
// and to restore a caBundle someone overwrote. Default: 1 minute.
func WithResync(d time.Duration) Option { return func(o *options) { o.resync = d } }

// WithCAPropagationDelay sets how long Self waits, after adding a new CA to
// caBundle, before it serves a certificate only that CA signed, so that the
// API server has seen the new caBundle. Default: 10s. It only matters when
// the CA is renewed, every 6 2/3 years by default.
func WithCAPropagationDelay(d time.Duration) Option {
	return func(o *options) { o.propagation = d }
}
