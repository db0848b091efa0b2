package mutate

import (
	"testing"
)

// BenchmarkBootstrapPatch is one review of the chart-shaped ConfigMap under
// testdata/bootstrap: the first, which adds the cluster, and a re-apply,
// which finds it present.
func BenchmarkBootstrapPatch(b *testing.B) {
	raw := bootstrapInputs(b)["comments-unknown-keys"]
	ops, _, err := BootstrapPatch(raw, chartPlan())
	if err != nil || len(ops) == 0 {
		b.Fatalf("BootstrapPatch = %v, %v", ops, err)
	}
	present := applyStrict(b, raw, ops)
	for name, in := range map[string][]byte{"add": raw, "present": present} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, _, err := BootstrapPatch(in, chartPlan()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
