package install

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatemesh/gatemesh/certs"
)

var (
	// adminCfg and admin talk to the envtest API server as its admin.
	adminCfg *rest.Config
	admin    client.Client
	// repoRoot is the repository's root directory.
	repoRoot = filepath.Join("..", "..")
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "test/install: KUBEBUILDER_ASSETS is not set, so there is no kube-apiserver and etcd to test against.\n"+
			"Run `make test` (it builds both into bin/k8s/ once), or set KUBEBUILDER_ASSETS=$(make -s envtest-assets-path).")
		return 1
	}
	// The webhook managers log through controller-runtime's global logger;
	// go test -v shows it.
	if testing.Verbose() {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	// cert-manager's CRDs, and the Upstream and Backend CRDs the reconciler
	// watches (as test/e2e installs them: kgateway's from test/crds,
	// Gloo's real one from the shared reference beside the repository).
	env := &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join("testdata", "crds"), repoRootPath("test", "crds"),
			repoRootPath("..", "shared", "reference", "gloo-1.17.38", "gloo.solo.io_v1_Upstream.yaml"),
		},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "test/install: failed to start envtest (KUBEBUILDER_ASSETS=%s): %v\n", os.Getenv("KUBEBUILDER_ASSETS"), err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "test/install: failed to stop envtest: %v\n", err)
		}
	}()
	scheme, err := certs.NewScheme()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	adminCfg = cfg
	if admin, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintf(os.Stderr, "test/install: failed to create client: %v\n", err)
		return 1
	}
	return m.Run()
}
