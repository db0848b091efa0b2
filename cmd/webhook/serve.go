package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatemesh/gatemesh/pkg/admit"
	"github.com/gatemesh/gatemesh/pkg/policy"
	"github.com/gatemesh/gatemesh/pkg/reconcile"
)

// serveOptions is everything serve needs, after flags and the policy file.
type serveOptions struct {
	Policy      *policy.Policy
	Kubeconfig  string
	Host        string
	Port        int
	CertDir     string
	ProbeAddr   string
	MetricsAddr string
	// MetricsSecure serves /metrics over HTTPS to authorized tokens only.
	MetricsSecure bool
	EnableHTTP2   bool
	TLSMin        string
	ClientCA      string
	// ClientCertNames are the client certificate names --client-ca
	// accepts; empty accepts any the CA signed.
	ClientCertNames []string
	// MemoryLimit is the Go runtime's soft memory limit serve sets, in
	// bytes; 0 leaves the runtime's own (GOMEMLIMIT, or none).
	MemoryLimit int64
	// ShutdownDelay is how long readiness fails before the server stops.
	ShutdownDelay time.Duration
	reconcileQPS  float64
	Limits        admit.Limits
	Certs         certOptions
	// Leader is the leader election of the reconciler.
	Leader admit.LeaderElection
	// Reconcile turns the reconciler on; Reconciler holds its client
	// rate limits.
	Reconcile  bool
	Reconciler reconcile.Options
	Zap        zap.Options
}

func newServeCommand(ctx context.Context, serveFn serveFunc) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve admission requests (what the Deployment runs)",
		Long: `Serve the mutating admission webhooks: inject istio-proxy and sds into
gateway proxy pods in opted-in namespaces, add the SDS cluster to their
bootstrap ConfigMaps, and stamp Istio mTLS onto Gloo Upstreams and kgateway
Backends. With --reconcile, the elected leader also re-decides backends
when their namespaces' mesh labels change.`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	pf := addPolicyFlags(fs)
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig path; empty means in-cluster or $KUBECONFIG")
	fs.StringVar(&o.Host, "webhook-host", "", "address the webhook server binds; empty means all")
	fs.IntVar(&o.Port, "webhook-port", 9443, "port of the webhook server")
	fs.StringVar(&o.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs",
		"directory holding tls.crt and tls.key, reloaded when they change (--cert-mode files and cert-manager)")
	addCertFlags(fs, &o.Certs)
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", `address of /metrics; "0" disables it`)
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", true,
		"serve /metrics over HTTPS with the webhook's certificate, to bearer tokens the API server authenticates and\n"+
			"authorizes for get on /metrics; false serves plain HTTP to anyone, for local use only")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false,
		"serve HTTP/2; off by default against HTTP/2 Rapid Reset (CVE-2023-44487)")
	fs.StringVar(&o.TLSMin, "tls-min-version", "1.2", "lowest TLS version served: 1.2 or 1.3")
	fs.StringVar(&o.ClientCA, "client-ca", "",
		"PEM file of CAs for the API server's client certificate; when set, clients without one are refused")
	fs.StringSliceVar(&o.ClientCertNames, "client-cert-names", nil,
		"comma-separated names a client certificate must carry, as its Subject CN or a DNS name, with --client-ca;\n"+
			"empty accepts any certificate the CA signed")
	// The line break keeps "(default ...)" on the line after the flag's
	// name, where test/attack reads it.
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 5*time.Second,
		"on SIGTERM, how long readiness fails before the server stops taking connections;\nrequests in flight then finish")
	fs.Int64Var(&o.Limits.MaxInflightBytes, "max-inflight-bytes", admit.DefaultMaxInflightBytes,
		"request bytes held in memory at once, by all requests together, counted as they arrive; beyond it a request gets 503")
	fs.IntVar(&o.Limits.MaxInflightRequests, "max-inflight-requests", admit.DefaultMaxInflightRequests,
		"reviews decoded and answered at once; a review that finds no free slot within 2s gets 429")
	fs.BoolVar(&o.Reconcile, "reconcile", true,
		"re-decide Upstreams and Backends when their namespaces' mesh labels change, and report stale gateway pods, on the elected leader")
	fs.BoolVar(&o.Leader.Enabled, "leader-elect", true,
		"elect one replica to reconcile, with a Lease; every replica serves the webhooks whatever it says")
	fs.StringVar(&o.Leader.Namespace, "leader-election-namespace", "",
		"namespace of the Lease; empty means $POD_NAMESPACE, else --namespace")
	fs.Float64Var(&o.reconcileQPS, "reconcile-qps", 100, "writes a second the reconciler sends at most, on a client of its own")
	fs.IntVar(&o.Reconciler.Burst, "reconcile-burst", 200, "burst of the reconciler's writes above --reconcile-qps")
	fs.IntVar(&o.Reconciler.Workers, "reconcile-workers", 4, "objects re-decided at once, per kind")
	zfs := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.Zap.BindFlags(zfs)
	fs.AddGoFlagSet(zfs)
	cmd.RunE = func(*cobra.Command, []string) error {
		if err := o.complete(pf); err != nil {
			return err
		}
		return serveFn(ctx, o)
	}
	return cmd
}

// complete validates the flags and loads the policy.
func (o *serveOptions) complete(pf *policyFlags) error {
	if err := o.Certs.validate(); err != nil {
		return err
	}
	if o.TLSMin != "1.2" && o.TLSMin != "1.3" {
		return fmt.Errorf("--tls-min-version must be 1.2 or 1.3, not %q", o.TLSMin)
	}
	for i, n := range o.ClientCertNames {
		if o.ClientCertNames[i] = strings.TrimSpace(n); o.ClientCertNames[i] == "" {
			return fmt.Errorf("--client-cert-names must not hold an empty name")
		}
	}
	if len(o.ClientCertNames) > 0 && o.ClientCA == "" {
		return fmt.Errorf("--client-cert-names needs --client-ca")
	}
	if o.ShutdownDelay < 0 {
		return fmt.Errorf("--shutdown-delay must not be negative")
	}
	if o.Limits.MaxInflightBytes < admit.MaxRequestBytes || o.Limits.MaxInflightRequests < 1 {
		return fmt.Errorf("--max-inflight-bytes must be at least %d (one review of the largest size) and --max-inflight-requests at least 1", admit.MaxRequestBytes)
	}
	if o.reconcileQPS <= 0 || o.Reconciler.Burst < 1 || o.Reconciler.Workers < 1 {
		return fmt.Errorf("--reconcile-qps must be positive, --reconcile-burst and --reconcile-workers at least 1")
	}
	limit, err := memoryLimit(os.Getenv(goMemLimitEnv), os.Getenv(memoryLimitEnv))
	if err != nil {
		return err
	}
	o.MemoryLimit = limit
	o.Reconciler.QPS = float32(o.reconcileQPS)
	// The backend webhooks leave out kube-system and gatemesh's own
	// namespace (--namespace); the reconciler leaves out the same.
	o.Reconciler.SkipNamespaces = []string{"kube-system", o.Certs.Namespace}
	// Only the reconciler needs a leader.
	o.Leader.Enabled = o.Leader.Enabled && o.Reconcile
	if o.Leader.Namespace == "" {
		o.Leader.Namespace = cmp.Or(os.Getenv("POD_NAMESPACE"), o.Certs.Namespace)
	}
	o.Policy, err = pf.load()
	return err
}

// serve runs the webhook until stop ends, then drains: readiness fails at
// once, and the server stops --shutdown-delay later, letting requests in
// flight finish.
func serve(stop context.Context, o *serveOptions) error {
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.Zap)))
	log := ctrl.Log.WithName("setup")
	if o.MemoryLimit > 0 {
		debug.SetMemoryLimit(o.MemoryLimit)
		log.Info("Set the Go memory limit", "bytes", o.MemoryLimit, "from", memoryLimitEnv)
	}

	restCfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		return err
	}
	src, err := newCertSource(o, restCfg)
	if err != nil {
		return err
	}
	srv, err := admit.New(restCfg, admit.Config{
		Policy: o.Policy, Certs: src, Host: o.Host, Port: o.Port,
		TLS: admit.TLSConfig{
			TLS13Only: o.TLSMin == "1.3", EnableHTTP2: o.EnableHTTP2,
			ClientCAFile: o.ClientCA, ClientCertNames: o.ClientCertNames,
		},
		MetricsAddr: o.MetricsAddr, InsecureMetrics: !o.MetricsSecure, ProbeAddr: o.ProbeAddr,
		ShutdownDelay: o.ShutdownDelay, Limits: o.Limits,
		LeaderElection: o.Leader,
	})
	if err != nil {
		return err
	}
	if o.Reconcile {
		r := o.Reconciler
		r.Policy = o.Policy
		if err := reconcile.Add(srv.Manager, r); err != nil {
			return err
		}
	}
	log.Info("Starting gatemesh", "port", o.Port, "certMode", o.Certs.Mode, "certDir", o.CertDir,
		"metricsAddr", o.MetricsAddr, "metricsSecure", o.MetricsSecure)
	return srv.Run(stop)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("failed to load cluster config: %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig %q: %w", kubeconfig, err)
	}
	return cfg, nil
}
