package admit

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Handlers returns gatemesh's webhook handlers by path, for a webhook server.
func Handlers(pol *policy.Policy, ns Namespaces) map[string]http.Handler {
	return map[string]http.Handler{
		PodPath:     newEndpoint(&PodHandler{Policy: pol, Namespaces: ns}),
		BackendPath: newEndpoint(&BackendHandler{Policy: pol, Namespaces: ns}),
	}
}

// Register serves gatemesh's webhooks on mgr's webhook server and adds the
// health and readiness checks: /healthz answers while the process runs;
// /readyz waits for the webhook server to listen and the namespace cache to
// sync, so that no request is answered from an empty cache.
func Register(ctx context.Context, mgr manager.Manager, pol *policy.Policy) error {
	informer, err := mgr.GetCache().GetInformer(ctx, NamespaceMetadata(), cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("failed to set up the namespace cache: %w", err)
	}
	ns := CachedNamespaces{Reader: mgr.GetCache(), Live: mgr.GetAPIReader()}
	srv := mgr.GetWebhookServer()
	for path, h := range Handlers(pol, ns) {
		srv.Register(path, h)
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("failed to add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return fmt.Errorf("failed to add readiness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("namespace-cache", func(*http.Request) error {
		if !informer.HasSynced() {
			return errors.New("namespace cache has not synced")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("failed to add readiness check: %w", err)
	}
	return nil
}
