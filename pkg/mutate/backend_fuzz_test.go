package mutate

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// FuzzUpstream feeds arbitrary JSON objects, as Gloo Upstreams, to the
// stamping path. See fuzzStamp.
func FuzzUpstream(f *testing.F) {
	f.Add([]byte(`{"spec":{"kube":{"serviceNamespace":"default"}}}`), true, true)
	f.Add([]byte(`{"metadata":{"annotations":{"gatemesh.io/mtls":"disabled","gatemesh.io/mtls-hash":"`+markerIstioSSL+`"}},"spec":{"kube":{},"sslConfig":{"sni":"x"}}}`), true, true)
	f.Add([]byte(`{"metadata":null,"spec":{"static":{"hosts":[{"addr":"a.b.svc"}]}}}`), false, true)
	f.Add([]byte(`{"status":1,"status":{},"metadata":{"x":1,"x":2,"annotations":{}},"spec":{"kube":{"serviceNamespace":"a","serviceNamespace":"b"},"sslConfig":null}}`), true, true)
	f.Add([]byte(`{"metadata":{"annotations":{"a":null}},"spec":{"kube":{}}}`), true, true)
	fuzzStamp(f, UpstreamGVK)
}

// FuzzBackend feeds arbitrary JSON objects, as kgateway Backends, to the
// stamping path. See fuzzStamp.
func FuzzBackend(f *testing.F) {
	f.Add([]byte(`{"spec":{"static":{"hosts":[{"host":"api.example.com"}]}}}`), true, true)
	f.Add([]byte(`{"metadata":{"annotations":{"kgateway.dev/disable-istio-auto-mtls":"true","gatemesh.io/mtls-hash":"`+markerDisabledTrue+`"}},"spec":{"kube":{}}}`), true, false)
	f.Add([]byte(`{"spec":{"gcp":{"host":"x"}}}`), false, true)
	f.Add([]byte(`{"metadata":{"annotations":null},"spec":{"static":{"hosts":[{"host":"a.b.svc","port":1,"port":2},null]}}}`), true, true)
	fuzzStamp(f, BackendGVK)
}

// fuzzStamp checks, for any object of kind gvk that ParseBackendObject
// accepts, with its targets in or out of the mesh and autoMtls on or off:
// the path does not fail or panic; it reports a change exactly when the
// patch is not empty; the patch applies strictly and gives the library
// path's object (the oracle); it changes nothing but the fields gatemesh
// owns; and a second pass yields an empty patch.
func fuzzStamp(f *testing.F, gvk schema.GroupVersionKind) {
	inputs, err := filepath.Glob(backendTestdata("*.in.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range inputs {
		for _, doc := range splitYAML(f, readTestdata(f, path)) {
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(js, true, true)
			f.Add(js, false, false)
		}
	}
	f.Add([]byte(`{}`), true, true)
	f.Add([]byte(`null`), true, true)
	pols := map[bool]*policy.Policy{true: backendPolicy(f, true), false: backendPolicy(f, false)}
	f.Fuzz(func(t *testing.T, raw []byte, inMesh, autoMtls bool) {
		raw = asKind(raw, gvk)
		pol := pols[autoMtls]
		mesh := func(string) bool { return inMesh }
		ops, reason, err := stampPath(t, raw, pol, mesh)
		if IsInputError(err) {
			return
		}
		if err != nil {
			t.Fatalf("the path failed on an object ParseBackendObject accepted: %v\ninput: %s", err, raw)
		}
		if len(ops) > 0 != reason.Changes() {
			t.Fatalf("reason %q with %d patch operations", reason, len(ops))
		}
		patched, err := strictApply(raw, ops)
		if err != nil {
			t.Fatalf("patch does not apply to its input: %v\ninput: %s\npatch: %v", err, raw, ops)
		}
		if diff := cmp.Diff(withoutOwned(t, raw), withoutOwned(t, patched)); diff != "" {
			t.Fatalf("fields gatemesh does not own changed (-in,+out):\n%s\ninput: %s", diff, raw)
		}
		ops2, reason2, err := stampPath(t, patched, pol, mesh)
		if err != nil || len(ops2) != 0 {
			t.Fatalf("second pass (reason %q, error %v) is not empty: %v\nfirst reason %q\ninput: %s", reason2, err, ops2, reason, raw)
		}
	})
}

// asKind sets apiVersion and kind on raw when it is a JSON object.
func asKind(raw []byte, gvk schema.GroupVersionKind) []byte {
	var obj map[string]any
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return raw
	}
	obj["apiVersion"], obj["kind"] = gvk.GroupVersion().String(), gvk.Kind
	out, err := json.Marshal(obj)
	if err != nil {
		return raw
	}
	return out
}
