package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/gatemesh/gatemesh/pkg/admit"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

const (
	serverEnv  = "GATEMESH_LOAD_SERVER"
	portEnv    = "GATEMESH_LOAD_PORT"
	certDirEnv = "GATEMESH_LOAD_CERT_DIR"
	// cpuProfileEnv names the file the server writes its CPU profile to.
	cpuProfileEnv = "GATEMESH_LOAD_CPUPROFILE"
)

// meshNamespaces are the namespaces the server takes to exist, with labels:
// the gateways' namespace opted in, and a meshed app namespace.
var meshNamespaces = admit.StaticNamespaces{
	"gloo-system": {policy.DefaultNamespaceLabel: "enabled"},
	"httpbin":     {"istio-injection": "enabled"},
	"default":     {"istio.io/rev": "1-28"},
}

// runServer is the child: gatemesh's webhook server, until SIGTERM.
func runServer() error {
	port, err := strconv.Atoi(os.Getenv(portEnv))
	if err != nil {
		return fmt.Errorf("bad %s: %w", portEnv, err)
	}
	// The production logger (zap at info, as serve sets it up), writing
	// nowhere: without one, controller-runtime's placeholder logger keeps
	// every WithValues it sees.
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	pol, err := policy.New(policy.Config{})
	if err != nil {
		return err
	}
	tlsOpts, err := admit.TLSConfig{}.TLSOptions()
	if err != nil {
		return err
	}
	srv := webhook.NewServer(webhook.Options{
		Host: "127.0.0.1", Port: port, CertDir: os.Getenv(certDirEnv),
		TLSOpts: tlsOpts,
	})
	for path, h := range admit.Handlers(pol, meshNamespaces) {
		srv.Register(path, h)
	}
	if path := os.Getenv(cpuProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Start(ctx)
}
