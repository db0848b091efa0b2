package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Scenario 1: the seed walkthrough, exactly as `make demo` plays it from
// the Gloo chart's bootstrap ConfigMap and examples/: the Gloo
// gateway-proxy's pod is injected, its bootstrap gets the gateway_proxy_sds
// cluster, the httpbin Upstream gets the mTLS sslConfig, and the static
// kgateway Backend, which kgateway's real CRD accepts, is recorded as what
// kgateway does with it: plaintext; and the pod of kgateway's Istio-enabled
// gateway, whose istio-proxy and sds its deployer added, is adjusted to the
// namespace's revision.
func TestSeedWalkthrough(t *testing.T) {
	ctx := testCtx(t)
	seed, err := LoadSeed(suite.cp.Root, suite.cp.Policy)
	if err != nil {
		t.Fatal(err)
	}
	res, err := seed.Run(ctx, suite.cp.Client, func(cmd string) { t.Log(cmd) })
	if err != nil {
		t.Fatal(err)
	}
	example := func(kind, ns, name string) *unstructured.Unstructured {
		t.Helper()
		for _, o := range seed.Objects {
			if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
				return o
			}
		}
		t.Fatalf("examples/ has no %s %s/%s", kind, ns, name)
		return nil
	}
	pods := map[string]*corev1.Pod{}
	for _, p := range res.Pods {
		pods[p.Namespace+"/"+p.GenerateName] = p
	}

	t.Run("the gateway-proxy pod is stored with istio-proxy and sds, talking to istiod", func(t *testing.T) {
		created, ok := pods["gloo-system/gateway-proxy-"]
		if !ok {
			t.Fatalf("no pod was created for the gateway-proxy Deployment; pods: %v", pods)
		}
		stored := getPod(t, created.Namespace, created.Name)
		d := &appsv1.Deployment{}
		if err := suite.cp.Client.Get(ctx, client.ObjectKey{Namespace: "gloo-system", Name: "gateway-proxy"}, d); err != nil {
			t.Fatal(err)
		}
		sent := PodFromTemplate(d)
		checkInjected(t, sent, stored, "istiod.istio-system.svc:15012")
		// The gateway's own container is exactly the template's, with the
		// API server's defaults.
		own, _ := container(stored, "gateway-proxy")
		if diff := cmp.Diff(d.Spec.Template.Spec.Containers[0], own); diff != "" {
			t.Errorf("gateway-proxy container changed (-template,+stored):\n%s", diff)
		}
	})

	t.Run("the chart's bootstrap ConfigMap is stored with the gateway_proxy_sds cluster Gloo's integration writes", func(t *testing.T) {
		stored := getConfigMap(t, "gloo-system", "gateway-proxy-envoy-config")
		want := sdsCluster(t, chartConfigMap(t, chartIstio, "gloo-system").Data["envoy.yaml"])
		if diff := cmp.Diff(want, sdsCluster(t, stored.Data["envoy.yaml"])); diff != "" {
			t.Errorf("stored cluster (-Gloo's integration,+stored):\n%s", diff)
		}
	})

	t.Run("the httpbin pod, not a gateway and not opted in, is stored untouched", func(t *testing.T) {
		created, ok := pods["default/httpbin-"]
		if !ok {
			t.Fatalf("no pod was created for the httpbin Deployment; pods: %v", pods)
		}
		stored := getPod(t, created.Namespace, created.Name)
		d := &appsv1.Deployment{}
		if err := suite.cp.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "httpbin"}, d); err != nil {
			t.Fatal(err)
		}
		checkUntouched(t, PodFromTemplate(d), stored)
	})

	t.Run("the kgateway gateway pod's istio-proxy, its deployer's, is stored adjusted to the revision's istiod", func(t *testing.T) {
		created, ok := pods["kgateway-system/gw-"]
		if !ok {
			t.Fatalf("no pod was created for the gw Deployment; pods: %v", pods)
		}
		stored := getPod(t, created.Namespace, created.Name)
		d := &appsv1.Deployment{}
		if err := suite.cp.Client.Get(ctx, client.ObjectKey{Namespace: "kgateway-system", Name: "gw"}, d); err != nil {
			t.Fatal(err)
		}
		sent := PodFromTemplate(d)
		proxy, _ := container(sent, "istio-proxy")
		rev := "istiod-" + SeedRevision + ".istio-system.svc:15012"
		checkAdjusted(t, sent, stored, map[string]string{
			"CA_ADDR":               rev,
			"PROXY_CONFIG":          strings.Replace(envValues(proxy)["PROXY_CONFIG"], "istiod.istio-system.svc:15012", rev, 1),
			"ISTIO_META_CLUSTER_ID": "mycluster", "ISTIO_META_MESH_ID": "mycluster",
		})
		// The Deployment keeps the example's values, kgateway's deployer's.
		want, _ := container(PodFromTemplate(renderedDeployment(t, filepath.Join(suite.cp.Root, ExamplesDir, kgatewayExample))), "istio-proxy")
		if diff := cmp.Diff(envValues(want), envValues(proxy)); diff != "" {
			t.Errorf("the Deployment's istio-proxy env changed (-example,+stored):\n%s", diff)
		}
	})

	t.Run("the default-httpbin-8000 Upstream is stored with the mTLS sslConfig", func(t *testing.T) {
		stored := getObject(t, upstreamGVK, "gloo-system", "default-httpbin-8000")
		if diff := cmp.Diff(suite.cp.Policy.UpstreamSSLConfig(), nested(t, stored, "spec", "sslConfig")); diff != "" {
			t.Errorf("stored spec.sslConfig (-want,+got):\n%s", diff)
		}
		ann := stored.GetAnnotations()
		if ann[mtlsAnnotation] != "istio" || ann[mtlsReasonAnnot] != string(policy.ReasonTargetInMesh) {
			t.Errorf("stored %s=%q %s=%q, want istio and %s", mtlsAnnotation, ann[mtlsAnnotation],
				mtlsReasonAnnot, ann[mtlsReasonAnnot], policy.ReasonTargetInMesh)
		}
		if !strings.HasPrefix(ann[mtlsHashAnnotation], "istio/sha256:") {
			t.Errorf("stored %s = %q, want gatemesh's marker istio/sha256:<hash>", mtlsHashAnnotation, ann[mtlsHashAnnotation])
		}
		want := specWithout(example("Upstream", "gloo-system", "default-httpbin-8000"))
		if diff := cmp.Diff(want, specWithout(stored, "sslConfig")); diff != "" {
			t.Errorf("stored spec besides sslConfig (-example,+stored):\n%s", diff)
		}
	})

	t.Run("the static httpbin Backend is stored disabled, as kgateway sends it plaintext", func(t *testing.T) {
		stored := getObject(t, backendGVK, "kgateway-system", "httpbin")
		ann := stored.GetAnnotations()
		got := map[string]string{mtlsAnnotation: ann[mtlsAnnotation], mtlsReasonAnnot: ann[mtlsReasonAnnot], kgatewayAutoMtls: ann[kgatewayAutoMtls]}
		want := map[string]string{mtlsAnnotation: "disabled", mtlsReasonAnnot: string(policy.ReasonStaticBackendPlaintext), kgatewayAutoMtls: "true"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("stored annotations (-want,+got):\n%s", diff)
		}
		if diff := cmp.Diff(specWithout(example("Backend", "kgateway-system", "httpbin")), specWithout(stored)); diff != "" {
			t.Errorf("stored spec (-example,+stored):\n%s", diff)
		}
	})
}
