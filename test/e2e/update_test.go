package e2e

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// upstream is the manifest of an Upstream in ns for the httpbin service of
// target, port 8000, as Gloo's discovery writes it.
func upstream(name, ns, target string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"kube": map[string]any{
				"selector":         map[string]any{"app": "httpbin"},
				"serviceName":      "httpbin",
				"serviceNamespace": target,
				"servicePort":      int64(8000),
			},
		},
	}}
	u.SetGroupVersionKind(upstreamGVK)
	return u
}

// checkStamp reports how the stored Upstream's mTLS state differs from the
// want: stamped with policy's sslConfig (sslConfig true) or without one,
// with gatemesh.io/mtls mtls and gatemesh.io/mtls-reason reason.
func checkStamp(t *testing.T, stored *unstructured.Unstructured, sslConfig bool, mtls string, reason policy.Reason) {
	t.Helper()
	got, has, _ := unstructured.NestedFieldNoCopy(stored.Object, "spec", "sslConfig")
	switch {
	case sslConfig && !has:
		t.Errorf("%s has no spec.sslConfig, want the mesh's", Describe(stored))
	case sslConfig:
		if diff := cmp.Diff(suite.cp.Policy.UpstreamSSLConfig(), got); diff != "" {
			t.Errorf("%s spec.sslConfig (-want,+got):\n%s", Describe(stored), diff)
		}
	case has:
		t.Errorf("%s still has spec.sslConfig %v, want it removed", Describe(stored), got)
	}
	ann := stored.GetAnnotations()
	if ann[mtlsAnnotation] != mtls || ann[mtlsReasonAnnot] != string(reason) {
		t.Errorf("%s has %s=%q %s=%q, want %q and %q", Describe(stored),
			mtlsAnnotation, ann[mtlsAnnotation], mtlsReasonAnnot, ann[mtlsReasonAnnot], mtls, reason)
	}
}

// Scenario 4: an UPDATE that opts an Upstream out removes the sslConfig
// gatemesh stamped, and re-applying an unchanged object changes nothing,
// not even its resourceVersion.
func TestUpstreamUpdate(t *testing.T) {
	gw := namespace(t, "s4-gateway", nil)
	mesh := namespace(t, "s4-httpbin", map[string]string{revisionLabel: "1-28"})

	t.Run("kubectl apply --server-side: opting out with gatemesh.io/mtls=disabled removes the sslConfig; re-applying is a no-op", func(t *testing.T) {
		ctx := testCtx(t)
		manifest := upstream("httpbin-ssa", gw, mesh)
		apply := func(step string) *unstructured.Unstructured {
			t.Helper()
			if _, err := Apply(ctx, suite.cp.Client, manifest); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			return getObject(t, upstreamGVK, gw, manifest.GetName())
		}

		stamped := apply("first apply")
		checkStamp(t, stamped, true, "istio", policy.ReasonTargetInMesh)
		again := apply("second apply, unchanged")
		if again.GetResourceVersion() != stamped.GetResourceVersion() {
			t.Errorf("re-applying the unchanged Upstream moved resourceVersion %s -> %s", stamped.GetResourceVersion(), again.GetResourceVersion())
		}
		if diff := cmp.Diff(stamped.Object, again.Object); diff != "" {
			t.Errorf("re-applying the unchanged Upstream changed it (-before,+after):\n%s", diff)
		}

		manifest.SetAnnotations(map[string]string{mtlsAnnotation: "disabled"})
		optedOut := apply("apply opting out")
		checkStamp(t, optedOut, false, "disabled", policy.ReasonOptedOut)
		if optedOut.GetResourceVersion() == stamped.GetResourceVersion() {
			t.Errorf("opting out did not write the Upstream: resourceVersion still %s", stamped.GetResourceVersion())
		}
		if diff := cmp.Diff(specWithout(manifest), specWithout(optedOut)); diff != "" {
			t.Errorf("opted-out spec (-manifest,+stored):\n%s", diff)
		}
		again = apply("apply opting out again, unchanged")
		if again.GetResourceVersion() != optedOut.GetResourceVersion() {
			t.Errorf("re-applying the unchanged opted-out Upstream moved resourceVersion %s -> %s", optedOut.GetResourceVersion(), again.GetResourceVersion())
		}
		if diff := cmp.Diff(optedOut.Object, again.Object); diff != "" {
			t.Errorf("re-applying the unchanged opted-out Upstream changed it (-before,+after):\n%s", diff)
		}
	})

	t.Run("kubectl replace: setting spec.disableIstioAutoMtls removes the sslConfig; an unchanged update is a no-op", func(t *testing.T) {
		ctx := testCtx(t)
		c := suite.cp.Client
		if err := c.Create(ctx, upstream("httpbin-update", gw, mesh)); err != nil {
			t.Fatal(err)
		}
		stamped := getObject(t, upstreamGVK, gw, "httpbin-update")
		checkStamp(t, stamped, true, "istio", policy.ReasonTargetInMesh)

		edited := stamped.DeepCopy()
		if err := unstructured.SetNestedField(edited.Object, true, "spec", "disableIstioAutoMtls"); err != nil {
			t.Fatal(err)
		}
		if err := c.Update(ctx, edited); err != nil {
			t.Fatalf("failed to update: %v", err)
		}
		optedOut := getObject(t, upstreamGVK, gw, "httpbin-update")
		checkStamp(t, optedOut, false, "disabled", policy.ReasonDisableIstioAutoMtls)

		unchanged := optedOut.DeepCopy()
		if err := c.Update(ctx, unchanged); err != nil {
			t.Fatalf("failed to update unchanged: %v", err)
		}
		again := getObject(t, upstreamGVK, gw, "httpbin-update")
		if again.GetResourceVersion() != optedOut.GetResourceVersion() {
			t.Errorf("an unchanged update moved resourceVersion %s -> %s", optedOut.GetResourceVersion(), again.GetResourceVersion())
		}
	})
}
