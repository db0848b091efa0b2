package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/certs"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// checkCLI is the webhook binary, built for one test, and a kubeconfig for
// the suite's API server.
type checkCLI struct{ binary, kubeconfig string }

func buildCheckCLI(t *testing.T) checkCLI {
	t.Helper()
	dir := t.TempDir()
	cli := checkCLI{binary: filepath.Join(dir, "webhook"), kubeconfig: filepath.Join(dir, "kubeconfig")}
	build := exec.Command("go", "build", "-o", cli.binary, "./cmd/webhook")
	build.Dir = suite.cp.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("failed to build the webhook binary: %v\n%s", err, out)
	}
	cfg := suite.cp.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["e2e"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	kc.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*kc, cli.kubeconfig); err != nil {
		t.Fatal(err)
	}
	return cli
}

// run runs `webhook check` with the suite's policy and returns its
// exit code and stdout.
func (cli checkCLI) run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	args = append([]string{"check", "--kubeconfig", cli.kubeconfig, "--cluster-id", "mycluster", "--mesh-id", "mycluster"}, args...)
	cmd := exec.CommandContext(testCtx(t), cli.binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String() + stderr.String()
	case err != nil:
		t.Fatalf("failed to run %v: %v", args, err)
	}
	return 0, stdout.String() + stderr.String()
}

// TestCheckPods: check says what the webhook decided for a pod, and exits
// so that a script can tell injected (0), skipped (3) and stale (4).
func TestCheckPods(t *testing.T) {
	cli := buildCheckCLI(t)
	in := namespace(t, "check-in", map[string]string{injectionLabel: "enabled", revisionLabel: "1-28"})
	out := namespace(t, "check-out", nil)
	injected := createPod(t, gatewayPod(t, in))
	skipped := createPod(t, gatewayPod(t, out))

	cases := map[string]struct {
		args     []string
		wantCode int
		want     []string
	}{
		"an injected pod is current": {
			args: []string{"pod/" + injected.Name, "-n", in}, wantCode: 0,
			want: []string{"injected, current", "istiod: istiod-1-28.istio-system.svc:15012", `revision "1-28"`, "bootstrap:"},
		},
		"a gateway pod in an unlabelled namespace is skipped, and said why": {
			args: []string{"pod/" + skipped.Name, "-n", out}, wantCode: 3,
			want: []string{"not injected: namespace_not_enabled"},
		},
		"an injected pod is stale against a changed policy": {
			args: []string{"pod/" + injected.Name, "-n", in, "--proxy-image", "example.com/proxyv2:next"}, wantCode: 4,
			want: []string{"stale", "restart it"},
		},
		"the unlabelled namespace says how to opt in": {
			args: []string{"namespace/" + out}, wantCode: 3,
			want: []string{"opted in false", injectionLabel + "=enabled"},
		},
		"a missing pod is an error": {
			args: []string{"pod/nope", "-n", in}, wantCode: 1, want: []string{"not found"},
		},
		"a type check does not know is a usage error": {
			args: []string{"service/x"}, wantCode: 2, want: []string{"TYPE/NAME"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, got := cli.run(t, tc.args...)
			t.Logf("webhook check %s: exit %d\n%s", strings.Join(tc.args, " "), code, got)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d:\n%s", code, tc.wantCode, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestCheckUpstreams: check gives an Upstream's decision and reason, for
// each decision, and finds one stale against a changed policy.
func TestCheckUpstreams(t *testing.T) {
	cli := buildCheckCLI(t)
	gw := namespace(t, "check-gw", nil)
	mesh := namespace(t, "check-mesh", map[string]string{revisionLabel: "1-28"})
	plain := namespace(t, "check-plain", nil)

	optedOut := upstream("opted-out", gw, mesh)
	optedOut.SetAnnotations(map[string]string{mtlsAnnotation: "disabled"})
	userTLS := upstream("user-tls", gw, mesh)
	if err := unstructured.SetNestedMap(userTLS.Object, map[string]any{"sni": "example.com"}, "spec", "sslConfig"); err != nil {
		t.Fatal(err)
	}
	static := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "static-external", "namespace": gw},
		"spec": map[string]any{"type": "Static", "static": map[string]any{
			"hosts": []any{map[string]any{"host": "example.com", "port": int64(80)}}}},
	}}
	static.SetGroupVersionKind(backendGVK)
	for _, u := range []*unstructured.Unstructured{upstream("in-mesh", gw, mesh), upstream("not-in-mesh", gw, plain), optedOut, userTLS, static} {
		createUpstream(t, u)
	}

	cases := map[string]struct {
		args     []string
		wantCode int
		want     string
	}{
		"stamped with Istio mTLS":                {[]string{"upstream/in-mesh"}, 0, "mtls istio: target_in_mesh"},
		"stamped disabled: target outside":       {[]string{"upstream/not-in-mesh"}, 0, "mtls disabled: target_namespace_not_in_mesh"},
		"stamped disabled: opted out":            {[]string{"upstream/opted-out"}, 0, "mtls disabled: opted_out"},
		"left alone: the user's own TLS":         {[]string{"upstream/user-tls"}, 0, "user_tls"},
		"a kgateway Backend outside the cluster": {[]string{"backend/static-external"}, 0, "mtls disabled: target_external"},
		"stale once auto mTLS is turned off":     {[]string{"upstream/in-mesh", "--auto-mtls=false"}, 4, "would make it unstamped"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, got := cli.run(t, append(tc.args, "-n", gw)...)
			t.Logf("webhook check %s: exit %d\n%s", strings.Join(tc.args, " "), code, got)
			if code != tc.wantCode || !strings.Contains(got, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q?\n%s", code, tc.wantCode, tc.want, got)
			}
		})
	}
}

// TestCheckInstall: check install finds a webhook configuration whose
// caBundle verifies the serving certificate and a Service with ready
// endpoints (exit 0), and says what is wrong when not (exit 4). It uses a
// webhook configuration of its own, whose webhook matches no request, so
// the suite's keeps working.
func TestCheckInstall(t *testing.T) {
	cli := buildCheckCLI(t)
	ctx := testCtx(t)
	ns := namespace(t, "check-install", nil)
	host := ns // a distinct name for the webhook configuration too
	files, err := certs.NewServingFiles(certs.ServiceHosts("gatemesh-webhook", ns), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	none := admissionv1.SideEffectClassNone
	path := "/never"
	expr, err := policy.PodMatchExpression(policy.DefaultGatewayProxies())
	if err != nil {
		t.Fatal(err)
	}
	mwc := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: host},
		Webhooks: []admissionv1.MutatingWebhook{{
			Name: "pods.gatemesh.io", AdmissionReviewVersions: []string{"v1"}, SideEffects: &none,
			MatchConditions: []admissionv1.MatchCondition{{Name: "gateway-proxy", Expression: expr}},
			ClientConfig: admissionv1.WebhookClientConfig{
				Service:  &admissionv1.ServiceReference{Namespace: ns, Name: "gatemesh-webhook", Path: &path},
				CABundle: files.CA,
			},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"never": "matches"}},
		}},
	}
	if err := suite.cp.Client.Create(ctx, mwc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = suite.cp.Client.Delete(context.Background(), mwc) })
	args := []string{"install", "--gatemesh-namespace", ns, "--webhook-config-name", host}

	code, got := cli.run(t, args...)
	t.Logf("webhook check install: exit %d\n%s", code, got)
	for _, want := range []string{"ok   MutatingWebhookConfiguration", "serving certificate not checked", "FAIL Service gatemesh-webhook: no ready endpoints"} {
		if code != 4 || !strings.Contains(got, want) {
			t.Errorf("before the Secret and endpoints: exit %d (want 4), or no %q", code, want)
		}
	}

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gatemesh-webhook-certs"},
		Data: map[string][]byte{corev1.TLSCertKey: files.Cert}}
	ready := true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gatemesh-webhook-x",
			Labels: map[string]string{discoveryv1.LabelServiceName: "gatemesh-webhook"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}
	for _, obj := range []client.Object{secret, slice} {
		if err := suite.cp.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	code, got = cli.run(t, args...)
	t.Logf("webhook check install: exit %d\n%s", code, got)
	for _, want := range []string{"ok   Secret gatemesh-webhook-certs: the caBundle verifies", "ok   Service gatemesh-webhook: 1 ready endpoints",
		"ok   webhook pods.gatemesh.io: matchConditions select the policy's gateway proxies"} {
		if code != 0 || !strings.Contains(got, want) {
			t.Errorf("installed: exit %d (want 0), or no %q", code, want)
		}
	}

	// matchConditions that drifted from the policy's selectors are caught.
	code, got = cli.run(t, append(args, "--config", writeSelectors(t))...)
	if code != 4 || !strings.Contains(got, "FAIL webhook pods.gatemesh.io: no matchCondition selects exactly the policy's gateway proxies") {
		t.Errorf("a policy with other selectors: exit %d (want 4), or no drift failure:\n%s", code, got)
	}

	// A serving certificate from another CA is caught.
	other, err := certs.NewServingFiles(certs.ServiceHosts("gatemesh-webhook", ns), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secret.Data[corev1.TLSCertKey] = other.Cert
	if err := suite.cp.Client.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	code, got = cli.run(t, args...)
	if want := "FAIL Secret gatemesh-webhook-certs: the caBundle does not verify"; code != 4 || !strings.Contains(got, want) {
		t.Errorf("another CA: exit %d (want 4), or no %q:\n%s", code, want, got)
	}
}

// writeSelectors writes a policy file whose gateway proxy selectors are not
// the defaults.
func writeSelectors(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	body := "selection:\n  gatewayProxies:\n  - flavour: gloo\n    selector:\n      matchLabels: {app: my-gateway}\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
