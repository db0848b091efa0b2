package admit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/gatemesh/gatemesh/certs"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Config is everything gatemesh's server needs. `webhook serve`, the
// end-to-end suite, the demo and the load harness all build their server
// from one, with New, so the tests run the wiring that ships.
type Config struct {
	// Policy decides what every webhook does.
	Policy *policy.Policy
	// Certs serves the webhook's TLS certificate.
	Certs certs.Source
	// Host and Port the webhook server binds. Host empty means every
	// address.
	Host string
	Port int
	// TLS is the webhook server's TLS settings.
	TLS TLSConfig
	// MetricsAddr and ProbeAddr are the addresses of /metrics and of
	// /healthz and /readyz; "0" turns the server off.
	MetricsAddr, ProbeAddr string
	// InsecureMetrics serves /metrics over plain HTTP to anyone, for local
	// use. Default: false: /metrics is served over HTTPS, with the
	// webhook's certificate and TLS settings (no client certificate), and
	// every scrape must carry a bearer token that the API server
	// authenticates (a TokenReview) and authorizes for get on the
	// non-resource URL /metrics (a SubjectAccessReview); otherwise 401 or
	// 403. gatemesh then needs to create tokenreviews and
	// subjectaccessreviews.
	InsecureMetrics bool
	// MetricsOptions, if set, adjusts the metrics server after the above;
	// its BindAddress is MetricsAddr.
	MetricsOptions func(*metricsserver.Options)
	// ShutdownDelay is how long readiness fails, on shutdown, before the
	// webhook server stops taking connections.
	ShutdownDelay time.Duration
	// Limits bound the requests in flight.
	Limits Limits
	// Namespaces answers the namespace lookups instead of the manager's
	// cache, for the load harness. Default: the cache.
	Namespaces Namespaces
	// LeaderElection is the manager's leader election, for the runnables
	// that must run on one replica only (the reconciler); the webhooks
	// serve on every replica whatever it says.
	LeaderElection LeaderElection
}

// LeaderElection configures the manager's leader election. Default: off,
// so every runnable runs on every replica.
type LeaderElection struct {
	// Enabled turns leader election on.
	Enabled bool
	// Namespace holds the Lease. Default: the namespace the pod runs in.
	Namespace string
	// ID names the Lease. Default: LeaderElectionID.
	ID string
}

// LeaderElectionID is the default name of the Lease the replicas elect a
// leader with.
const LeaderElectionID = "gatemesh-reconciler"

// ShutdownTimeout bounds how long requests in flight may take to finish
// once the webhook server stops taking connections: no review outlives
// RequestTimeout. With ShutdownDelay before it, it sets the pod's grace
// period in the manifests (terminationGracePeriodSeconds).
const ShutdownTimeout = RequestTimeout + 2*time.Second

// Server is gatemesh's webhook server: a controller-runtime manager
// serving the pod, backend and bootstrap webhooks, with its namespace cache,
// certificate source, metrics, health checks and graceful drain.
type Server struct {
	// Manager runs everything; add more runnables before Run.
	Manager manager.Manager
	delay   time.Duration
	drain   *drain
}

// New builds the server on the API server restCfg points at. Run it with
// Run.
func New(restCfg *rest.Config, c Config) (*Server, error) {
	if c.Policy == nil || c.Certs == nil {
		return nil, errors.New("internal error: admit.New needs a policy and a certificate source")
	}
	tlsOpts, err := c.TLS.TLSOptions()
	if err != nil {
		return nil, err
	}
	metrics := metricsserver.Options{BindAddress: c.MetricsAddr}
	if !c.InsecureMetrics {
		metrics.SecureServing = true
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
		metrics.TLSOpts = append(c.TLS.MetricsTLSOptions(), certs.TLSOption(c.Certs))
	}
	if c.MetricsOptions != nil {
		c.MetricsOptions(&metrics)
	}
	shutdown := ShutdownTimeout
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Metrics:                 metrics,
		HealthProbeBindAddress:  c.ProbeAddr,
		GracefulShutdownTimeout: &shutdown,
		LeaderElection:          c.LeaderElection.Enabled,
		LeaderElectionNamespace: c.LeaderElection.Namespace,
		LeaderElectionID:        cmp.Or(c.LeaderElection.ID, LeaderElectionID),
		// Run returns once the manager stops, and the process exits: the
		// Lease is released at once, so another replica takes over without
		// waiting for it to expire.
		LeaderElectionReleaseOnCancel: true,
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: c.Host, Port: c.Port, TLSOpts: append(tlsOpts, certs.TLSOption(c.Certs)),
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create manager: %w", err)
	}
	if err := certs.Add(mgr, c.Certs); err != nil {
		return nil, err
	}
	s := &Server{Manager: mgr, delay: c.ShutdownDelay, drain: &drain{}}
	// Two views of one namespace cache. A pod's or a ConfigMap's own
	// namespace exists (the API server checks that before any webhook), so
	// a miss means the cache is behind, and own asks the API server. A
	// backend's target namespaces may not exist at all: once the cache has
	// synced, targets trusts it, and the backend handler lets at most one
	// miss per review reach the API server before the cache has synced.
	own, targets := c.Namespaces, c.Namespaces
	var synced func() bool
	if c.Namespaces == nil {
		informer, err := mgr.GetCache().GetInformer(context.Background(), NamespaceMetadata(), cache.BlockUntilSynced(false))
		if err != nil {
			return nil, fmt.Errorf("failed to set up the namespace cache: %w", err)
		}
		synced = informer.HasSynced
		own = &CachedNamespaces{Reader: mgr.GetCache(), Live: mgr.GetAPIReader()}
		targets = &CachedNamespaces{Reader: mgr.GetCache(), Live: mgr.GetAPIReader(), Synced: synced}
	}
	lim := newLimiter(c.Limits)
	srv := mgr.GetWebhookServer()
	srv.Register(PodPath, newPodEndpoint(&PodHandler{Policy: c.Policy, Namespaces: own}, lim))
	srv.Register(BackendPath, newEndpoint(&BackendHandler{Policy: c.Policy, Namespaces: targets}, lim))
	srv.Register(BootstrapPath, newEndpoint(newBootstrapHandler(c.Policy, own), lim))

	checks := map[string]healthz.Checker{
		"webhook":  srv.StartedChecker(),
		"shutdown": s.drain.check,
	}
	if synced != nil {
		checks["namespace-cache"] = func(*http.Request) error {
			if !synced() {
				return errors.New("namespace cache has not synced")
			}
			return nil
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("failed to add health check: %w", err)
	}
	for name, check := range checks {
		if err := mgr.AddReadyzCheck(name, check); err != nil {
			return nil, fmt.Errorf("failed to add readiness check: %w", err)
		}
	}
	return s, nil
}

// Run serves until stop ends, then drains: readiness fails at once, so
// that endpoints stop sending new reviews to this replica; ShutdownDelay
// later the webhook server stops taking connections and the requests in
// flight finish, within ShutdownTimeout.
func (s *Server) Run(stop context.Context) error {
	ctx := s.drain.after(stop, s.delay)
	if err := s.Manager.Start(ctx); err != nil {
		return fmt.Errorf("failed to run manager: %w", err)
	}
	return nil
}
