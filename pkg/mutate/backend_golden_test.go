package mutate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// inMeshOf says which namespaces are in the mesh: all when mesh is nil, as
// in the offline command without --mesh-namespaces, else those in mesh.
func inMeshOf(mesh sets.Set[string]) func(string) bool {
	if mesh == nil {
		return func(string) bool { return true }
	}
	return mesh.Has
}

func backendPolicy(t testing.TB, autoMtls bool) *policy.Policy {
	t.Helper()
	p, err := policy.New(policy.Config{Backends: policy.BackendConfig{AutoMtls: ptr.To(autoMtls)}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// backendGoldenCases maps a sentence to the input under testdata/backend
// (without .in.yaml), the golden output's name, the namespaces in the mesh
// (nil: all, as offline without --mesh-namespaces) and the autoMtls switch.
var backendGoldenCases = map[string]struct {
	in, golden string
	mesh       sets.Set[string]
	manual     bool
}{
	"the seed's discovered kube Upstream in a mesh namespace gets the glooctl sslConfig": {
		in: "upstream-kube-seed", golden: "upstream-kube-seed",
	},
	"a kube Upstream whose namespace is not in the mesh is stamped disabled": {
		in: "upstream-kube-seed", golden: "upstream-kube-not-in-mesh", mesh: sets.New("httpbin"),
	},
	"static Upstreams to outside hosts are stamped disabled":             {in: "upstream-static-external", golden: "upstream-static-external"},
	"a static Upstream to in-cluster service names is stamped with mTLS": {in: "upstream-static-in-cluster", golden: "upstream-static-in-cluster"},
	"an Upstream with the user's TLS is left alone":                      {in: "upstream-user-tls", golden: "upstream-user-tls"},
	"an Upstream with disableIstioAutoMtls is stamped disabled":          {in: "upstream-disable-auto-mtls", golden: "upstream-disable-auto-mtls"},
	"UPDATE: opting out removes exactly the sslConfig gatemesh stamped":  {in: "upstream-update-undo", golden: "upstream-update-undo"},
	"UPDATE: an sslConfig edited since it was stamped is left alone":     {in: "upstream-update-edited", golden: "upstream-update-edited"},
	"with autoMtls off only opted-in Upstreams are stamped": {
		in: "upstream-auto-mtls-off", golden: "upstream-auto-mtls-off", manual: true,
	},
	"the seed's older-shape Backend with disableIstioAutoMtls gets kgateway's disable annotation": {
		in: "backend-kube-seed", golden: "backend-kube-seed",
	},
	"static Backends are disabled, as kgateway sends them plaintext, with why":          {in: "backend-static", golden: "backend-static"},
	"an AWS Backend is outside the mesh":                                                {in: "backend-aws", golden: "backend-aws"},
	"GCP and dynamic forward proxy Backends are outside the mesh":                       {in: "backend-gcp", golden: "backend-gcp"},
	"UPDATE: static Backends moving into the mesh, opting out, or stamped istio before": {in: "backend-update-into-mesh", golden: "backend-update-into-mesh"},
	"a Backend with the user's kgateway annotation is left alone":                       {in: "backend-user-annotation", golden: "backend-user-annotation"},
	"fields unknown to gatemesh survive stamping":                                       {in: "unknown-fields", golden: "unknown-fields"},
	"unsupported versions and kinds pass through":                                       {in: "unsupported", golden: "unsupported"},
}

func TestBackendGolden(t *testing.T) {
	for name, tc := range backendGoldenCases {
		t.Run(name, func(t *testing.T) {
			in := readTestdata(t, backendTestdata(tc.in+".in.yaml"))
			docs := stampStream(t, in, backendPolicy(t, !tc.manual), inMeshOf(tc.mesh))
			checkGolden(t, backendTestdata(tc.golden+".golden.yaml"), renderStamped(docs))
		})
	}
}

// TestBackendGoldenIdempotent checks, on every golden input, that
// mutate(mutate(x)) == mutate(x): the second pass yields empty patches.
func TestBackendGoldenIdempotent(t *testing.T) {
	for name, tc := range backendGoldenCases {
		t.Run(name, func(t *testing.T) {
			pol, inMesh := backendPolicy(t, !tc.manual), inMeshOf(tc.mesh)
			for i, d := range stampStream(t, readTestdata(t, backendTestdata(tc.in+".in.yaml")), pol, inMesh) {
				if !Stamps(d.gvk) {
					continue
				}
				ops, reason, err := stampPath(t, d.json, pol, inMesh)
				if err != nil || len(ops) != 0 || reason.Changes() {
					t.Errorf("document %d: second pass = %v, %q, %v; want an empty patch", i+1, ops, reason, err)
				}
			}
		})
	}
}

// TestBackendGoldenKeepsUnknownFields checks, on every golden input, that
// stamping changes nothing but the fields gatemesh owns: the gatemesh.io/mtls
// annotations, kgateway's disable annotation and an Upstream's sslConfig.
func TestBackendGoldenKeepsUnknownFields(t *testing.T) {
	for name, tc := range backendGoldenCases {
		t.Run(name, func(t *testing.T) {
			in := readTestdata(t, backendTestdata(tc.in+".in.yaml"))
			docs := stampStream(t, in, backendPolicy(t, !tc.manual), inMeshOf(tc.mesh))
			inputs := splitYAML(t, in)
			if len(inputs) != len(docs) {
				t.Fatalf("%d inputs, %d outputs", len(inputs), len(docs))
			}
			for i, d := range docs {
				want, got := withoutOwned(t, inputs[i]), withoutOwned(t, d.json)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("document %d: fields gatemesh does not own changed (-in,+out):\n%s", i+1, diff)
				}
			}
		})
	}
}

// stampedDoc is one document of a stream after stamping.
type stampedDoc struct {
	gvk             schema.GroupVersionKind
	namespace, name string
	reason          policy.Reason
	json            []byte
}

// stampStream runs each document of a YAML stream through the webhook's
// path, as the offline command does: Upstreams and Backends are stamped,
// with every patch checked against the oracle; other kinds pass through.
func stampStream(t testing.TB, data []byte, pol *policy.Policy, inMesh func(string) bool) []stampedDoc {
	t.Helper()
	var docs []stampedDoc
	for _, y := range splitYAML(t, data) {
		js, err := yaml.YAMLToJSON(y)
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			APIVersion, Kind string
			Metadata         struct{ Namespace, Name string }
		}
		if err := json.Unmarshal(js, &head); err != nil {
			t.Fatal(err)
		}
		d := stampedDoc{gvk: schema.FromAPIVersionAndKind(head.APIVersion, head.Kind), namespace: head.Metadata.Namespace, name: head.Metadata.Name, json: js}
		if d.namespace == "" {
			d.namespace = "default"
		}
		if Stamps(d.gvk) {
			ops, reason, err := stampPath(t, js, pol, inMesh)
			if err != nil {
				t.Fatalf("%s %s: %v", head.Kind, head.Metadata.Name, err)
			}
			if d.json, err = strictApply(js, ops); err != nil {
				t.Fatal(err)
			}
			d.reason = reason
		}
		docs = append(docs, d)
	}
	return docs
}

// renderStamped writes the documents as one YAML stream, each headed by a
// comment giving its outcome.
func renderStamped(docs []stampedDoc) []byte {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		outcome := "passed through (not a kind gatemesh mutates)"
		if d.reason != "" {
			outcome = fmt.Sprintf("%s (%s)", d.reason, d.reason.Sentence())
		}
		y, err := yaml.JSONToYAML(d.json)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(&b, "# %s %s/%s: %s\n%s", d.gvk.Kind, d.namespace, d.name, outcome, y)
	}
	return b.Bytes()
}

func backendTestdata(name string) string { return filepath.Join("testdata", "backend", name) }

// splitYAML returns the non-empty documents of a YAML stream.
func splitYAML(t testing.TB, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for _, part := range strings.Split("\n"+string(data), "\n---\n") {
		js, err := yaml.YAMLToJSON([]byte(part))
		if err != nil {
			t.Fatal(err)
		}
		if t := bytes.TrimSpace(js); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
			out = append(out, []byte(part))
		}
	}
	return out
}

// withoutOwned decodes a JSON or YAML document, numbers as their text, and drops
// the fields gatemesh owns.
func withoutOwned(t testing.TB, doc []byte) map[string]any {
	t.Helper()
	js := doc
	if !json.Valid(doc) {
		var err error
		if js, err = yaml.YAMLToJSON(doc); err != nil {
			t.Fatal(err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	// Stamping may create metadata and annotations where they were absent
	// or null, and removing a stamp may leave them empty.
	if meta, ok := obj["metadata"].(map[string]any); ok {
		if ann, ok := meta["annotations"].(map[string]any); ok {
			for _, k := range []string{MtlsAnnotation, MtlsReasonAnnotation, MtlsHashAnnotation, KgatewayDisableAutoMtlsAnnotation} {
				delete(ann, k)
			}
		}
		if ann, ok := meta["annotations"].(map[string]any); (ok && len(ann) == 0) || meta["annotations"] == nil {
			delete(meta, "annotations")
		}
	}
	if meta, ok := obj["metadata"].(map[string]any); (ok && len(meta) == 0) || obj["metadata"] == nil {
		delete(obj, "metadata")
	}
	if spec, ok := obj["spec"].(map[string]any); ok && obj["kind"] == UpstreamGVK.Kind {
		delete(spec, "sslConfig")
	}
	return obj
}
