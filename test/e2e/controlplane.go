// Package e2e proves gatemesh's admission behaviour against a real
// kube-apiserver and etcd: controller-runtime's envtest starts both, installs
// Gloo's real Upstream CRD, kgateway v2.2.0's Backend CRD (test/crds,
// hack/refresh-crds.sh) and the very MutatingWebhookConfiguration
// users apply (manifests/base), and gatemesh serves those webhooks in-process
// on envtest's local host, port and certificates.
//
// The package's test files are the end-to-end suite (`make test`); its
// exported helpers also run `make demo` (test/demo).
package e2e

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// AssetsEnv names the directory holding kube-apiserver and etcd. The
// Makefile sets it (make test, make demo) to bin/k8s/<version>/, where
// `make envtest-assets` builds them.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// Paths inside the repository, from its root.
const (
	// WebhookManifest is the MutatingWebhookConfiguration users apply.
	WebhookManifest = "manifests/base/mutatingwebhookconfiguration.yaml"
	// CRDDir holds kgateway v2.2.0's Backend CRD (hack/refresh-crds.sh).
	CRDDir = "test/crds"
	// GlooUpstreamCRD is Gloo's real Upstream CRD, as its 1.17.38 chart
	// ships it: from the shared reference beside the repository (CI lays
	// a copy of shared/ beside its clone), never copied into it.
	GlooUpstreamCRD = "../shared/reference/gloo-1.17.38/gloo.solo.io_v1_Upstream.yaml"
	// ExamplesDir holds the seed walkthrough's objects.
	ExamplesDir = "examples"
)

// ControlPlane is a running kube-apiserver and etcd with gatemesh's CRDs and
// webhook configuration installed. Start gatemesh on it with StartWebhook.
type ControlPlane struct {
	// Env is envtest's environment; its WebhookInstallOptions hold the
	// local host, port and certificate directory the webhooks call.
	Env *envtest.Environment
	// Config is an admin's client configuration, without client-side
	// throttling to speak of (QPS 1000, burst 2000).
	Config *rest.Config
	// Client is an admin client built from Config.
	Client client.Client
	// Policy is the policy gatemesh serves with.
	Policy *policy.Policy
	// Root is the repository's root directory.
	Root string
}

// Option configures Start.
type Option func(*options)

type options struct {
	policy  *policy.Policy
	logs    io.Writer
	verbose bool
}

// WithPolicy serves pol. Default: policy.New of an empty Config, that is,
// every documented default.
func WithPolicy(pol *policy.Policy) Option { return func(o *options) { o.policy = pol } }

// WithLogs writes gatemesh's and envtest's logs (controller-runtime's
// global logger) to w. Default: os.Stderr.
func WithLogs(w io.Writer) Option { return func(o *options) { o.logs = w } }

// WithVerboseLogs logs for people rather than machines, and logs every
// admission with its reason (zap's development mode). Default: JSON, at
// info level.
func WithVerboseLogs() Option { return func(o *options) { o.verbose = true } }

// Start starts kube-apiserver and etcd from $KUBEBUILDER_ASSETS and installs
// the test CRDs and gatemesh's MutatingWebhookConfiguration, rewritten by
// envtest to call https://<local host>:<port>/<path>. Until StartWebhook,
// the webhooks fail, and with them (failurePolicy Fail) the writes they
// cover. Stop it with Stop.
func Start(opts ...Option) (*ControlPlane, error) {
	o := options{logs: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	if o.policy == nil {
		pol, err := policy.New(policy.Config{})
		if err != nil {
			return nil, fmt.Errorf("internal error: default policy is invalid: %w", err)
		}
		o.policy = pol
	}
	// envtest and gatemesh log through controller-runtime's global logger.
	ctrl.SetLogger(zap.New(zap.WriteTo(o.logs), zap.UseDevMode(o.verbose)))
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              []string{filepath.Join(root, CRDDir), filepath.Join(root, GlooUpstreamCRD)},
			ErrorIfPathMissing: true,
		},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths:            []string{filepath.Join(root, WebhookManifest)},
			LocalServingHost: "127.0.0.1",
		},
		// envtest's default of 20s is short for a busy 2-core machine.
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		// A half-started control plane leaves processes behind.
		return nil, errors.Join(fmt.Errorf("failed to start kube-apiserver and etcd from %s: %w", assets, err), env.Stop())
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("failed to create client: %w", err), env.Stop())
	}
	return &ControlPlane{Env: env, Config: cfg, Client: c, Policy: o.policy, Root: root}, nil
}

// Stop stops kube-apiserver and etcd and removes their data and the
// webhook certificates. Stop gatemesh first.
func (cp *ControlPlane) Stop() error {
	if err := cp.Env.Stop(); err != nil {
		return fmt.Errorf("failed to stop kube-apiserver and etcd: %w", err)
	}
	return nil
}

// WebhookURL is where the API server calls gatemesh.
func (cp *ControlPlane) WebhookURL() string {
	w := cp.Env.WebhookInstallOptions
	return fmt.Sprintf("https://%s:%d", w.LocalServingHost, w.LocalServingPort)
}

// AssetsDir returns $KUBEBUILDER_ASSETS after checking that it holds
// kube-apiserver and etcd. The error says to run the tests through make.
func AssetsDir() (string, error) {
	dir := os.Getenv(AssetsEnv)
	if dir == "" {
		return "", fmt.Errorf("%s is not set: gatemesh's end-to-end tests and demo need kube-apiserver and etcd; "+
			"run `make test` (or `make demo`), which builds both once into bin/k8s/ and sets %s", AssetsEnv, AssetsEnv)
	}
	var missing []string
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%s=%s lacks %s: run `make envtest-assets` (or `make test`), which builds them",
			AssetsEnv, dir, strings.Join(missing, " and "))
	}
	return dir, nil
}

// modulePath is gatemesh's module, which marks the repository root.
const modulePath = "github.com/gatemesh/gatemesh"

// RepoRoot finds the repository root: the nearest directory, from the
// working directory up, whose go.mod declares gatemesh's module. go test
// runs in the package's directory and make in the root; both work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("failed to get working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && declaresModule(data) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory: run from the gatemesh repository", modulePath)
		}
		dir = parent
	}
}

func declaresModule(gomod []byte) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == modulePath {
			return true
		}
	}
	return false
}
