package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/admit"
	"github.com/gatemesh/gatemesh/pkg/mutate"
)

// Labels and annotations as users see them. They are spelled out rather
// than taken from gatemesh's constants: renaming one is a breaking change
// these tests should catch.
const (
	injectionLabel     = "gatemesh.io/injection"
	podOptOutLabel     = "gatemesh.io/inject"
	revisionLabel      = "istio.io/rev"
	istioInjection     = "istio-injection"
	statusAnnotation   = "gatemesh.io/status"
	istioInjectAnnot   = "sidecar.istio.io/inject"
	mtlsAnnotation     = "gatemesh.io/mtls"
	mtlsReasonAnnot    = "gatemesh.io/mtls-reason"
	mtlsHashAnnotation = "gatemesh.io/mtls-hash"
	kgatewayAutoMtls   = "kgateway.dev/disable-istio-auto-mtls"
)

var (
	upstreamGVK = schema.GroupVersionKind{Group: "gloo.solo.io", Version: "v1", Kind: "Upstream"}
	backendGVK  = schema.GroupVersionKind{Group: "gateway.kgateway.dev", Version: "v1alpha1", Kind: "Backend"}
)

// testCtx bounds one test's API calls.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// seq numbers the names tests create, so that a test run again against the
// same control plane (go test -count=N) starts from fresh objects.
var seq atomic.Int64

// unique returns name with a suffix no other call returns.
func unique(name string) string {
	return name + "-" + strconv.FormatInt(seq.Add(1), 10)
}

// namespace creates a fresh namespace named after name, with labels, and
// returns its name.
func namespace(t *testing.T, name string, labels map[string]string) string {
	t.Helper()
	name = unique(name)
	if err := EnsureNamespace(testCtx(t), suite.cp.Client, name, labels); err != nil {
		t.Fatal(err)
	}
	waitCached(t, name, labels)
	return name
}

// waitCached waits until gatemesh's namespace cache holds namespace name
// with labels. A backend's target namespace is read from the cache alone
// once it has synced (the reconciler corrects a decision made before the
// cache caught up), so a test that creates a namespace and at once an
// Upstream pointing at it waits here, as a user typing the commands would.
func waitCached(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	if suite.webhook == nil {
		return
	}
	c := suite.webhook.Server.Manager.GetCache()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := admit.NamespaceMetadata()
		err := c.Get(testCtx(t), client.ObjectKey{Name: name}, m)
		if err == nil && labelsInclude(m.Labels, labels) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s did not reach gatemesh's cache with labels %v", name, labels)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func labelsInclude(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// optedIn is the label that opts a namespace in to injection.
func optedIn() map[string]string { return map[string]string{injectionLabel: "enabled"} }

// gatewayDeployment is the seed's Gloo gateway-proxy Deployment, as in
// examples/ (not defaulted by an API server).
func gatewayDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	objs, err := ReadManifests(filepath.Join(suite.cp.Root, ExamplesDir, "gateway-proxy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if u.GetKind() == "Deployment" {
			d := &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
				t.Fatalf("failed to convert %s: %v", Describe(u), err)
			}
			return d
		}
	}
	t.Fatal("examples/gateway-proxy.yaml has no Deployment")
	return nil
}

// gatewayPod is the pod the seed's gateway-proxy Deployment creates, in ns.
func gatewayPod(t *testing.T, ns string) *corev1.Pod {
	t.Helper()
	pod := PodFromTemplate(gatewayDeployment(t))
	pod.Namespace = ns
	return pod
}

// createPod creates pod and returns it as stored, read back.
func createPod(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	ctx := testCtx(t)
	sent := pod.DeepCopy()
	if err := suite.cp.Client.Create(ctx, sent); err != nil {
		t.Fatalf("failed to create pod in %s: %v", pod.Namespace, err)
	}
	return getPod(t, sent.Namespace, sent.Name)
}

func getPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	stored := &corev1.Pod{}
	if err := suite.cp.Client.Get(testCtx(t), client.ObjectKey{Namespace: ns, Name: name}, stored); err != nil {
		t.Fatalf("failed to read back pod %s/%s: %v", ns, name, err)
	}
	return stored
}

// getObject reads back the object of kind gvk at ns/name as unstructured.
func getObject(t *testing.T, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := suite.cp.Client.Get(testCtx(t), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatalf("failed to read back %s %s/%s: %v", gvk.Kind, ns, name, err)
	}
	return u
}

func containerNames(pod *corev1.Pod) []string {
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	return names
}

func volumeNames(pod *corev1.Pod) []string {
	var names []string
	for _, v := range pod.Spec.Volumes {
		names = append(names, v.Name)
	}
	return names
}

func container(pod *corev1.Pod, name string) (corev1.Container, bool) {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return corev1.Container{}, false
}

// envValues returns a container's literal env values by name.
func envValues(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// checkInjected reports how the stored pod differs from what gatemesh must
// have made of sent, a gateway-proxy pod of the gloo flavour, in a
// namespace whose istiod is at discovery.
func checkInjected(t *testing.T, sent, stored *corev1.Pod, discovery string) {
	t.Helper()
	cfg := suite.cp.Policy.Config()
	if diff := cmp.Diff([]string{"gateway-proxy", "istio-proxy", "sds"}, containerNames(stored)); diff != "" {
		t.Errorf("stored containers (-want,+got):\n%s", diff)
	}
	if got := stored.Annotations[istioInjectAnnot]; got != "false" {
		t.Errorf("stored annotation %s = %q, want \"false\" (keeps Istio's injector from adding a second istio-proxy)", istioInjectAnnot, got)
	}
	status, ok := mutate.ParseStatus(stored.Annotations)
	if !ok {
		t.Fatalf("stored pod has no valid %s annotation; annotations: %v", statusAnnotation, stored.Annotations)
	}
	if diff := cmp.Diff([]string{"istio-proxy", "sds"}, status.Containers); diff != "" {
		t.Errorf("%s containers (-want,+got):\n%s", statusAnnotation, diff)
	}
	wantVolumes := append(volumeNames(sent), status.Volumes...)
	if diff := cmp.Diff(wantVolumes, volumeNames(stored)); diff != "" {
		t.Errorf("stored volumes: the pod's own, then those %s lists (-want,+got):\n%s", statusAnnotation, diff)
	}
	for k, v := range sent.Annotations {
		if stored.Annotations[k] != v {
			t.Errorf("stored annotation %s = %q, want the pod's own %q", k, stored.Annotations[k], v)
		}
	}
	if diff := cmp.Diff(sent.Labels, stored.Labels); diff != "" {
		t.Errorf("stored labels (-want,+got):\n%s", diff)
	}

	proxy, _ := container(stored, "istio-proxy")
	if proxy.Image != cfg.IstioProxy.Image {
		t.Errorf("istio-proxy image = %q, want policy's %q", proxy.Image, cfg.IstioProxy.Image)
	}
	env := envValues(proxy)
	want := map[string]string{
		"CA_ADDR":               discovery,
		"ISTIO_META_CLUSTER_ID": cfg.Mesh.ClusterID,
		"ISTIO_META_MESH_ID":    cfg.Mesh.MeshID,
		"DISABLE_ENVOY":         "true",
		"OUTPUT_CERTS":          "/etc/istio-certs",
	}
	got := map[string]string{}
	for k := range want {
		got[k] = env[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("istio-proxy env (-want,+got):\n%s", diff)
	}
	var proxyConfig struct {
		DiscoveryAddress string `json:"discoveryAddress"`
	}
	if err := json.Unmarshal([]byte(env["PROXY_CONFIG"]), &proxyConfig); err != nil {
		t.Errorf("istio-proxy PROXY_CONFIG %q is not JSON: %v", env["PROXY_CONFIG"], err)
	} else if proxyConfig.DiscoveryAddress != discovery {
		t.Errorf("istio-proxy PROXY_CONFIG discoveryAddress = %q, want %q", proxyConfig.DiscoveryAddress, discovery)
	}

	sds, _ := container(stored, "sds")
	if sds.Image != cfg.SDS.GlooImage {
		t.Errorf("sds image = %q, want policy's Gloo image %q", sds.Image, cfg.SDS.GlooImage)
	}
	if !slices.ContainsFunc(sds.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == cfg.SDS.EnvoyConfigVolume && m.MountPath == "/etc/envoy"
	}) {
		t.Errorf("sds does not mount the pod's %s volume at /etc/envoy; mounts: %+v", cfg.SDS.EnvoyConfigVolume, sds.VolumeMounts)
	}
}

// checkUntouched reports how the stored pod differs from sent where gatemesh
// would have changed it: containers, volumes, labels and annotations.
func checkUntouched(t *testing.T, sent, stored *corev1.Pod) {
	t.Helper()
	if diff := cmp.Diff(containerNames(sent), containerNames(stored)); diff != "" {
		t.Errorf("stored containers (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(volumeNames(sent), volumeNames(stored)); diff != "" {
		t.Errorf("stored volumes (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(sent.Annotations, stored.Annotations); diff != "" {
		t.Errorf("stored annotations (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(sent.Labels, stored.Labels); diff != "" {
		t.Errorf("stored labels (-want,+got):\n%s", diff)
	}
}

// nested returns the value at path in u, failing the test when it is
// missing.
func nested(t *testing.T, u *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(u.Object, path...)
	if err != nil || !ok {
		t.Fatalf("%s has no %v (err %v)", Describe(u), path, err)
	}
	return v
}

// specWithout returns a copy of u's spec without the keys drop.
func specWithout(u *unstructured.Unstructured, drop ...string) map[string]any {
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	for _, k := range drop {
		delete(spec, k)
	}
	return spec
}
