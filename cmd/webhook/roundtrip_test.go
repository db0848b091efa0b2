package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// roundTripInputs are every example and every golden input of the
// mutators, from the repository root.
var roundTripInputs = []string{
	"examples/*.yaml",
	"pkg/mutate/testdata/pod/*.in.yaml",
	"pkg/mutate/testdata/backend/*.in.yaml",
	"pkg/mutate/testdata/bootstrap/*.in.yaml",
	"cmd/webhook/testdata/mutate/*.in.yaml",
}

// values parses a YAML stream into its documents' values, without empty
// documents.
func values(t *testing.T, stream string) []any {
	t.Helper()
	var docs []any
	for _, c := range splitDocuments([]byte(stream)) {
		var v any
		if err := yaml.Unmarshal(c.data, &v); err != nil {
			t.Fatalf("failed to parse output: %v", err)
		}
		if v != nil {
			docs = append(docs, v)
		}
	}
	return docs
}

// TestMutateThenUninjectGivesTheInputBack: for every input mutate takes,
// uninject of mutate's output equals uninject of the input, which is the
// input itself unless it already carried something of gatemesh's.
func TestMutateThenUninjectGivesTheInputBack(t *testing.T) {
	var files []string
	for _, g := range roundTripInputs {
		m, err := filepath.Glob(filepath.Join("..", "..", g))
		if err != nil || len(m) == 0 {
			t.Fatalf("no files for %s: %v", g, err)
		}
		files = append(files, m...)
	}
	files = append(files, filepath.Join("..", "..", "..", "shared", "reference", "gloo-1.17.38", "gateway-proxy.yaml"))
	// Once as in a plain opted-in namespace, once in one on revision 1-28,
	// where kgateway's own sidecars are adjusted (not already the values).
	for _, ns := range []struct {
		name string
		args []string
	}{{"plain", nil}, {"rev-1-28", []string{"--namespace-labels", "istio.io/rev=1-28"}}} {
		mutated, adjusted := 0, 0
		for _, file := range files {
			t.Run(ns.name+"/"+strings.TrimPrefix(file, "../../"), func(t *testing.T) {
				code, out, stderr, _ := runCmd(t, "", append([]string{"mutate", "-q", "-f", file}, ns.args...)...)
				if code != 0 {
					// A malformed input, refused with a word why.
					if code != 1 || !strings.Contains(stderr, file) {
						t.Errorf("mutate: exit %d: %s", code, stderr)
					}
					return
				}
				mutated++
				if strings.Contains(out, "gatemesh.io/adjusted") {
					adjusted++
				}
				code, back, stderr, _ := runCmd(t, out, "uninject", "-q", "-f", "-")
				if code != 0 {
					t.Fatalf("uninject: exit %d: %s", code, stderr)
				}
				backValues := values(t, back)
				_, plain, _, _ := runCmd(t, "", "uninject", "-q", "-f", file)
				if diff := cmp.Diff(values(t, plain), backValues); diff != "" {
					t.Errorf("uninject(input) (-want) and uninject(mutate(input)) (+got) differ:\n%s", diff)
				}
				in, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(in), "gatemesh.io/") {
					// Nothing of gatemesh's in the input: it comes back whole.
					if diff := cmp.Diff(values(t, string(in)), backValues); diff != "" {
						t.Errorf("input (-want) and uninject(mutate(input)) (+got) differ:\n%s", diff)
					}
				}
			})
		}
		if mutated < len(files)/2 {
			t.Errorf("%s: mutate took only %d of %d inputs", ns.name, mutated, len(files))
		}
		if ns.args != nil && adjusted == 0 {
			t.Errorf("%s: no input came out adjusted, so the adjusted round trip was not tried", ns.name)
		}
	}
}
