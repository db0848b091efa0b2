package e2e

import (
	"context"
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/gatemesh/gatemesh/pkg/admit"
)

// Webhook is gatemesh serving its webhooks in-process, as cmd/webhook's
// serve does in a cluster: a controller-runtime manager with the handlers
// admit.Register adds, on envtest's local host, port and certificates.
type Webhook struct {
	cancel context.CancelFunc
	done   chan error
}

// readyTimeout bounds how long StartWebhook waits for the server to listen
// and the namespace cache to sync.
const readyTimeout = 60 * time.Second

// StartWebhook starts gatemesh and returns once it answers: its webhook
// server accepts TLS connections and its namespace cache has synced. It
// runs until ctx ends or Stop is called. The metrics and health servers are
// off: the API server calls only the webhook server, and the readiness they
// would report is what StartWebhook waits for.
func (cp *ControlPlane) StartWebhook(ctx context.Context) (*Webhook, error) {
	opts := cp.Env.WebhookInstallOptions
	tlsOpts, err := admit.TLSConfig{}.TLSOptions()
	if err != nil {
		return nil, fmt.Errorf("failed to configure TLS: %w", err)
	}
	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    opts.LocalServingHost,
			Port:    opts.LocalServingPort,
			CertDir: opts.LocalServingCertDir,
			TLSOpts: tlsOpts,
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create manager: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	if err := admit.Register(ctx, mgr, cp.Policy); err != nil {
		cancel()
		return nil, err
	}
	w := &Webhook{cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- mgr.Start(ctx) }()

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
