package mutate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// testNamespaces gives every namespace the opt-in label plus extra.
type testNamespaces map[string]string

func (t testNamespaces) Namespace(name string) policy.Namespace {
	labels := map[string]string{policy.DefaultNamespaceLabel: "enabled"}
	for k, v := range t {
		labels[k] = v
	}
	return policy.Namespace{Name: name, Labels: labels}
}

func defaultPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// podGoldenCases maps a sentence to the input under testdata/pod (without
// .in.yaml), the golden output's name, and the namespace's extra labels.
var podGoldenCases = map[string]struct {
	in, golden string
	ns         testNamespaces
}{
	"a Gloo Edge gateway-proxy pod gets istio-proxy, sds and their volumes": {in: "gloo-gateway-proxy", golden: "gloo-gateway-proxy"},
	"a kgateway proxy pod gets the kgateway sds image":                      {in: "kgateway-proxy", golden: "kgateway-proxy"},
	"a Deployment's pod template is injected and its Service passes":        {in: "gloo-deployment", golden: "gloo-deployment"},
	"a pod without an envoy-config volume gets no /etc/envoy mount":         {in: "no-envoy-config", golden: "no-envoy-config"},
	"a revisioned namespace points at the revision's istiod": {
		in: "gloo-gateway-proxy", golden: "revisioned", ns: testNamespaces{"istio.io/rev": "1-28"},
	},
	"a pod that is not a gateway proxy is unchanged":          {in: "non-gateway", golden: "non-gateway"},
	"a pod labelled gatemesh.io/inject=false is unchanged":    {in: "opted-out", golden: "opted-out"},
	"an already injected pod is unchanged":                    {in: "already-injected", golden: "already-injected"},
	"a pod with Istio's own sidecar is skipped with a reason": {in: "istio-sidecar", golden: "istio-sidecar"},
	"fields unknown to k8s.io/api survive injection":          {in: "unknown-fields", golden: "unknown-fields"},
	"kgateway's own Istio sidecars with the policy's values already are left as they are": {
		in: "kgateway-istio", golden: "kgateway-istio",
	},
	"kgateway's own Istio sidecars in a revisioned namespace point at the revision's istiod": {
		in: "kgateway-istio", golden: "kgateway-istio-revisioned", ns: testNamespaces{"istio.io/rev": "1-28"},
	},
	"kgateway's own Istio sidecars get the policy's IDs; PROXY_CONFIG keeps the rest": {
		in: "kgateway-istio-gwparams", golden: "kgateway-istio-gwparams",
	},
}

func TestPodGolden(t *testing.T) {
	pol := defaultPolicy(t)
	for name, tc := range podGoldenCases {
		t.Run(name, func(t *testing.T) {
			in := readTestdata(t, filepath.Join("testdata", "pod", tc.in+".in.yaml"))
			docs := injectStream(t, in, pol, tc.ns)
			checkGolden(t, filepath.Join("testdata", "pod", tc.golden+".golden.yaml"), render(docs))
		})
	}
}

// TestPodGoldenIdempotent checks mutate(mutate(x)) == mutate(x) on every
// golden input, and that the second pass produces an empty patch.
func TestPodGoldenIdempotent(t *testing.T) {
	pol := defaultPolicy(t)
	for name, tc := range podGoldenCases {
		t.Run(name, func(t *testing.T) {
			in := readTestdata(t, filepath.Join("testdata", "pod", tc.in+".in.yaml"))
			once := injectStream(t, in, pol, tc.ns)
			var joined [][]byte
			for _, d := range once {
				joined = append(joined, d.YAML)
			}
			twice := injectStream(t, bytes.Join(joined, []byte("---\n")), pol, tc.ns)
			if diff := cmp.Diff(string(render(once)), string(render(twice))); diff != "" {
				if len(once) == len(twice) {
					// Reasons differ by design (injected, then already_injected); compare YAML.
					for i := range once {
						if d := cmp.Diff(string(once[i].YAML), string(twice[i].YAML)); d != "" {
							t.Errorf("document %d changed on the second pass (-once,+twice):\n%s", i+1, d)
						}
					}
				} else {
					t.Errorf("second pass changed the stream (-once,+twice):\n%s", diff)
				}
			}
			for i, d := range twice {
				if d.Result.Reason.Changes() {
					t.Errorf("document %d: second pass reason %q, want no change", i+1, d.Result.Reason)
				}
				if d.Result.GroupVersionKind.Kind != "Pod" {
					continue
				}
				js, err := yaml.YAMLToJSON(d.YAML)
				if err != nil {
					t.Fatal(err)
				}
				ops, _, err := patchPod(js, pol, tc.ns.Namespace(d.Result.Namespace), nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(ops) != 0 {
					t.Errorf("document %d: patch of an injected pod = %v, want empty", i+1, ops)
				}
			}
		})
	}
}

// render writes the documents as one YAML stream, each headed by a comment
// giving its outcome.
func render(docs []injectedDoc) []byte {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		r := d.Result
		reason := "passed through (not a kind gatemesh mutates)"
		if r.Reason != "" {
			reason = fmt.Sprintf("%s (%s)", r.Reason, r.Reason.Sentence())
		}
		fmt.Fprintf(&b, "# %s %s/%s: %s\n", r.GroupVersionKind.Kind, r.Namespace, r.Name, reason)
		b.Write(d.YAML)
	}
	return b.Bytes()
}

// goldenPodInput is one of testdata/pod's inputs, as JSON.
type goldenPodInput struct {
	path string
	json []byte
}

// goldenPodInputs reads every testdata/pod/*.in.yaml as JSON: the golden
// tests' pods, which the other pod tests and fuzz targets use as seeds.
func goldenPodInputs(t testing.TB) []goldenPodInput {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "pod", "*.in.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden pods: %v", err)
	}
	out := make([]goldenPodInput, 0, len(paths))
	for _, path := range paths {
		js, err := yaml.YAMLToJSON(readTestdata(t, path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, goldenPodInput{path: path, json: js})
	}
	return out
}

func readTestdata(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// injectedDoc is one document of a stream after the webhook's pod path.
type injectedDoc struct {
	YAML   []byte
	Result struct {
		GroupVersionKind schema.GroupVersionKind
		Namespace, Name  string
		Reason           policy.Reason
	}
}

// injectStream runs each document of a YAML stream through the webhook's
// pod path (decode the head, decide, patch, apply strictly): pods, and the
// pod templates of Deployments; other kinds pass through.
func injectStream(t testing.TB, data []byte, pol *policy.Policy, nss testNamespaces) []injectedDoc {
	t.Helper()
	var docs []injectedDoc
	for _, y := range splitYAML(t, data) {
		js, err := yaml.YAMLToJSON(y)
		if err != nil {
			t.Fatal(err)
		}
		var obj struct {
			APIVersion, Kind string
			Metadata         struct{ Namespace, Name string }
			Spec             struct{ Template json.RawMessage }
		}
		if err := json.Unmarshal(js, &obj); err != nil {
			t.Fatal(err)
		}
		var d injectedDoc
		d.Result.GroupVersionKind = schema.FromAPIVersionAndKind(obj.APIVersion, obj.Kind)
		d.Result.Namespace, d.Result.Name = obj.Metadata.Namespace, obj.Metadata.Name
		if d.Result.Namespace == "" {
			d.Result.Namespace = "default"
		}
		raw, at := js, ""
		switch obj.Kind {
		case "Pod":
		case "Deployment":
			raw, at = obj.Spec.Template, "/spec/template"
		default:
			raw = nil
		}
		if raw != nil {
			ops, reason, err := patchPod(raw, pol, nss.Namespace(d.Result.Namespace), nil)
			if err != nil {
				t.Fatalf("%s %s: %v", obj.Kind, obj.Metadata.Name, err)
			}
			for i := range ops {
				ops[i].Path = at + ops[i].Path
			}
			if js, err = strictApply(js, ops); err != nil {
				t.Fatal(err)
			}
			d.Result.Reason = reason
		}
		if d.YAML, err = yaml.JSONToYAML(js); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}
