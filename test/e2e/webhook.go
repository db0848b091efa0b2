package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/rest"

	"github.com/gatemesh/gatemesh/certs"
	"github.com/gatemesh/gatemesh/pkg/admit"
	"github.com/gatemesh/gatemesh/pkg/reconcile"
)

// Webhook is gatemesh serving its webhooks in-process, built by admit.New
// exactly as cmd/webhook's serve builds it, on envtest's local host, port
// and certificates.
type Webhook struct {
	// Server is the running server.
	Server *admit.Server
	cancel context.CancelFunc
	done   chan error
}

// WebhookOption configures StartWebhook.
type WebhookOption func(*webhookOptions)

type webhookOptions struct {
	reconcile *reconcile.Options
	leader    admit.LeaderElection
	port      int
	config    *rest.Config
	metrics   string
}

// WithReconciler also runs the reconciler, with o (its Policy is the
// control plane's), elected by le. Default: the webhooks only.
func WithReconciler(o reconcile.Options, le admit.LeaderElection) WebhookOption {
	return func(w *webhookOptions) { w.reconcile, w.leader = &o, le }
}

// WithPort serves on port, for a second replica the API server does not
// call. Default: envtest's local serving port.
func WithPort(port int) WebhookOption { return func(w *webhookOptions) { w.port = port } }

// WithMetrics serves /metrics on addr as `webhook serve` does: HTTPS with
// the webhook's certificate, to bearer tokens the API server authenticates
// and authorizes. Default: no metrics server.
func WithMetrics(addr string) WebhookOption { return func(w *webhookOptions) { w.metrics = addr } }

// WithRestConfig talks to the API server as cfg says, to run as gatemesh's
// ServiceAccount under the manifests' RBAC. Default: the admin's Config.
func WithRestConfig(cfg *rest.Config) WebhookOption {
	return func(w *webhookOptions) { w.config = cfg }
}

// readyTimeout bounds how long StartWebhook waits for the server to listen
// and the namespace cache to sync.
const readyTimeout = 60 * time.Second

// StartWebhook starts gatemesh and returns once it answers: its webhook
// server accepts TLS connections and its namespace cache has synced. It
// runs until ctx ends or Stop is called. The health server is off, and the
// metrics server unless WithMetrics: the API server calls only the webhook
// server, and the readiness they would report is what StartWebhook waits
// for.
func (cp *ControlPlane) StartWebhook(ctx context.Context, options ...WebhookOption) (*Webhook, error) {
	var o webhookOptions
	for _, opt := range options {
		opt(&o)
	}
	opts := cp.Env.WebhookInstallOptions
	port := opts.LocalServingPort
	if o.port != 0 {
		port = o.port
	}
	cfg := cp.Config
	if o.config != nil {
		cfg = o.config
	}
	srv, err := admit.New(cfg, admit.Config{
		Policy: cp.Policy, Certs: certs.NewFiles(opts.LocalServingCertDir),
		Host: opts.LocalServingHost, Port: port,
		MetricsAddr: cmp.Or(o.metrics, "0"), ProbeAddr: "0",
		LeaderElection: o.leader,
	})
	if err != nil {
		return nil, err
	}
	if o.reconcile != nil {
		r := *o.reconcile
		r.Policy = cp.Policy
		if err := reconcile.Add(srv.Manager, r); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Webhook{Server: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- srv.Run(ctx) }()

	mgr := srv.Manager
	ready := mgr.GetWebhookServer().StartedChecker()
	deadline := time.Now().Add(readyTimeout)
	for {
		err := ready(nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("gatemesh did not listen on %s within %s: %w", cp.WebhookURL(), readyTimeout, err), w.Stop())
		}
		select {
		case err := <-w.done:
			cancel()
			return nil, fmt.Errorf("gatemesh stopped while starting: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	syncCtx, syncCancel := context.WithTimeout(ctx, readyTimeout)
	defer syncCancel()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		return nil, errors.Join(errors.New("gatemesh's namespace cache did not sync"), w.Stop())
	}
	return w, nil
}

// Stop stops gatemesh and waits until its webhook server has closed: from
// then on the API server cannot reach it. It is safe to call twice.
func (w *Webhook) Stop() error {
	w.cancel()
	err, ok := <-w.done
	if !ok {
		return nil
	}
	close(w.done)
	if err != nil {
		return fmt.Errorf("gatemesh failed: %w", err)
	}
	return nil
}
