package attack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gatemesh/gatemesh/test/e2e"
)

// BinaryEnv names a prebuilt webhook binary to attack instead of building
// ./cmd/webhook, for measuring another commit with the same suite.
const BinaryEnv = "GATEMESH_ATTACK_BINARY"

// gatewayNamespace holds the gateway pods the tests send; it opts in to
// gatemesh, as the pod review's namespace must.
const gatewayNamespace = "gloo-system"

// The suite's control plane, the webhook binary and a kubeconfig for it.
var suite struct {
	cp         *e2e.ControlPlane
	binary     string
	kubeconfig string
	shipped    shipped
	podReview  []byte // an AdmissionReview of the realistic gateway pod
}

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "FAIL: attack suite: %v\n", err)
		return 1
	}
	// Without kube-apiserver and etcd nothing here proves anything: fail,
	// never skip.
	if _, err := e2e.AssetsDir(); err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp("", "gatemesh-attack-")
	if err != nil {
		return fail(fmt.Errorf("failed to create a temporary directory: %w", err))
	}
	defer os.RemoveAll(tmp)
	root, err := e2e.RepoRoot()
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	if suite.binary, err = webhookBinary(root, tmp); err != nil {
		return fail(err)
	}
	built := time.Since(start)
	cp, err := e2e.Start(e2e.WithLogs(io.Discard))
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "attack suite: %v\n", err)
		}
	}()
	suite.cp = cp
	if err := setUp(root, tmp); err != nil {
		return fail(err)
	}
	fmt.Fprintf(os.Stderr, "attack suite: webhook built in %s, control plane ready in %s\n",
		built.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// webhookBinary builds ./cmd/webhook into dir, unless $GATEMESH_ATTACK_BINARY
// names one.
func webhookBinary(root, dir string) (string, error) {
	if bin := os.Getenv(BinaryEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("failed to find %s=%s: %w", BinaryEnv, bin, err)
		}
		return bin, nil
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	bin := filepath.Join(dir, "webhook")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/webhook")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("failed to build ./cmd/webhook: %w\n%s", err, out)
	}
	return bin, nil
}

// setUp writes the webhook's kubeconfig, checks that Upstreams are served
// by Gloo's real CRD, opts the gateway namespace in, reads the shipped
// Deployment and prepares the pod review.
func setUp(root, dir string) error {
	user, err := suite.cp.Env.AddUser(envtest.User{Name: "gatemesh", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("failed to add the webhook's user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("failed to write the webhook's kubeconfig: %w", err)
	}
	suite.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(suite.kubeconfig, kubeconfig, 0o600); err != nil {
		return fmt.Errorf("failed to write the webhook's kubeconfig: %w", err)
	}
	if err := checkUpstreamSchema(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e2e.EnsureNamespace(ctx, suite.cp.Client, gatewayNamespace, map[string]string{"gatemesh.io/injection": "enabled"}); err != nil {
		return err
	}
	if suite.shipped, err = readShipped(filepath.Join(root, deploymentFile), suite.binary); err != nil {
		return err
	}
	suite.podReview, err = podReview(filepath.Join(root, podFile))
	return err
}

// checkUpstreamSchema checks that the API server serves Upstreams with
// Gloo's real CRD (e2e.GlooUpstreamCRD), which prunes fields its schema
// does not know, so that the large Upstream is made only of fields Gloo
// keeps: a dry-run Upstream in kube-system (which gatemesh's webhook skips)
// must lose an unknown field.
func checkUpstreamSchema() error {
	probe := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gloo.solo.io/v1", "kind": "Upstream",
		"metadata": map[string]any{"name": "schema-probe", "namespace": "kube-system"},
		"spec":     map[string]any{"notInGloosSchema": "pruned"},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		obj := probe.DeepCopy()
		err := suite.cp.Client.Create(context.Background(), obj, client.DryRunAll)
		if err == nil {
			if _, found, _ := unstructured.NestedString(obj.Object, "spec", "notInGloosSchema"); !found {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("the API server does not prune Upstreams as Gloo's CRD (%s) does", e2e.GlooUpstreamCRD), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
