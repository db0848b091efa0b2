package mutate

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// benchBackendPatch runs the backend path on raw, from bytes to patch: parse,
// facts, decide (every target namespace in the mesh), patch.
func benchBackendPatch(b *testing.B, raw []byte, want policy.Reason) {
	b.Helper()
	pol := defaultPolicy(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		obj, err := ParseBackendObject(raw)
		if err != nil {
			b.Fatal(err)
		}
		facts := obj.Facts(pol)
		facts.TargetInMesh = true
		if _, reason, err := obj.Patch(pol.DecideBackend(facts)); err != nil || reason != want {
			b.Fatalf("reason %q, error %v; want %q", reason, err, want)
		}
	}
}

func backendSeed(b *testing.B, file string) []byte {
	b.Helper()
	js, err := yaml.YAMLToJSON(readTestdata(b, backendTestdata(file)))
	if err != nil {
		b.Fatal(err)
	}
	return js
}

// BenchmarkUpstreamPatch stamps the seed's kube Upstream with the sslConfig.
func BenchmarkUpstreamPatch(b *testing.B) {
	benchBackendPatch(b, backendSeed(b, "upstream-kube-seed.in.yaml"), policy.ReasonStamped)
}

// BenchmarkBackendPatch stamps the seed's older-shape Backend with
// kgateway's disable annotation.
func BenchmarkBackendPatch(b *testing.B) {
	benchBackendPatch(b, backendSeed(b, "backend-kube-seed.in.yaml"), policy.ReasonStamped)
}

// BenchmarkUpstreamPatchLarge stamps a 3 MB Upstream whose bulk is fields
// gatemesh does not read: the bytes allocated per stamp stay a small part of
// the object's size.
func BenchmarkUpstreamPatchLarge(b *testing.B) {
	benchBackendPatch(b, largeUpstream(3<<20), policy.ReasonStamped)
}

// largeUpstream is a kube Upstream of about size bytes: labels, a
// managedFields entry and unknown spec fields of every JSON type.
func largeUpstream(size int) []byte {
	var s strings.Builder
	s.WriteString(`{"apiVersion":"gloo.solo.io/v1","kind":"Upstream","metadata":{"name":"big","namespace":"gloo-system","labels":{`)
	for i := 0; s.Len() < size/3; i++ {
		fmt.Fprintf(&s, `%s"label-%06d":"value-%06d"`, map[bool]string{true: "", false: ","}[i == 0], i, i)
	}
	s.WriteString(`},"managedFields":[{"manager":"m","fieldsV1":{`)
	for i := 0; s.Len() < 2*size/3; i++ {
		fmt.Fprintf(&s, `%s"f:field-%06d":{".":{},"f:x":{}}`, map[bool]string{true: "", false: ","}[i == 0], i)
	}
	s.WriteString(`}}]},"spec":{"kube":{"serviceName":"httpbin","serviceNamespace":"default","servicePort":8000},"x-unknown":[`)
	for i := 0; s.Len() < size; i++ {
		fmt.Fprintf(&s, `%s{"n":%d,"f":1.5e-3,"b":true,"z":null,"s":"text \u2603 %d","l":[1,[2,{}]]}`, map[bool]string{true: "", false: ","}[i == 0], i, i)
	}
	s.WriteString(`]}}`)
	return []byte(s.String())
}
