package mesh

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gatemesh/gatemesh/test/e2e"
)

// revision is the second istiod's revision: namespaces labelled
// istio.io/rev=canary get istiod-canary.istio-system.svc:15012.
const revision = "canary"

// The suite's control plane, gatemesh, istiods and kubelet, shared by its
// tests, which run one gateway pod at a time.
var suite struct {
	ctx     context.Context
	cp      *e2e.ControlPlane
	cs      kubernetes.Interface
	bins    *binaries
	kubelet *kubelet
	dir     string
	istiod  map[string]*istiod // by revision: "default" and revision
}

func TestMain(m *testing.M) {
	// The test binary is also each container's init (see startContainer).
	if js := os.Getenv(containerEnv); js != "" {
		runContainerInit(js)
	}
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	flag.Parse() // setUp reads the -mesh.* flags
	start := time.Now()
	cleanup, err := setUp()
	defer cleanup()
	if err != nil {
		// A failure, not a skip: `go test ./...` must not pass without
		// having proved anything.
		fmt.Fprintf(os.Stderr, "FAIL: real-mesh suite: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "real-mesh suite: control plane, gatemesh and two istiods ready in %s (logs in %s)\n",
		time.Since(start).Round(time.Millisecond), suite.dir)
	code := m.Run()
	if code == 0 && !*flagKeep {
		_ = os.RemoveAll(suite.dir)
	}
	return code
}

// setUp starts everything the tests share. cleanup stops what started, even
// when setUp fails.
func setUp() (cleanup func(), err error) {
	var stops []func()
	cleanup = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if os.Geteuid() != 0 {
		return cleanup, errors.New("it runs containers as a runtime does (mount namespaces, chroot, setuid) and needs root")
	}
	if suite.bins, err = loadBinaries(); err != nil {
		return cleanup, err
	}
	if _, err := e2e.AssetsDir(); err != nil {
		return cleanup, err
	}
	if suite.dir, err = os.MkdirTemp("", "gatemesh-mesh-"); err != nil {
		return cleanup, fmt.Errorf("failed to create the suite's directory: %w", err)
	}
	logs, err := os.Create(filepath.Join(suite.dir, "gatemesh.log"))
	if err != nil {
		return cleanup, fmt.Errorf("failed to create gatemesh's log: %w", err)
	}
	stops = append(stops, func() { _ = logs.Close() })
	pol, err := testPolicy(suite.bins.glooImage, kgatewayFlavourImage(suite.bins))
	if err != nil {
		return cleanup, fmt.Errorf("internal error: test policy is invalid: %w", err)
	}
	cp, err := e2e.Start(e2e.WithPolicy(pol), e2e.WithLogs(logs))
	if err != nil {
		return cleanup, err
	}
	stops = append(stops, func() { _ = cp.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	stops = append(stops, cancel)
	wh, err := cp.StartWebhook(ctx)
	if err != nil {
		return cleanup, err
	}
	stops = append(stops, func() { _ = wh.Stop() })
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		return cleanup, fmt.Errorf("failed to create clientset: %w", err)
	}
	server, err := url.Parse(cp.Config.Host)
	if err != nil {
		return cleanup, fmt.Errorf("failed to parse the API server's address: %w", err)
	}
	suite.ctx, suite.cp, suite.cs = ctx, cp, cs
	suite.kubelet = &kubelet{cs: cs, server: server, hosts: map[string]string{}}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: istiodNamespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return cleanup, fmt.Errorf("failed to create namespace %s: %w", istiodNamespace, err)
	}
	// One istiod at a time: the first creates the CA Secret both use.
	suite.istiod = map[string]*istiod{}
	for _, r := range []struct{ rev, ip string }{{"default", "127.0.0.1"}, {revision, "127.0.0.2"}} {
		d, err := startIstiod(ctx, suite.bins.pilotDiscovery, suite.dir, cp.Config, r.rev, r.ip)
		if err != nil {
			return cleanup, failedStep("istiod", err)
		}
		stops = append(stops, d.proc.Stop)
		suite.istiod[r.rev] = d
		suite.kubelet.hosts[d.host] = d.ip
	}
	return cleanup, nil
}
