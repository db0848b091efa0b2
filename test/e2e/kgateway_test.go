package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// The kgateway release gatemesh is tested against, read from the Go module
// cache at test time (hack/tools/kgateway-sds pins it, so it is on the
// module proxy): its Backend CRD, and its deployer's rendered goldens.
const (
	kgatewayModule   = "github.com/kgateway-dev/kgateway/v2@v2.2.0"
	kgatewayCRD      = "install/helm/kgateway-crds/templates/gateway.kgateway.dev_backends.yaml"
	kgatewayRendered = "test/deployer/testdata"
)

// kgatewayDir is the kgateway module's directory, downloaded if need be.
func kgatewayDir(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", kgatewayModule)
	cmd.Dir = suite.cp.Root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("failed to download %s: %v", kgatewayModule, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("failed to read the directory of %s from %q: %v", kgatewayModule, out, err)
	}
	return mod.Dir
}

// TestBackendCRDIsKgateways fails when test/crds drifts from the release's
// Backend CRD: run hack/refresh-crds.sh.
func TestBackendCRDIsKgateways(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(kgatewayDir(t), kgatewayCRD))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(suite.cp.Root, CRDDir, "gateway.kgateway.dev_backends.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The copy opens with two comment lines saying where it comes from.
	lines := bytes.SplitN(got, []byte("\n"), 3)
	if len(lines) != 3 || !bytes.HasPrefix(lines[0], []byte("#")) || !bytes.HasPrefix(lines[1], []byte("#")) {
		t.Fatalf("%s does not open with hack/refresh-crds.sh's two comment lines", CRDDir)
	}
	if !bytes.Equal(want, lines[2]) {
		t.Errorf("%s/gateway.kgateway.dev_backends.yaml is not %s's %s: run hack/refresh-crds.sh", CRDDir, kgatewayModule, kgatewayCRD)
	}
}

// renderedPod is the pod of the Deployment in one of kgateway's deployer
// goldens.
func renderedPod(t *testing.T, file string) *corev1.Pod {
	t.Helper()
	objs, err := ReadManifests(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if u.GetKind() != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
			t.Fatalf("failed to convert %s: %v", Describe(u), err)
		}
		return PodFromTemplate(d)
	}
	t.Fatalf("%s has no Deployment", file)
	return nil
}

// TestKgatewayRenderedPods runs the proxy pods kgateway v2.2.0's deployer
// renders through gatemesh, offline (decode, DecidePod, PodPatch) and on
// the API server, in an opted-in namespace: the Envoy gateway without
// Istio is injected with the kgateway sds image; the one the deployer
// already gave istio-proxy and sds is left alone; agentgateway pods are no
// gateway proxies of gatemesh's and are not even sent to it.
func TestKgatewayRenderedPods(t *testing.T) {
	dir := filepath.Join(kgatewayDir(t), kgatewayRendered)
	agw, err := filepath.Glob(filepath.Join(dir, "agentgateway*-out.yaml"))
	if err != nil || len(agw) == 0 {
		t.Fatalf("no agentgateway goldens in %s: %v", dir, err)
	}
	want := map[string]policy.Reason{
		"base-gateway-out.yaml":  policy.ReasonInjected,
		"istio-enabled-out.yaml": policy.ReasonIstioProxyExists,
		"envoy-controller-ignores-agentgateway-class-name-out.yaml": policy.ReasonInjected,
	}
	for _, f := range agw {
		want[filepath.Base(f)] = policy.ReasonNotGatewayProxy
	}
	// Goldens whose pods the API server refuses whatever gatemesh does: the
	// deployer's tests of an escaped image value and of a patch that drops
	// mounted volumes. They are checked offline only.
	invalid := map[string]bool{
		"agentgateway-yaml-injection-out.yaml":        true,
		"agentgateway-strategic-merge-patch-out.yaml": true,
	}
	pol := suite.cp.Policy
	ns := namespace(t, "kgateway-rendered", optedIn())
	nsFacts := policy.Namespace{Name: ns, Labels: optedIn()}
	for file, reason := range want {
		t.Run(strings.TrimSuffix(file, "-out.yaml"), func(t *testing.T) {
			sent := renderedPod(t, filepath.Join(dir, file))
			sent.Namespace = ns

			raw, err := json.Marshal(sent)
			if err != nil {
				t.Fatal(err)
			}
			head, err := mutate.DecodePodHead(raw)
			if err != nil {
				t.Fatal(err)
			}
			plan := pol.DecidePod(head.Facts(), nsFacts)
			ops, got, err := mutate.PodPatch(raw, head, plan, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != reason {
				t.Fatalf("offline: reason = %q, want %q (%s)", got, reason, reason.Sentence())
			}
			if reason == policy.ReasonInjected && (plan.Flavour != policy.FlavourKgateway || plan.SDSImage != pol.Config().SDS.KgatewayImage) {
				t.Errorf("offline: flavour %q with sds image %q, want kgateway's with %q", plan.Flavour, plan.SDSImage, pol.Config().SDS.KgatewayImage)
			}
			if reason != policy.ReasonInjected && len(ops) != 0 {
				t.Errorf("offline: %d patch operations for a pod left alone", len(ops))
			}

			if invalid[file] {
				return
			}
			stored := createPod(t, sent)
			if reason != policy.ReasonInjected {
				checkUntouched(t, sent, stored)
				return
			}
			offline := applyOps(t, raw, ops)
			if diff := cmp.Diff(containerNames(offline), containerNames(stored)); diff != "" {
				t.Errorf("stored containers differ from the offline patch's (-offline,+stored):\n%s", diff)
			}
			if diff := cmp.Diff(append(containerNames(sent), "istio-proxy", "sds"), containerNames(stored)); diff != "" {
				t.Errorf("stored containers (-want,+got):\n%s", diff)
			}
			sds, _ := container(stored, "sds")
			if sds.Image != pol.Config().SDS.KgatewayImage {
				t.Errorf("stored sds image = %q, want the kgateway image %q", sds.Image, pol.Config().SDS.KgatewayImage)
			}
		})
	}
}

// applyOps applies a JSON patch to raw and decodes the pod.
func applyOps(t *testing.T, raw []byte, ops any) *corev1.Pod {
	t.Helper()
	p, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := patch.Apply(raw)
	if err != nil {
		t.Fatalf("failed to apply the patch: %v", err)
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(out, pod); err != nil {
		t.Fatal(err)
	}
	return pod
}
