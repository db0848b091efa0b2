package mutate

import (
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"
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

func benchUnstructured(b *testing.B, file string, mutate func(*unstructured.Unstructured) error) {
	b.Helper()
	js, err := yaml.YAMLToJSON(readTestdata(b, filepath.Join("testdata", "backend", file)))
	if err != nil {
		b.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(js); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := mutate(obj); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpstream(b *testing.B) {
	pol := defaultPolicy(b)
	mesh := sets.New("default")
	benchUnstructured(b, "upstream-kube-seed.in.yaml", func(u *unstructured.Unstructured) error {
		_, _, err := Upstream(u, pol, mesh)
		return err
	})
}

func BenchmarkBackend(b *testing.B) {
	pol := defaultPolicy(b)
	mesh := sets.New("httpbin")
	benchUnstructured(b, "backend-kube-seed.in.yaml", func(u *unstructured.Unstructured) error {
		_, _, err := Backend(u, pol, mesh)
		return err
	})
}
