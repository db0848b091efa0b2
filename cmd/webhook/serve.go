package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/gatemesh/gatemesh/pkg/admit"
	"github.com/gatemesh/gatemesh/pkg/policy"
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
	EnableHTTP2 bool
	Zap         zap.Options
}

func runServe(ctx context.Context, args []string, stderr io.Writer, serveFn serveFunc) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &serveOptions{}
	pf := addPolicyFlags(fs)
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig path; empty means in-cluster or $KUBECONFIG")
	fs.StringVar(&o.Host, "webhook-host", "", "address the webhook server binds; empty means all")
	fs.IntVar(&o.Port, "webhook-port", 9443, "port of the webhook server")
	fs.StringVar(&o.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs",
		"directory holding tls.crt and tls.key; reloaded when they change")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", `address of /metrics; "0" disables it`)
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false,
		"serve HTTP/2; off by default against HTTP/2 Rapid Reset (CVE-2023-44487)")
	o.Zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve takes no arguments, got %q\n", fs.Args())
		return errUsage
	}
	var err error
	if o.Policy, err = pf.load(); err != nil {
		return err
	}
	return serveFn(ctx, o)
}

// serve runs the webhook until ctx ends.
func serve(ctx context.Context, o *serveOptions) error {
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.Zap)))
	log := ctrl.Log.WithName("setup")

	restCfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		return err
	}
	tlsOpts := []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }}
	if !o.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.ProbeAddr,
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: o.Host, Port: o.Port, CertDir: o.CertDir, TLSOpts: tlsOpts,
		}),
	})
	if err != nil {
		return fmt.Errorf("failed to create manager: %w", err)
	}
	if err := admit.Register(ctx, mgr, o.Policy); err != nil {
		return err
	}
	log.Info("Starting gatemesh", "port", o.Port, "certDir", o.CertDir)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("failed to run manager: %w", err)
	}
	return nil
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
