package e2e

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Scenario 5: a field gatemesh's Go types do not know survives injection.
//
// The issue asks for "a field unknown to gatemesh's k8s.io/api version that
// the 1.36 apiserver stores". There is none to be had for pods: gatemesh
// builds against k8s.io/api v0.37, which is newer than the v1.36 API server
// and only adds fields to core/v1 (diffed: none removed). What can break is
// gatemesh's decode path: it decodes only a skeleton of the pod (labels,
// annotations, container and volume names), and a patch made from a Go
// struct would drop or reset whatever that struct did not carry. So this
// test proves the property that matters on the pod side, that the patch
// drops no field the API server stores, with the newest pod fields the 1.36
// server stores by default, which gatemesh never reads, sent as raw JSON (an
// unstructured object, not a corev1.Pod) at every level gatemesh patches
// next to:
//   - spec.hostnameOverride (HostnameOverride, beta and on since 1.35);
//   - spec.resources, pod-level resources (PodLevelResources, beta 1.34);
//   - a container's restartPolicy with restartPolicyRules
//     (ContainerRestartRules, beta 1.35) and resizePolicy (in-place resize,
//     GA 1.35);
//   - an image volume (ImageVolume, GA 1.36).
//
// The other half, an object carrying fields no Go type in gatemesh has at
// all, is the Upstream below: its CRD preserves unknown fields, so the API
// server stores whatever is sent, and gatemesh handles it as unstructured
// JSON. Its fields include an integer beyond float64's precision, which a
// decode through float64 would silently change.
func TestFieldsGatemeshDoesNotKnowSurvive(t *testing.T) {
	t.Run("a gateway pod with 1.33-1.36 fields keeps them all when injected", func(t *testing.T) {
		ctx := testCtx(t)
		ns := namespace(t, "s5-new-fields", optedIn())
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(gatewayPod(t, ns))
		if err != nil {
			t.Fatal(err)
		}
		pod := &unstructured.Unstructured{Object: obj}
		pod.SetGenerateName("gateway-proxy-new-fields-")
		recent := map[string]any{
			"hostnameOverride": "edge-gateway",
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "2", "memory": "2Gi"},
				"limits":   map[string]any{"cpu": "4", "memory": "4Gi"},
			},
		}
		for k, v := range recent {
			if err := unstructured.SetNestedField(pod.Object, runtime.DeepCopyJSONValue(v), "spec", k); err != nil {
				t.Fatal(err)
			}
		}
		recentContainer := map[string]any{
			"restartPolicy": "Never",
			"restartPolicyRules": []any{map[string]any{
				"action":    "Restart",
				"exitCodes": map[string]any{"operator": "In", "values": []any{int64(42)}},
			}},
			"resizePolicy": []any{map[string]any{"resourceName": "cpu", "restartPolicy": "NotRequired"}},
		}
		containers := nested(t, pod, "spec", "containers").([]any)
		for k, v := range recentContainer {
			containers[0].(map[string]any)[k] = runtime.DeepCopyJSONValue(v)
		}
		imageVolume := map[string]any{
			"name":  "geoip",
			"image": map[string]any{"reference": "quay.io/example/geoip:2026.1", "pullPolicy": "IfNotPresent"},
		}
		volumes := nested(t, pod, "spec", "volumes").([]any)
		if err := unstructured.SetNestedSlice(pod.Object, append(volumes, runtime.DeepCopyJSONValue(imageVolume)), "spec", "volumes"); err != nil {
			t.Fatal(err)
		}

		if err := suite.cp.Client.Create(ctx, pod); err != nil {
			t.Fatalf("failed to create the pod: %v", err)
		}
		stored := getObject(t, pod.GroupVersionKind(), ns, pod.GetName())

		var names []string
		for _, c := range nested(t, stored, "spec", "containers").([]any) {
			names = append(names, c.(map[string]any)["name"].(string))
		}
		if diff := cmp.Diff([]string{"gateway-proxy", "istio-proxy", "sds"}, names); diff != "" {
			t.Fatalf("the pod was not injected; stored containers (-want,+got):\n%s", diff)
		}
		for k, v := range recent {
			if diff := cmp.Diff(v, nested(t, stored, "spec", k)); diff != "" {
				t.Errorf("stored spec.%s (-sent,+stored):\n%s", k, diff)
			}
		}
		gateway := nested(t, stored, "spec", "containers").([]any)[0].(map[string]any)
		for k, v := range recentContainer {
			if diff := cmp.Diff(v, gateway[k]); diff != "" {
				t.Errorf("stored spec.containers[gateway-proxy].%s (-sent,+stored):\n%s", k, diff)
			}
		}
		var storedVolume any
		for _, v := range nested(t, stored, "spec", "volumes").([]any) {
			if v.(map[string]any)["name"] == "geoip" {
				storedVolume = v
			}
		}
		if diff := cmp.Diff(imageVolume, storedVolume); diff != "" {
			t.Errorf("stored image volume (-sent,+stored):\n%s", diff)
		}
	})

	t.Run("an Upstream with fields no gatemesh type has keeps them all when stamped", func(t *testing.T) {
		ctx := testCtx(t)
		gw := namespace(t, "s5-gateway", nil)
		mesh := namespace(t, "s5-httpbin", map[string]string{istioInjection: "enabled"})
		sent := upstream("httpbin-everything", gw, mesh)
		sent.SetLabels(map[string]string{"app": "httpbin"})
		sent.SetAnnotations(map[string]string{"example.com/owner": "team-a", "example.com/empty": ""})
		// Every field is one Gloo's real CRD keeps (it prunes the others
		// before any webhook sees them); the odd values sit where its schema
		// keeps anything.
		extra := map[string]any{
			"circuitBreakers": map[string]any{"maxConnections": int64(4294967295), "maxRequests": int64(1024)},
			"connectionConfig": map[string]any{
				"connectTimeout":                "5s",
				"perConnectionBufferLimitBytes": int64(4294967295),
			},
			"healthChecks": []any{
				map[string]any{
					"healthyThreshold": int64(1), "unhealthyThreshold": int64(3),
					"httpHealthCheck": map[string]any{"path": "/status/200"},
					"interval":        "10s", "timeout": "1.5s",
				},
				map[string]any{
					"healthyThreshold": int64(1), "unhealthyThreshold": int64(3), "interval": "10s", "timeout": "1s",
					"customHealthCheck": map[string]any{"name": "x", "config": map[string]any{
						"weird/key~0": []any{"a", int64(1), 2.5e-7, true, nil, map[string]any{}, []any{}},
						"unicode":     "héllo ☃ 日本",
						"empty":       "",
					}},
				},
			},
			"loadBalancerConfig": map[string]any{"healthyPanicThreshold": 50.25, "ringHash": map[string]any{
				// 2^53+1: a float64 would store 9007199254740992.
				"ringHashConfig": map[string]any{"maximumRingSize": int64(9007199254740993)},
			}},
			"useHttp2": true,
		}
		for k, v := range extra {
			if err := unstructured.SetNestedField(sent.Object, runtime.DeepCopyJSONValue(v), "spec", k); err != nil {
				t.Fatal(err)
			}
		}
		if err := suite.cp.Client.Create(ctx, sent.DeepCopy()); err != nil {
			t.Fatalf("failed to create the Upstream: %v", err)
		}
		stored := getObject(t, upstreamGVK, gw, sent.GetName())

		checkStamp(t, stored, true, "istio", policy.ReasonTargetInMesh)
		if diff := cmp.Diff(specWithout(sent), specWithout(stored, "sslConfig")); diff != "" {
			t.Errorf("stored spec besides sslConfig (-sent,+stored):\n%s", diff)
		}
		ann := stored.GetAnnotations()
		for k, v := range sent.GetAnnotations() {
			if got, ok := ann[k]; !ok || got != v {
				t.Errorf("stored annotation %s = %q (present %t), want %q", k, got, ok, v)
			}
		}
		if diff := cmp.Diff(sent.GetLabels(), stored.GetLabels()); diff != "" {
			t.Errorf("stored labels (-sent,+stored):\n%s", diff)
		}
	})
}
