package install

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gatemesh/gatemesh/pkg/admit"
)

// TestBinaryWithTheSelfOverlaysArgs builds cmd/webhook and runs it as the
// self overlay's Deployment does: with the container's args (the addresses
// moved to 127.0.0.1 and free ports, since there is no pod network), the
// shipped policy file, and the overlay's RBAC. It must become ready, inject
// a gateway pod created through the API server, and exit cleanly on
// SIGTERM.
func TestBinaryWithTheSelfOverlaysArgs(t *testing.T) {
	setupSelf(t)
	run := startBinary(t, renderOverlay(t, "self"), systemNamespace, certManagerFiles{})
	checkOneCA(t)
	run.checkInjects(t)
	run.terminate(t)
}

var (
	buildOnce   sync.Once
	builtBinary string
	buildErr    error
)

// webhookBinary builds cmd/webhook once per test run.
func webhookBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gatemesh-install-")
		if err != nil {
			buildErr = err
			return
		}
		builtBinary = filepath.Join(dir, "webhook")
		out, err := exec.Command("go", "build", "-o", builtBinary, "github.com/gatemesh/gatemesh/cmd/webhook").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBinary
}

// binaryRun is cmd/webhook running as an install's Deployment runs it.
type binaryRun struct {
	out    *lockedBuffer
	cmd    *exec.Cmd
	exited chan error
	// metricsAddr is where it serves /metrics, over HTTPS to authorized
	// tokens, as the Deployment's --metrics-bind-address=:8443 does.
	metricsAddr string
}

// certManagerFiles stand in, in cert-manager mode, for what cert-manager
// does: the serving certificate's files in certDir (where the kubelet
// would mount its Secret) and the CA in the webhooks' caBundle
// (cainjector). Empty in self mode.
type certManagerFiles struct {
	certDir  string
	caBundle []byte
}

// startBinary runs cmd/webhook with the args, environment and policy file
// of the Deployment in objs, installed in namespace ns, as ns's gatemesh
// ServiceAccount (so under the RBAC in objs, applied by the caller), and
// creates objs' MutatingWebhookConfiguration with its webhooks pointed at
// it. It returns once the binary is ready.
func startBinary(t *testing.T, objs []*unstructured.Unstructured, ns string, cm certManagerFiles) *binaryRun {
	t.Helper()
	bin := webhookBinary(t)
	dep := deployment(t, objs)
	dir := t.TempDir()
	var cmName string
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	policyFile, _, _ := unstructured.NestedString(find(t, objs, "ConfigMap", cmName).Object, "data", "config.yaml")
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(policyFile), 0o600); err != nil {
		t.Fatal(err)
	}

	port, probePort, metricsPort := freePort(t), freePort(t), freePort(t)
	replace := []string{"$(POD_NAMESPACE)", ns, "/etc/gatemesh/config.yaml", configPath}
	if cm.certDir != "" {
		replace = append(replace, "--cert-dir=/var/run/gatemesh/certs", "--cert-dir="+cm.certDir)
	}
	args := strings.NewReplacer(replace...).Replace(strings.Join(dep.Spec.Template.Spec.Containers[0].Args, "\n"))
	argv := append(strings.Split(args, "\n"),
		"--kubeconfig="+writeKubeconfig(t, dir, serviceAccountUser(ns)),
		"--webhook-host=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort), fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		"--cert-extra-hosts=127.0.0.1")
	createWebhookConfigurationFrom(t, find(t, objs, "MutatingWebhookConfiguration", webhookConfigName),
		fmt.Sprintf("https://127.0.0.1:%d%s", port, admit.PodPath),
		fmt.Sprintf("https://127.0.0.1:%d%s", port, admit.BackendPath), cm.caBundle)

	r := &binaryRun{out: &lockedBuffer{}, cmd: exec.Command(bin, argv...), exited: make(chan error, 1),
		metricsAddr: fmt.Sprintf("127.0.0.1:%d", metricsPort)}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.Env = append(os.Environ(), "POD_NAMESPACE="+ns)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		err := <-r.exited
		r.exited <- err
	})
	t.Logf("webhook %s", strings.Join(argv, " "))

	err := waitFor(60*time.Second, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		t.Fatalf("the webhook did not become ready; its output:\n%s", r.out.String())
	}
	return r
}

// checkInjects creates a gateway pod through the API server in a new
// opted-in namespace and checks that the binary injected it.
func (r *binaryRun) checkInjects(t *testing.T) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "binary-" + rand.String(5), Labels: map[string]string{"gatemesh.io/injection": "enabled"},
	}}
	if err := admin.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	// The API server reads webhook configurations from an informer: wait
	// until it has seen the caBundle.
	if err := waitFor(20*time.Second, func() bool { return createGatewayPod(t.Context(), ns.Name) == nil }); err != nil {
		t.Fatalf("no gateway pod was admitted: %v; the webhook's output:\n%s", createGatewayPod(t.Context(), ns.Name), r.out.String())
	}
}

// terminate sends SIGTERM and checks that the binary exits cleanly.
func (r *binaryRun) terminate(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.exited:
		r.exited <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, r.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("still running 30s after SIGTERM")
	}
}

// createWebhookConfigurationFrom creates mwc with its webhooks pointed at
// URLs on this machine, since envtest has no Service networking, and with
// caBundle if not nil; everything else is as rendered. It is deleted when
// the test ends.
func createWebhookConfigurationFrom(t *testing.T, mwc *unstructured.Unstructured, podURL, backendURL string, caBundle []byte) {
	t.Helper()
	mwc = mwc.DeepCopy()
	hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
	for _, h := range hooks {
		hook := h.(map[string]any)
		url := backendURL
		if hook["name"] == "pods.gatemesh.io" {
			url = podURL
		}
		hook["clientConfig"] = map[string]any{"url": url}
		if caBundle != nil {
			hook["clientConfig"].(map[string]any)["caBundle"] = base64.StdEncoding.EncodeToString(caBundle)
		}
	}
	if err := unstructured.SetNestedSlice(mwc.Object, hooks, "webhooks"); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(t.Context(), mwc); err != nil {
		t.Fatalf("failed to create the MutatingWebhookConfiguration: %v", err)
	}
	t.Cleanup(func() {
		if err := admin.Delete(context.Background(), mwc); err != nil {
			t.Errorf("failed to delete the MutatingWebhookConfiguration: %v", err)
		}
	})
}

// writeKubeconfig writes a kubeconfig for the envtest API server that acts
// as user.
func writeKubeconfig(t *testing.T, dir, user string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: adminCfg.Host, CertificateAuthorityData: adminCfg.CAData}
	cfg.AuthInfos["gatemesh"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: adminCfg.CertData, ClientKeyData: adminCfg.KeyData, Token: adminCfg.BearerToken,
		Impersonate: user,
	}
	cfg.Contexts["gatemesh"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "gatemesh"}
	cfg.CurrentContext = "gatemesh"
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// lockedBuffer is a bytes.Buffer for a child's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
