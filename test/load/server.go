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

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatemesh/gatemesh/certs"
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
	// The same wiring as `webhook serve`, with the namespaces answered from
	// meshNamespaces: the harness measures the webhook, not an API server.
	// Nothing else in the manager calls the API server, so its address is
	// a placeholder.
	srv, err := admit.New(&rest.Config{Host: "https://127.0.0.1:1"}, admit.Config{
		Policy: pol, Certs: certs.NewFiles(os.Getenv(certDirEnv)),
		Host: "127.0.0.1", Port: port, MetricsAddr: "0", ProbeAddr: "0",
		Namespaces: meshNamespaces,
	})
	if err != nil {
		return err
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
	return srv.Run(ctx)
}
