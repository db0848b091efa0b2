package e2e

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	return PodFromTemplate(renderedDeployment(t, file))
}

// renderedDeployment is the Deployment in one of kgateway's deployer
// goldens.
func renderedDeployment(t *testing.T, file string) *appsv1.Deployment {
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
		return d
	}
	t.Fatalf("%s has no Deployment", file)
	return nil
}

// TestKgatewayRenderedPods runs the proxy pods kgateway v2.2.0's deployer
// renders through gatemesh, offline (decode, DecidePod, PodPatch) and on
// the API server, in an opted-in namespace: the Envoy gateway without
// Istio is injected with the kgateway sds image; the one the deployer
// already gave istio-proxy and sds is adjusted to the policy's cluster and
// mesh IDs (TestKgatewayIstioAdjusted has the rest); agentgateway pods are
// no gateway proxies of gatemesh's and are not even sent to it.
func TestKgatewayRenderedPods(t *testing.T) {
	dir := filepath.Join(kgatewayDir(t), kgatewayRendered)
	agw, err := filepath.Glob(filepath.Join(dir, "agentgateway*-out.yaml"))
	if err != nil || len(agw) == 0 {
		t.Fatalf("no agentgateway goldens in %s: %v", dir, err)
	}
	want := map[string]policy.Reason{
		"base-gateway-out.yaml":  policy.ReasonInjected,
		"istio-enabled-out.yaml": policy.ReasonAdjusted,
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
			if !reason.Changes() && len(ops) != 0 {
				t.Errorf("offline: %d patch operations for a pod left alone", len(ops))
			}

			if invalid[file] {
				return
			}
			stored := createPod(t, sent)
			offline := applyOps(t, raw, ops)
			if reason == policy.ReasonAdjusted {
				checkAdjusted(t, sent, stored, map[string]string{
					"ISTIO_META_CLUSTER_ID": "mycluster", "ISTIO_META_MESH_ID": "mycluster",
				})
				proxy, _ := container(offline, "istio-proxy")
				storedProxy, _ := container(stored, "istio-proxy")
				if diff := cmp.Diff(envValues(proxy), envValues(storedProxy)); diff != "" {
					t.Errorf("stored istio-proxy env differs from the offline patch's (-offline,+stored):\n%s", diff)
				}
				return
			}
			if reason != policy.ReasonInjected {
				checkUntouched(t, sent, stored)
				return
			}
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

// checkAdjusted reports how the stored pod differs from sent, a kgateway
// pod with its deployer's sidecars, with the istio-proxy env values in
// changed set by gatemesh and recorded in gatemesh.io/adjusted, and nothing
// else changed but that annotation.
func checkAdjusted(t *testing.T, sent, stored *corev1.Pod, changed map[string]string) {
	t.Helper()
	if diff := cmp.Diff(containerNames(sent), containerNames(stored)); diff != "" {
		t.Errorf("stored containers (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(volumeNames(sent), volumeNames(stored)); diff != "" {
		t.Errorf("stored volumes (-want,+got):\n%s", diff)
	}
	before, _ := container(sent, "istio-proxy")
	after, _ := container(stored, "istio-proxy")
	want := envValues(before)
	record := map[string]mutate.EnvChange{}
	for name, to := range changed {
		record[name] = mutate.EnvChange{From: want[name], To: to}
		want[name] = to
	}
	if diff := cmp.Diff(want, envValues(after)); diff != "" {
		t.Errorf("stored istio-proxy env (-want,+got):\n%s", diff)
	}
	if before.Image != after.Image {
		t.Errorf("istio-proxy image %q, want the deployer's %q", after.Image, before.Image)
	}
	rec, ok := mutate.ParseAdjusted(stored.Annotations)
	if !ok {
		t.Fatalf("stored pod has no %s: %v", mutate.AdjustedAnnotation, stored.Annotations)
	}
	if diff := cmp.Diff(mutate.Adjusted{Container: "istio-proxy", Env: record}, rec); diff != "" {
		t.Errorf("%s (-want,+got):\n%s", mutate.AdjustedAnnotation, diff)
	}
	annotations := maps.Clone(stored.Annotations)
	delete(annotations, mutate.AdjustedAnnotation)
	if diff := cmp.Diff(sent.Annotations, annotations, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("stored annotations besides the record (-want,+got):\n%s", diff)
	}
}

// kgatewayExample is the example of kgateway's Istio-enabled gateway in
// examples/, which the seed walkthrough and `make demo` play.
const kgatewayExample = "kgateway-gateway-istio.yaml"

// TestKgatewayExampleIsTheDeployers: the example's Deployment is kgateway
// v2.2.0's rendered Istio-enabled gateway in every field gatemesh reads:
// labels, annotations, containers, their env, and volumes.
func TestKgatewayExampleIsTheDeployers(t *testing.T) {
	golden := renderedPod(t, filepath.Join(kgatewayDir(t), kgatewayRendered, "istio-enabled-out.yaml"))
	example := renderedPod(t, filepath.Join(suite.cp.Root, ExamplesDir, kgatewayExample))
	if diff := cmp.Diff(golden.Labels, example.Labels); diff != "" {
		t.Errorf("pod labels (-kgateway's,+example):\n%s", diff)
	}
	if diff := cmp.Diff(golden.Annotations, example.Annotations); diff != "" {
		t.Errorf("pod annotations (-kgateway's,+example):\n%s", diff)
	}
	if diff := cmp.Diff(containerNames(golden), containerNames(example)); diff != "" {
		t.Errorf("containers (-kgateway's,+example):\n%s", diff)
	}
	for _, c := range golden.Spec.Containers {
		got, _ := container(example, c.Name)
		if diff := cmp.Diff(c.Env, got.Env); diff != "" {
			t.Errorf("%s env (-kgateway's,+example):\n%s", c.Name, diff)
		}
		if diff := cmp.Diff(c.Image, got.Image); diff != "" {
			t.Errorf("%s image (-kgateway's,+example):\n%s", c.Name, diff)
		}
	}
	if diff := cmp.Diff(golden.Spec.Volumes, example.Spec.Volumes); diff != "" {
		t.Errorf("volumes (-kgateway's,+example):\n%s", diff)
	}
}

// TestKgatewayIstioAdjusted: with kgateway's Istio integration on, its
// deployer renders istio-proxy and sds into the gateway's Deployment with
// the chart's istiod, cluster and mesh IDs. In a namespace on Istio
// revision 1-28, each new pod's istio-proxy gets the revision's istiod (in
// PROXY_CONFIG and CA_ADDR) and the policy's IDs at creation, recorded in
// the pod; the Deployment, which gatemesh's webhooks never see, stays as
// rendered. With selection.adjustKgatewaySidecars off, such a pod is left
// alone, as before.
func TestKgatewayIstioAdjusted(t *testing.T) {
	file := filepath.Join(kgatewayDir(t), kgatewayRendered, "istio-enabled-out.yaml")
	ns := namespace(t, "kgateway-istio", map[string]string{injectionLabel: "enabled", revisionLabel: "1-28"})
	rev := "istiod-1-28.istio-system.svc:15012"

	t.Run("the deployer's Deployment stays as rendered", func(t *testing.T) {
		rendered := PodFromTemplate(renderedDeployment(t, file))
		d := renderedDeployment(t, file)
		d.Namespace = ns
		if err := suite.cp.Client.Create(testCtx(t), d); err != nil {
			t.Fatal(err)
		}
		stored := &appsv1.Deployment{}
		if err := suite.cp.Client.Get(testCtx(t), client.ObjectKeyFromObject(d), stored); err != nil {
			t.Fatal(err)
		}
		want, _ := container(rendered, "istio-proxy")
		got, _ := container(PodFromTemplate(stored), "istio-proxy")
		if diff := cmp.Diff(envValues(want), envValues(got)); diff != "" {
			t.Errorf("the Deployment's istio-proxy env changed (-rendered,+stored):\n%s", diff)
		}
		if diff := cmp.Diff(rendered.Annotations, stored.Spec.Template.Annotations); diff != "" {
			t.Errorf("the Deployment's pod template annotations changed (-rendered,+stored):\n%s", diff)
		}
	})

	t.Run("its pod is adjusted at creation", func(t *testing.T) {
		sent := renderedPod(t, file)
		sent.Namespace = ns
		proxy, _ := container(sent, "istio-proxy")
		proxyConfig := envValues(proxy)["PROXY_CONFIG"]
		checkAdjusted(t, sent, createPod(t, sent), map[string]string{
			"CA_ADDR":               rev,
			"PROXY_CONFIG":          strings.Replace(proxyConfig, "istiod.istio-system.svc:15012", rev, 1),
			"ISTIO_META_CLUSTER_ID": "mycluster", "ISTIO_META_MESH_ID": "mycluster",
		})
	})

	t.Run("with the switch off it is left alone", func(t *testing.T) {
		off, err := policy.New(policy.Config{
			Mesh:      policy.MeshConfig{ClusterID: "mycluster", MeshID: "mycluster"},
			Selection: policy.SelectionConfig{AdjustKgatewaySidecars: ptr.To(false)},
		})
		if err != nil {
			t.Fatal(err)
		}
		restore := swapWebhook(t, off)
		defer restore()
		sent := renderedPod(t, file)
		sent.Namespace = ns
		raw, err := json.Marshal(sent)
		if err != nil {
			t.Fatal(err)
		}
		head, err := mutate.DecodePodHead(raw)
		if err != nil {
			t.Fatal(err)
		}
		plan := off.DecidePod(head.Facts(), policy.Namespace{Name: ns, Labels: map[string]string{injectionLabel: "enabled", revisionLabel: "1-28"}})
		if plan.Skip != policy.ReasonIstioProxyExists {
			t.Errorf("offline: plan %+v, want the skip %s", plan, policy.ReasonIstioProxyExists)
		}
		checkUntouched(t, sent, createPod(t, sent))
	})
}

// swapWebhook serves pol in place of the suite's gatemesh until the
// returned function (also run at cleanup) brings the suite's back.
func swapWebhook(t *testing.T, pol *policy.Policy) func() {
	t.Helper()
	if err := suite.webhook.Stop(); err != nil {
		t.Fatalf("failed to stop gatemesh: %v", err)
	}
	cp := *suite.cp
	cp.Policy = pol
	other, err := cp.StartWebhook(suite.ctx)
	if err != nil {
		wh, restartErr := suite.cp.StartWebhook(suite.ctx)
		if restartErr == nil {
			suite.webhook = wh
		}
		t.Fatalf("failed to start gatemesh with another policy: %v (restarting the suite's: %v)", err, restartErr)
	}
	done := false
	restore := func() {
		if done {
			return
		}
		done = true
		if err := other.Stop(); err != nil {
			t.Errorf("failed to stop gatemesh: %v", err)
		}
		wh, err := suite.cp.StartWebhook(suite.ctx)
		if err != nil {
			t.Fatalf("failed to restart gatemesh: %v", err)
		}
		suite.webhook = wh
	}
	t.Cleanup(restore)
	return restore
}
