package install

import (
	"bytes"
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
	objs := renderOverlay(t, "self")
	dep := deployment(t, objs)
	dir := t.TempDir()

	bin := filepath.Join(dir, "webhook")
	build := exec.Command("go", "build", "-o", bin, "github.com/gatemesh/gatemesh/cmd/webhook")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
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

	port, probePort := freePort(t), freePort(t)
	args := strings.NewReplacer("$(POD_NAMESPACE)", systemNamespace, "/etc/gatemesh/config.yaml", configPath).
		Replace(strings.Join(dep.Spec.Template.Spec.Containers[0].Args, "\n"))
	argv := append(strings.Split(args, "\n"),
		"--kubeconfig="+writeKubeconfig(t, dir),
		"--webhook-host=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort), "--metrics-bind-address=0",
		"--cert-extra-hosts=127.0.0.1")
	createWebhookConfiguration(t,
		fmt.Sprintf("https://127.0.0.1:%d%s", port, admit.PodPath),
		fmt.Sprintf("https://127.0.0.1:%d%s", port, admit.BackendPath))

	var out lockedBuffer
	cmd := exec.Command(bin, argv...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
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
		t.Fatalf("the webhook did not become ready; its output:\n%s", out.String())
	}
	checkOneCA(t)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "binary-" + rand.String(5), Labels: map[string]string{"gatemesh.io/injection": "enabled"},
	}}
	if err := admin.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(20*time.Second, func() bool { return createGatewayPod(t.Context(), ns.Name) == nil }); err != nil {
		t.Fatalf("no gateway pod was admitted: %v; the webhook's output:\n%s", createGatewayPod(t.Context(), ns.Name), out.String())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("still running 30s after SIGTERM")
	}
}

// writeKubeconfig writes a kubeconfig for the envtest API server that acts
// as gatemesh's ServiceAccount.
func writeKubeconfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: adminCfg.Host, CertificateAuthorityData: adminCfg.CAData}
	cfg.AuthInfos["gatemesh"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: adminCfg.CertData, ClientKeyData: adminCfg.KeyData, Token: adminCfg.BearerToken,
		Impersonate: asServiceAccount().Impersonate.UserName,
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
