package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// captureServe records the options serve would start with.
func captureServe(got **serveOptions) serveFunc {
	return func(_ context.Context, o *serveOptions) error {
		*got = o
		return nil
	}
}

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string, opts *serveOptions) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, captureServe(&opts))
	return code, out.String(), errOut.String(), opts
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeFlagsOverrideTheFile(t *testing.T) {
	cfg := writeFile(t, "policy.yaml", "mesh:\n  clusterID: from-file\n  meshID: from-file\nistioProxy:\n  logLevel: debug\n")
	code, _, stderr, o := runCmd(t, "", "serve", "--config", cfg, "--cluster-id", "from-flag", "--webhook-port", "10443")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	c := o.Policy.Config()
	got := []string{c.Mesh.ClusterID, c.Mesh.MeshID, c.IstioProxy.LogLevel}
	if diff := cmp.Diff([]string{"from-flag", "from-file", "debug"}, got); diff != "" {
		t.Errorf("clusterID, meshID, logLevel (-want,+got):\n%s", diff)
	}
	if o.Port != 10443 || o.ProbeAddr != ":8081" || o.EnableHTTP2 {
		t.Errorf("port %d, probe %q, http2 %v", o.Port, o.ProbeAddr, o.EnableHTTP2)
	}
}

func TestAutoMtlsFlagOverridesTheFile(t *testing.T) {
	cfg := writeFile(t, "policy.yaml", "backends:\n  autoMtls: true\n")
	code, _, stderr, o := runCmd(t, "", "serve", "--config", cfg, "--auto-mtls=false")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := o.Policy.Config().Backends.AutoMtls; got == nil || *got {
		t.Errorf("autoMtls = %v, want false", got)
	}
}

func TestAdjustKgatewaySidecarsFlagOverridesTheFile(t *testing.T) {
	cfg := writeFile(t, "policy.yaml", "selection:\n  adjustKgatewaySidecars: true\n")
	code, _, stderr, o := runCmd(t, "", "serve", "--config", cfg, "--adjust-kgateway-sidecars=false")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if o.Policy.AdjustKgatewaySidecars() {
		t.Errorf("adjustKgatewaySidecars = %v, want false", *o.Policy.Config().Selection.AdjustKgatewaySidecars)
	}
}

// TestFlagsWithoutACommandDoNotServe: serve runs only when asked, as the
// manifests ask (webhook serve ...).
func TestFlagsWithoutACommandDoNotServe(t *testing.T) {
	code, _, _, o := runCmd(t, "", "--mesh-id", "m1")
	if code == 0 || o != nil {
		t.Fatalf("exit %d, serve options %+v: flags without a command must not start a server", code, o)
	}
}

func TestInvalidPolicyStopsStartup(t *testing.T) {
	cases := map[string]struct {
		file    string
		args    []string
		wantMsg string
	}{
		"an invalid value names its field": {
			file: "istioProxy:\n  logLevel: loud\n", wantMsg: "istioProxy.logLevel",
		},
		"an unknown field is rejected": {
			file: "mesh:\n  clusterId: typo\n", wantMsg: `unknown field "mesh.clusterId"`,
		},
		"an invalid flag value names the field": {
			args: []string{"--discovery-address", "istiod"}, wantMsg: "mesh.discoveryAddress",
		},
		"a malformed image reference names the field": {
			args: []string{"--proxy-image", "docker.io/Istio/proxyv2:1.28.0"}, wantMsg: "istioProxy.image",
		},
		"a sidecar running as root is refused": {
			file: "sds:\n  securityContext:\n    runAsUser: 0\n", wantMsg: "sds.securityContext.runAsUser: Forbidden",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"serve"}, tc.args...)
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, "policy.yaml", tc.file))
			}
			code, _, stderr, o := runCmd(t, "", args...)
			if code != 1 || o != nil {
				t.Fatalf("exit %d (want 1), started = %v", code, o != nil)
			}
			if !strings.Contains(stderr, tc.wantMsg) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantMsg)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"an unknown command":      {"frobnicate"},
		"an unknown flag":         {"serve", "--nope"},
		"mutate without a file":   {"mutate"},
		"mutate with an argument": {"mutate", "-f", "x.yaml", "extra"},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, _, _ := runCmd(t, "", args...); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}

func TestServeHardeningFlags(t *testing.T) {
	code, _, stderr, o := runCmd(t, "", "serve", "--tls-min-version", "1.3", "--client-ca", "/etc/ca.pem", "--shutdown-delay", "2s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if o.TLSMin != "1.3" || o.ClientCA != "/etc/ca.pem" || o.ShutdownDelay.String() != "2s" {
		t.Errorf("tls %q, client CA %q, delay %s", o.TLSMin, o.ClientCA, o.ShutdownDelay)
	}
	if code, _, stderr, _ := runCmd(t, "", "serve", "--tls-min-version", "1.1"); code != 1 || !strings.Contains(stderr, "--tls-min-version") {
		t.Errorf("TLS 1.1: exit %d, %q", code, stderr)
	}
	if o.MetricsAddr != ":8443" || !o.MetricsSecure || o.ClientCertNames != nil {
		t.Errorf("metrics %q secure %v, client names %q; want :8443, secure, none", o.MetricsAddr, o.MetricsSecure, o.ClientCertNames)
	}

	code, _, stderr, o = runCmd(t, "", "serve", "--client-ca", "/etc/ca.pem", "--client-cert-names", "kube-apiserver, apiserver.example.com",
		"--metrics-secure=false", "--metrics-bind-address", ":8080")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if diff := cmp.Diff([]string{"kube-apiserver", "apiserver.example.com"}, o.ClientCertNames); diff != "" {
		t.Errorf("client certificate names (-want,+got):\n%s", diff)
	}
	if o.MetricsSecure || o.MetricsAddr != ":8080" {
		t.Errorf("metrics %q secure %v; want :8080, plain", o.MetricsAddr, o.MetricsSecure)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"names without a CA": {args: []string{"--client-cert-names", "kube-apiserver"}, want: "--client-cert-names needs --client-ca"},
		"an empty name":      {args: []string{"--client-ca", "/etc/ca.pem", "--client-cert-names", "a,,b"}, want: "must not hold an empty name"},
	} {
		if code, _, stderr, _ := runCmd(t, "", append([]string{"serve"}, tc.args...)...); code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, %q; want 1 and %q", name, code, stderr, tc.want)
		}
	}
}

func TestServeDefaultsForLimitsAndTheReconciler(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "gm")
	code, _, stderr, o := runCmd(t, "", "serve")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := []any{o.Limits.MaxInflightBytes, o.Limits.MaxInflightRequests, o.Reconcile, o.Leader.Enabled, o.Leader.Namespace,
		o.Reconciler.QPS, o.Reconciler.Burst, o.Reconciler.Workers}
	want := []any{int64(48 << 20), 32, true, true, "gm", float32(100), 200, 4}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inflight bytes, requests, reconcile, leader-elect, lease namespace, qps, burst, workers (-want,+got):\n%s", diff)
	}

	if diff := cmp.Diff([]string{"kube-system", "gatemesh-system"}, o.Reconciler.SkipNamespaces); diff != "" {
		t.Errorf("reconciler's skipped namespaces (-want,+got):\n%s", diff)
	}
	// Installed elsewhere, the reconciler skips that namespace, as the
	// webhooks' namespaceSelectors do.
	code, _, stderr, o = runCmd(t, "", "serve", "--namespace", "platform-gm")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if diff := cmp.Diff([]string{"kube-system", "platform-gm"}, o.Reconciler.SkipNamespaces); diff != "" {
		t.Errorf("--namespace platform-gm: reconciler's skipped namespaces (-want,+got):\n%s", diff)
	}

	code, _, stderr, o = runCmd(t, "", "serve", "--reconcile=false")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if o.Reconcile || o.Leader.Enabled {
		t.Errorf("--reconcile=false: reconcile %v, leader election %v; want both off (nothing to elect a leader for)", o.Reconcile, o.Leader.Enabled)
	}

	for _, bad := range [][]string{{"--max-inflight-bytes", "1024"}, {"--max-inflight-requests", "0"}, {"--reconcile-workers", "0"}} {
		if code, _, _, _ := runCmd(t, "", append([]string{"serve"}, bad...)...); code == 0 {
			t.Errorf("serve %v: exit 0, want a refusal", bad)
		}
	}
}
