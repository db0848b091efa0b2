// Command demo is `make demo`: it starts a local kube-apiserver and etcd
// (envtest, from bin/k8s/), runs gatemesh in-process as their webhook, plays
// the seed walkthrough from examples/, and says what gatemesh did and why.
// With --keep it then keeps running, with a kubeconfig for kubectl, until
// Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/discovery"

	"github.com/gatemesh/gatemesh/pkg/policy"
	"github.com/gatemesh/gatemesh/test/e2e"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A second Ctrl-C, while stopping, kills the demo at once.
	go func() { <-ctx.Done(); stop() }()
	err := run(ctx, os.Args[1:], os.Stdout)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	keep   bool
	config string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.BoolVar(&o.keep, "keep", false, "keep the control plane and gatemesh running, with a kubeconfig for kubectl, until Ctrl-C")
	fs.StringVar(&o.config, "config", "", "gatemesh policy file (YAML); empty means all defaults")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("demo takes no arguments, got %q", fs.Args())
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) (err error) {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	cfg, err := policy.ReadFile(o.config)
	if err != nil {
		return err
	}
	pol, err := policy.New(cfg)
	if err != nil {
		return err
	}
	if _, err := e2e.AssetsDir(); err != nil {
		return err
	}
	// Logs go to a file, so that the terminal shows only the story; it is
	// kept when something fails, or with --keep, for `tail -f`.
	dir, err := os.MkdirTemp("", "gatemesh-demo-")
	if err != nil {
		return fmt.Errorf("failed to create a working directory: %w", err)
	}
	logPath := filepath.Join(dir, "gatemesh.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("failed to create the log file: %w", err)
	}
	defer func() {
		logFile.Close()
		if err != nil {
			err = fmt.Errorf("%w\n(logs of gatemesh and envtest: %s)", err, logPath)
			return
		}
		os.RemoveAll(dir)
	}()

	start := time.Now()
	fmt.Fprintln(out, "Starting a local control plane: kube-apiserver and etcd from bin/k8s/ (no cluster needed)...")
	cp, err := e2e.Start(e2e.WithPolicy(pol), e2e.WithLogs(logFile), e2e.WithVerboseLogs())
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := cp.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	version := "kube-apiserver"
	if dc, dErr := discovery.NewDiscoveryClientForConfig(cp.Config); dErr == nil {
		if v, vErr := dc.ServerVersion(); vErr == nil {
			version += " " + v.GitVersion
		}
	}
	wh, err := cp.StartWebhook(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := wh.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	fmt.Fprintf(out, "%s and etcd are up, and gatemesh serves the webhooks of %s on %s (%s).\n",
		version, e2e.WebhookManifest, cp.WebhookURL(), time.Since(start).Round(100*time.Millisecond))

	fmt.Fprintln(out, "\nThe seed walkthrough:")
	seed, err := e2e.LoadSeed(cp.Root, pol)
	if err != nil {
		return err
	}
	res, err := seed.Run(ctx, cp.Client, func(cmd string) { fmt.Fprintf(out, "  %s\n", commandLine(cmd)) })
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "\nWhat gatemesh did, read back from the API server:")
	if err := summarize(ctx, out, cp.Client, pol, res); err != nil {
		return err
	}

	if !o.keep {
		fmt.Fprintln(out, "\nStopping. Run `make demo ARGS=--keep` to keep it running and kubectl apply your own objects.")
		return nil
	}
	return keep(ctx, out, cp, dir, logPath)
}

// commandLine prefixes a command with a prompt; comments and output lines
// are shown as they are.
func commandLine(s string) string {
	if s == "" || s[0] == ' ' || s[0] == '#' {
		return s
	}
	return "$ " + s
}

// keep writes a kubeconfig for the control plane and waits for Ctrl-C.
func keep(ctx context.Context, out io.Writer, cp *e2e.ControlPlane, dir, logPath string) error {
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, cp.Env.KubeConfig, 0o600); err != nil {
		return fmt.Errorf("failed to write kubeconfig: %w", err)
	}
	fmt.Fprintf(out, `
The control plane and gatemesh keep running. In another terminal:
  export KUBECONFIG=%s
  kubectl get pods -n gloo-system -o yaml      # the injected gateway pod
  kubectl get pods -n kgateway-system -o yaml  # kgateway's gateway pod, adjusted (gatemesh.io/adjusted)
  kubectl apply -f my-gateway.yaml             # your own objects, admitted by gatemesh
gatemesh logs every admission with its reason to:
  %s
No controllers run here (a Deployment creates no pods: create pods directly),
and nothing defaults a pod's serviceAccountName: set it, as the examples do.
Press Ctrl-C to stop.
`, kubeconfig, logPath)
	<-ctx.Done()
	fmt.Fprintln(out, "\nStopping.")
	return nil
}
