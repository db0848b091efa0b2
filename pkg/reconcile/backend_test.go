package reconcile

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gomodules.xyz/jsonpatch/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	crreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// upstream is an Upstream in ns for a service in target, as Gloo's
// discovery writes it, with extra merged into its spec.
func upstream(ns, target string, extra map[string]any) *unstructured.Unstructured {
	spec := map[string]any{"kube": map[string]any{"serviceName": "httpbin", "serviceNamespace": target, "servicePort": int64(8000)}}
	for k, v := range extra {
		spec[k] = v
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "default-httpbin-8000", "namespace": ns, "resourceVersion": "7"},
		"spec":     spec,
	}}
	u.SetGroupVersionKind(mutate.UpstreamGVK)
	return u
}

// admitted is u as the backend webhook writes it when the target's
// namespaces are in the mesh (inMesh) or not: the oracle the reconciler is
// held to.
func admitted(t *testing.T, pol *policy.Policy, u *unstructured.Unstructured, inMesh bool) *unstructured.Unstructured {
	t.Helper()
	raw, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := mutate.ParseBackendObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	facts := obj.Facts(pol)
	facts.TargetInMesh = inMesh
	ops, _, err := obj.Patch(pol.DecideBackend(facts))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) == 0 {
		return u.DeepCopy()
	}
	p, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := jsonpatch5.DecodePatch(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decoded.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	v := &unstructured.Unstructured{}
	if err := v.UnmarshalJSON(out); err != nil {
		t.Fatal(err)
	}
	return v
}

func namespaceObject(name string, labels map[string]string) *metav1.PartialObjectMetadata {
	m := namespaceMetadata()
	m.Name, m.Labels = name, labels
	return m
}

func TestBackendsReconcile(t *testing.T) {
	pol, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mesh := map[string]string{"istio.io/rev": "1-28"}
	userTLS := map[string]any{"sslConfig": map[string]any{"sni": "httpbin.example"}}
	tests := map[string]struct {
		stored   *unstructured.Unstructured // as the API server holds it
		cached   *unstructured.Unstructured // as the cache saw it; default stored
		labels   map[string]string          // of the target namespace
		want     *unstructured.Unstructured // stored afterwards; default stored
		conflict bool
	}{
		"an Upstream stamped outside the mesh is stamped as the webhook would once its namespace joins": {
			stored: admitted(t, pol, upstream("gw", "httpbin", nil), false), labels: mesh,
			want: admitted(t, pol, admitted(t, pol, upstream("gw", "httpbin", nil), false), true),
		},
		"an Upstream stamped in the mesh is unstamped as the webhook would once its namespace leaves": {
			stored: admitted(t, pol, upstream("gw", "httpbin", nil), true),
			want:   admitted(t, pol, admitted(t, pol, upstream("gw", "httpbin", nil), true), false),
		},
		"an Upstream whose decision holds is not written": {
			stored: admitted(t, pol, upstream("gw", "httpbin", nil), true), labels: mesh,
		},
		"a user's own sslConfig is never written": {
			stored: admitted(t, pol, upstream("gw", "httpbin", userTLS), false), labels: mesh,
		},
		"an Upstream in a namespace the webhook does not cover is never written": {
			stored: admitted(t, pol, upstream("kube-system", "httpbin", nil), false), labels: mesh,
		},
		"an Upstream changed since the cache saw it is not overwritten: its update event re-decides it": {
			stored: withVersion(admitted(t, pol, upstream("gw", "httpbin", nil), false), "8"),
			cached: admitted(t, pol, upstream("gw", "httpbin", nil), false), labels: mesh,
			conflict: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cached := tc.cached
			if cached == nil {
				cached = tc.stored
			}
			want := tc.want
			if want == nil {
				want = tc.stored
			}
			ns := namespaceObject("httpbin", tc.labels)
			objects := fake.NewClientBuilder().WithObjects(cached.DeepCopy()).Build()
			writer := fake.NewClientBuilder().WithObjects(tc.stored.DeepCopy()).WithInterceptorFuncs(asAPIServer).Build()
			b := &backends{gvk: mutate.UpstreamGVK, pol: pol, skip: DefaultSkipNamespaces, objects: objects,
				namespaces: fake.NewClientBuilder().WithObjects(ns).Build(), writer: writer, owner: "gatemesh"}
			key := client.ObjectKeyFromObject(tc.stored)
			conflicts := testutil.ToFloat64(conflictsTotal.WithLabelValues("Upstream"))
			if _, err := b.Reconcile(t.Context(), crreconcile.Request{NamespacedName: key}); err != nil {
				t.Fatal(err)
			}
			if got := testutil.ToFloat64(conflictsTotal.WithLabelValues("Upstream")) > conflicts; got != tc.conflict {
				t.Errorf("counted a conflict: %v, want %v", got, tc.conflict)
			}
			got := b.object()
			if err := writer.Get(t.Context(), key, got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(spec(want), spec(got)); diff != "" {
				t.Errorf("stored spec (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(want.GetAnnotations(), got.GetAnnotations()); diff != "" {
				t.Errorf("stored annotations (-want,+got):\n%s", diff)
			}
		})
	}
}

// asAPIServer answers a JSON patch whose test fails as kube-apiserver does
// (apiserver's endpoints/handlers/patch.go, applyJSPatch): 422 Unprocessable
// Entity. The fake client returns a bare error.
var asAPIServer = interceptor.Funcs{
	Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
		err := c.Patch(ctx, obj, patch, opts...)
		if err != nil && strings.Contains(err.Error(), "test failed") {
			return apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return err
	},
}

func withVersion(u *unstructured.Unstructured, rv string) *unstructured.Unstructured {
	u.SetResourceVersion(rv)
	return u
}

func spec(u *unstructured.Unstructured) any { return u.Object["spec"] }

// The write is a JSON patch whose first op tests the resourceVersion read.
func TestWriteIsGuardedByResourceVersion(t *testing.T) {
	var sent []byte
	u := upstream("gw", "httpbin", nil)
	writer := fake.NewClientBuilder().WithObjects(u.DeepCopy()).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			var err error
			if sent, err = patch.Data(obj); err != nil {
				return err
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	}).Build()
	b := &backends{gvk: mutate.UpstreamGVK, writer: writer, owner: "gatemesh"}
	ops := []jsonpatch.Operation{jsonpatch.NewOperation("add", "/metadata/annotations", map[string]any{"gatemesh.io/mtls": "istio"})}
	if err := b.write(t.Context(), u, ops); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(sent, &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
		{"op": "add", "path": "/metadata/annotations", "value": map[string]any{"gatemesh.io/mtls": "istio"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("patch sent (-want,+got):\n%s", diff)
	}
}
