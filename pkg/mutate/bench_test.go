package mutate

import (
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The mutators alone, on decoded objects: what gatemesh itself costs per
// object, without JSON. `make bench` runs them; docs/performance.md has the
// figures.

func BenchmarkPod(b *testing.B) {
	pol := defaultPolicy(b)
	var pod corev1.Pod
	if err := yaml.Unmarshal(readTestdata(b, filepath.Join("testdata", "pod", "gloo-gateway-proxy.in.yaml")), &pod); err != nil {
		b.Fatal(err)
	}
	ns := testNamespaces{}.Namespace("gloo-system")
	b.ReportAllocs()
	for b.Loop() {
		if _, reason := injectTyped(&pod, pol, ns); !reason.Changes() {
			b.Fatalf("reason %q", reason)
		}
	}
}

// BenchmarkPodPatch is the pod mutator from raw JSON to patch.
func BenchmarkPodPatch(b *testing.B) {
	pol := defaultPolicy(b)
	raw, err := yaml.YAMLToJSON(readTestdata(b, filepath.Join("testdata", "pod", "gloo-gateway-proxy.in.yaml")))
	if err != nil {
		b.Fatal(err)
	}
	ns := testNamespaces{}.Namespace("gloo-system")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := patchPod(raw, pol, ns, nil); err != nil {
			b.Fatal(err)
		}
	}
}
