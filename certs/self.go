package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// SelfConfig says what Self manages.
type SelfConfig struct {
	// Secret holds the CA and the serving certificate, shared by every
	// replica (keys CABundleKey, CAKeyKey, TLSCertKey, TLSKeyKey). Required.
	// It may exist, empty, beforehand, so that RBAC can name it.
	Secret types.NamespacedName
	// WebhookConfiguration is the MutatingWebhookConfiguration whose every
	// webhook gets the CA bundle as caBundle. Required.
	WebhookConfiguration string
	// Hosts are the serving certificate's DNS names and IP addresses.
	// Required; ServiceHosts returns a Service's.
	Hosts []string
	// ServingValidity is how long a serving certificate is valid.
	// Default: DefaultServingValidity (1 year).
	ServingValidity time.Duration
	// CAValidity is how long the CA is valid. It must be longer than
	// ServingValidity. Default: DefaultCAValidity (10 years).
	CAValidity time.Duration
}

// ServiceHosts returns the names the API server verifies when it calls a
// webhook through the Service name in namespace: <name>.<namespace>.svc and
// <name>.<namespace>.svc.cluster.local.
func ServiceHosts(name, namespace string) []string {
	return []string{name + "." + namespace + ".svc", name + "." + namespace + ".svc.cluster.local"}
}

// Self is the self-managed Source. Replicas agree through the Secret: each
// reads it, and writes it only when something is due, with the
// resourceVersion it read; when two write at once, the API server accepts
// one write and refuses the other (AlreadyExists or Conflict), and the
// refused replica reads again and adopts what the other wrote. So replicas
// that start together end up with one CA.
//
// A replica serves a certificate only once caBundle holds the CA that
// signed it.
type Self struct {
	client  client.Client
	cfg     SelfConfig
	issue   issuance
	o       options
	cert    atomic.Pointer[tls.Certificate]
	lastErr atomic.Pointer[string]
}

var (
	_ Source                         = (*Self)(nil)
	_ manager.LeaderElectionRunnable = (*Self)(nil)
)

// maxSecretAttempts bounds how often ensureSecret reads the Secret again
// after losing a write to another replica.
const maxSecretAttempts = 5

// minWait keeps the renewal loop from spinning when a renewal is due now.
const minWait = 50 * time.Millisecond

// NewSelf returns a Self that reads and writes through c, which should not
// be a cached client: the Secret's resourceVersion must be current.
func NewSelf(c client.Client, cfg SelfConfig, opts ...Option) (*Self, error) {
	if cfg.ServingValidity == 0 {
		cfg.ServingValidity = DefaultServingValidity
	}
	if cfg.CAValidity == 0 {
		cfg.CAValidity = DefaultCAValidity
	}
	switch {
	case cfg.Secret.Name == "" || cfg.Secret.Namespace == "":
		return nil, errors.New("the Secret's name and namespace are required")
	case cfg.WebhookConfiguration == "":
		return nil, errors.New("the webhook configuration's name is required")
	case len(cfg.Hosts) == 0:
		return nil, errors.New("at least one host name is required")
	case cfg.ServingValidity < 0 || cfg.CAValidity <= cfg.ServingValidity:
		return nil, fmt.Errorf("the CA validity (%s) must be longer than the serving validity (%s), which must be positive",
			cfg.CAValidity, cfg.ServingValidity)
	}
	return &Self{
		client: c,
		cfg:    cfg,
		issue:  issuance{hosts: cfg.Hosts, caValidity: cfg.CAValidity, servingValidity: cfg.ServingValidity},
		o:      newOptions(opts),
	}, nil
}

// NeedLeaderElection is false: every replica serves, so every replica
// keeps its certificate current.
func (s *Self) NeedLeaderElection() bool { return false }

// GetCertificate returns the certificate to serve.
func (s *Self) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.cert.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("no serving certificate yet")
}

// Check is ready while a certificate that has not expired is served.
func (s *Self) Check(*http.Request) error {
	c := s.cert.Load()
	if c == nil {
		if e := s.lastErr.Load(); e != nil {
			return fmt.Errorf("no serving certificate yet: %s", *e)
		}
		return errors.New("no serving certificate yet")
	}
	if now := s.o.clock.Now(); !now.Before(c.Leaf.NotAfter) {
		return fmt.Errorf("the serving certificate expired at %s", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Start reconciles until ctx ends: at once, then when the next renewal is
// due or after the resync interval, whichever is first; after a failure,
// with a backoff from 1s to 30s.
func (s *Self) Start(ctx context.Context) error {
	log := s.o.log.WithValues("secret", klog.KRef(s.cfg.Secret.Namespace, s.cfg.Secret.Name),
		"webhookConfiguration", s.cfg.WebhookConfiguration)
	backoff := time.Second
	for {
		wait, err := s.reconcile(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			msg := err.Error()
			s.lastErr.Store(&msg)
			log.Error(err, "Failed to reconcile the serving certificate", "retryIn", backoff)
			wait, backoff = backoff, min(2*backoff, s.o.maxBackoff)
		default:
			s.lastErr.Store(nil)
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.o.clock.After(wait):
		}
	}
}

// reconcile makes the Secret current, puts its CA bundle into caBundle,
// serves its certificate, and returns how long until the next renewal is
// due, at most the resync interval.
func (s *Self) reconcile(ctx context.Context) (time.Duration, error) {
	data, err := s.ensureSecret(ctx)
	if err != nil {
		return 0, err
	}
	serving, signer, err := servingFromData(data)
	if err != nil {
		return 0, err
	}
	hadSigner, err := s.patchCABundle(ctx, data[CABundleKey], signer)
	if err != nil {
		return 0, err
	}
	if cur := s.cert.Load(); cur == nil || !bytes.Equal(cur.Leaf.Raw, serving.cert.Raw) {
		if cur != nil && !hadSigner {
			s.o.log.Info("Waiting for the API server to see the new CA before serving a certificate it signed",
				"webhookConfiguration", s.cfg.WebhookConfiguration, "delay", s.o.propagation)
			return s.o.propagation, nil
		}
		tc, err := serving.tlsCertificate()
		if err != nil {
			return 0, err
		}
		tc.Leaf = serving.cert
		s.cert.Store(tc)
		s.o.log.Info("Serving a new certificate", "serial", serving.cert.SerialNumber.Text(16),
			"notAfter", serving.cert.NotAfter, "renewAt", RenewAt(serving.cert), "dnsNames", serving.cert.DNSNames)
	}
	next := RenewAt(serving.cert)
	if ca := RenewAt(signer); ca.Before(next) {
		next = ca
	}
	return min(max(next.Sub(s.o.clock.Now()), minWait), s.o.resync), nil
}

// ensureSecret reads the Secret, writes it when something is due, and
// returns its data. A write carries the resourceVersion that was read, so
// of two replicas writing at once one loses, reads again and adopts the
// other's.
func (s *Self) ensureSecret(ctx context.Context) (map[string][]byte, error) {
	log := s.o.log.WithValues("secret", klog.KRef(s.cfg.Secret.Namespace, s.cfg.Secret.Name))
	for range maxSecretAttempts {
		var sec corev1.Secret
		err := s.client.Get(ctx, s.cfg.Secret, &sec)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("failed to get Secret %s: %w", s.cfg.Secret, err)
		}
		exists := err == nil
		data, reason, err := s.issue.plan(sec.Data, s.o.clock.Now())
		if err != nil {
			return nil, err
		}
		if reason == ReasonUpToDate {
			return data, nil
		}
		if exists {
			sec.Data = data
			err = s.client.Update(ctx, &sec)
		} else {
			sec = corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{
					Name: s.cfg.Secret.Name, Namespace: s.cfg.Secret.Namespace,
					Labels: map[string]string{"app.kubernetes.io/name": "gatemesh"},
				},
				Type: corev1.SecretTypeOpaque,
				Data: data,
			}
			err = s.client.Create(ctx, &sec)
		}
		switch {
		case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
			log.Info("Another replica wrote the Secret first; reading it again", "reason", reason)
			continue
		case err != nil:
			return nil, fmt.Errorf("failed to write Secret %s: %w", s.cfg.Secret, err)
		}
		log.Info("Wrote the certificate Secret", "reason", reason, "why", reason.Sentence(),
			"resourceVersion", sec.ResourceVersion)
		return data, nil
	}
	return nil, fmt.Errorf("failed to write Secret %s: lost %d writes in a row to other writers", s.cfg.Secret, maxSecretAttempts)
}
