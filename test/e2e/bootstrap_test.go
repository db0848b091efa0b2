package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// The Gloo 1.17.38 chart's output, beside the repository (see
// GlooUpstreamCRD): without and with Gloo's own Istio integration.
const (
	chartPlain = "../shared/reference/gloo-1.17.38/gateway-proxy.yaml"
	chartIstio = "../shared/reference/gloo-1.17.38/gateway-proxy-istio.yaml"

	bootstrapMark = "gatemesh.io/bootstrap-cluster"
)

// chartConfigMap is the bootstrap ConfigMap the chart file renders, in ns.
func chartConfigMap(t *testing.T, file, ns string) *corev1.ConfigMap {
	t.Helper()
	objs, err := ReadManifests(filepath.Join(suite.cp.Root, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if u.GetKind() == "ConfigMap" {
			cm := &corev1.ConfigMap{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cm); err != nil {
				t.Fatal(err)
			}
			cm.Namespace = ns
			return cm
		}
	}
	t.Fatalf("%s has no ConfigMap", file)
	return nil
}

// sdsCluster returns the gateway_proxy_sds entry of a bootstrap's static
// clusters, as a YAML value, or nil.
func sdsCluster(t *testing.T, envoyYAML string) any {
	t.Helper()
	var boot struct {
		StaticResources struct {
			Clusters []map[string]any `json:"clusters"`
		} `json:"static_resources"`
	}
	if err := yaml.Unmarshal([]byte(envoyYAML), &boot); err != nil {
		t.Fatalf("stored envoy.yaml is not YAML: %v", err)
	}
	for _, c := range boot.StaticResources.Clusters {
		if c["name"] == "gateway_proxy_sds" {
			return c
		}
	}
	return nil
}

func getConfigMap(t *testing.T, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := suite.cp.Client.Get(testCtx(t), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		t.Fatalf("failed to read back ConfigMap %s/%s: %v", ns, name, err)
	}
	return cm
}

// TestBootstrapCluster takes Gloo's chart ConfigMap through the real API
// server and gatemesh's bootstrap webhooks.
func TestBootstrapCluster(t *testing.T) {
	ctx := testCtx(t)
	c := suite.cp.Client
	want := sdsCluster(t, chartConfigMap(t, chartIstio, "x").Data["envoy.yaml"])
	if want == nil {
		t.Fatal("the chart's Istio rendering has no gateway_proxy_sds cluster")
	}

	t.Run("the chart's ConfigMap in an opted-in namespace is stored with the chart's own cluster", func(t *testing.T) {
		ns := namespace(t, "gloo-system", optedIn())
		sent := chartConfigMap(t, chartPlain, ns)
		if err := c.Create(ctx, sent.DeepCopy()); err != nil {
			t.Fatalf("failed to create the ConfigMap: %v", err)
		}
		stored := getConfigMap(t, ns, sent.Name)
		if diff := cmp.Diff(want, sdsCluster(t, stored.Data["envoy.yaml"])); diff != "" {
			t.Errorf("stored cluster (-Gloo's integration,+gatemesh):\n%s", diff)
		}
		if stored.Annotations[bootstrapMark] == "" {
			t.Errorf("no owner mark %s", bootstrapMark)
		}
		// Everything but the cluster's lines is the chart's text.
		sentLines := strings.Split(sent.Data["envoy.yaml"], "\n")
		for _, l := range sentLines {
			if !strings.Contains(stored.Data["envoy.yaml"], l) {
				t.Errorf("line %q of the chart's bootstrap is gone", l)
			}
		}

		t.Run("a controller re-applying the chart's ConfigMap changes nothing: same resourceVersion", func(t *testing.T) {
			again := sent.DeepCopy()
			again.ResourceVersion = stored.ResourceVersion
			again.Annotations = stored.Annotations // as a controller that keeps others' annotations
			if err := c.Update(ctx, again); err != nil {
				t.Fatalf("re-apply: %v", err)
			}
			after := getConfigMap(t, ns, sent.Name)
			if after.ResourceVersion != stored.ResourceVersion {
				t.Errorf("resourceVersion %s -> %s on a re-apply that changes nothing", stored.ResourceVersion, after.ResourceVersion)
			}
		})

		t.Run("helm writing a new bootstrap over it keeps the cluster", func(t *testing.T) {
			cur := getConfigMap(t, ns, sent.Name)
			patch := client.MergeFrom(cur.DeepCopy())
			cur.Data["envoy.yaml"] = strings.Replace(sent.Data["envoy.yaml"], "static_resources:", "# upgraded\nstatic_resources:", 1)
			if err := c.Patch(ctx, cur, patch); err != nil {
				t.Fatalf("patch: %v", err)
			}
			after := getConfigMap(t, ns, sent.Name)
			if !strings.Contains(after.Data["envoy.yaml"], "# upgraded") || sdsCluster(t, after.Data["envoy.yaml"]) == nil {
				t.Errorf("after helm's write: the new bootstrap, with the cluster, expected:\n%s", after.Data["envoy.yaml"])
			}
		})

		t.Run("opting the namespace out removes exactly what gatemesh added on the next write", func(t *testing.T) {
			nsObj := &corev1.Namespace{}
			if err := c.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err != nil {
				t.Fatal(err)
			}
			delete(nsObj.Labels, injectionLabel)
			if err := c.Update(ctx, nsObj); err != nil {
				t.Fatal(err)
			}
			// The webhook reads namespaces from its cache: wait for it.
			cur := getConfigMap(t, ns, sent.Name)
			waitFor(t, "the opt-out to reach gatemesh's cache", func() bool {
				cur = getConfigMap(t, ns, sent.Name)
				if err := c.Update(ctx, cur); err != nil {
					t.Fatalf("update: %v", err)
				}
				cur = getConfigMap(t, ns, sent.Name)
				return sdsCluster(t, cur.Data["envoy.yaml"]) == nil
			})
			if got, want := cur.Data["envoy.yaml"], strings.Replace(sent.Data["envoy.yaml"], "static_resources:", "# upgraded\nstatic_resources:", 1); got != want {
				t.Errorf("after opt-out the bootstrap is not the one written before gatemesh (-want,+got):\n%s", cmp.Diff(want, got))
			}
			if _, ok := cur.Annotations[bootstrapMark]; ok {
				t.Errorf("owner mark still there after opt-out")
			}
		})
	})

	t.Run("a second gateway proxy of another name gets its own bootstrap done", func(t *testing.T) {
		ns := namespace(t, "gateways", optedIn())
		sent := chartConfigMap(t, chartPlain, ns)
		sent.Name = "public-gw-envoy-config"
		if err := c.Create(ctx, sent.DeepCopy()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, sdsCluster(t, getConfigMap(t, ns, sent.Name).Data["envoy.yaml"])); diff != "" {
			t.Errorf("(-want,+got):\n%s", diff)
		}
	})

	t.Run("a bootstrap that already has the cluster, written by glooctl or Gloo, is left alone", func(t *testing.T) {
		ns := namespace(t, "glooctl", optedIn())
		sent := chartConfigMap(t, chartIstio, ns)
		if err := c.Create(ctx, sent.DeepCopy()); err != nil {
			t.Fatal(err)
		}
		stored := getConfigMap(t, ns, sent.Name)
		if stored.Data["envoy.yaml"] != sent.Data["envoy.yaml"] {
			t.Errorf("gatemesh changed a bootstrap whose cluster it did not write:\n%s", cmp.Diff(sent.Data["envoy.yaml"], stored.Data["envoy.yaml"]))
		}
		if _, ok := stored.Annotations[bootstrapMark]; ok {
			t.Errorf("gatemesh marked a cluster it did not write as its own")
		}
	})

	t.Run("ConfigMaps without a bootstrap, and bootstraps in namespaces not opted in, are untouched", func(t *testing.T) {
		in := namespace(t, "apps", optedIn())
		plain := &corev1.ConfigMap{Data: map[string]string{"app.yaml": "static_resources: not envoy's"}}
		plain.Name, plain.Namespace = "app", in
		out := chartConfigMap(t, chartPlain, namespace(t, "elsewhere", nil))
		for _, cm := range []*corev1.ConfigMap{plain, out} {
			if err := c.Create(ctx, cm.DeepCopy()); err != nil {
				t.Fatal(err)
			}
			stored := getConfigMap(t, cm.Namespace, cm.Name)
			if diff := cmp.Diff(cm.Data, stored.Data); diff != "" || stored.Annotations[bootstrapMark] != "" {
				t.Errorf("%s/%s changed (-sent,+stored):\n%s", cm.Namespace, cm.Name, diff)
			}
		}
	})
}

// waitFor polls cond every 100ms for at most 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
