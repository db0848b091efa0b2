package mutate

import (
	"strconv"
	"strings"
	"testing"
)

// BenchmarkBootstrapPatch is one review of the chart-shaped ConfigMap under
// testdata/bootstrap: the first, which adds the cluster, and a re-apply,
// which finds it present; and the first review of a bootstrap near the
// 256 KiB cap, with 1,100 clusters.
func BenchmarkBootstrapPatch(b *testing.B) {
	raw := bootstrapInputs(b)["comments-unknown-keys"]
	ops, _, err := BootstrapPatch(raw, chartPlan())
	if err != nil || len(ops) == 0 {
		b.Fatalf("BootstrapPatch = %v, %v", ops, err)
	}
	present := applyStrict(b, raw, ops)
	var large strings.Builder
	large.WriteString("node: {id: gw}\nstatic_resources:\n  clusters:\n")
	for i := range 1100 {
		n := strconv.Itoa(i)
		large.WriteString("  - name: cluster_" + n + " # a comment\n    connect_timeout: 5s\n" +
			"    load_assignment: {cluster_name: cluster_" + n + ", endpoints: [{lb_endpoints: [{endpoint: {address: " +
			"{socket_address: {address: 10.0.0.1, port_value: 80}}}}]}]}\n")
	}
	text := large.String()
	if len(text) > MaxBootstrapBytes {
		b.Fatalf("large bootstrap is %d bytes, over the cap", len(text))
	}
	for name, in := range map[string][]byte{"add": raw, "present": present, "large": configMap(b, &text, "")} {
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
