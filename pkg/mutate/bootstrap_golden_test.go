package mutate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// bootstrapInputs reads the ConfigMaps under testdata/bootstrap as JSON,
// by file name without .in.yaml.
func bootstrapInputs(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/bootstrap/*.in.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no inputs under testdata/bootstrap: %v", err)
	}
	in := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := yaml.YAMLToJSON(b)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		in[strings.TrimSuffix(filepath.Base(p), ".in.yaml")] = raw
	}
	return in
}

// TestBootstrapGolden takes each ConfigMap under testdata/bootstrap through
// the webhook with the chart's plan, then through it again after the
// namespace opted out. The golden file holds both results and their
// reasons:
//
//	go test ./pkg/mutate -run BootstrapGolden -update
func TestBootstrapGolden(t *testing.T) {
	for name, raw := range bootstrapInputs(t) {
		t.Run(name, func(t *testing.T) {
			var out strings.Builder
			ensured := goldenStep(t, &out, "namespace opted in", raw, chartPlan())
			out.WriteString("---\n")
			removed := goldenStep(t, &out, "namespace opted out", ensured, nil)
			checkGolden(t, filepath.Join("testdata", "bootstrap", name+".golden.yaml"), []byte(out.String()))

			// Opting out gives back the bootstrap gatemesh was given
			// wherever it had a cluster list to add to.
			before, _ := bootstrapOf(t, raw)
			after, mark := bootstrapOf(t, removed)
			d, _, err := parseBootstrap(before)
			if err == nil && d != nil && d.clusters != nil && len(d.clusters.Content) > 0 && (after != before || mark != "") {
				t.Errorf("opt-out did not restore the bootstrap:\n%s", after)
			}
		})
	}
}

// goldenStep runs BootstrapPatch, writes the result as YAML after a
// comment with the reason, and returns the patched ConfigMap.
func goldenStep(t *testing.T, out *strings.Builder, what string, raw []byte, plan *policy.BootstrapPlan) []byte {
	t.Helper()
	ops, reason, err := BootstrapPatch(raw, plan)
	if err != nil {
		t.Fatal(err)
	}
	patched := applyStrict(t, raw, ops)
	again, _, err := BootstrapPatch(patched, plan)
	if err != nil || len(again) > 0 {
		t.Errorf("%s: not idempotent: %v, %v", what, again, err)
	}
	y, err := yaml.JSONToYAML(patched)
	if err != nil {
		t.Fatal(err)
	}
	out.WriteString("# " + what + ": " + string(reason) + "\n")
	out.Write(y)
	return patched
}
