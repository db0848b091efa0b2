package mutate

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// FuzzBootstrapPatch feeds bootstrap texts to BootstrapPatch, with and
// without gatemesh's mark, for an opted-in namespace (with the chart's plan,
// or one whose port moved, so gatemesh's cluster is updated) and an
// opted-out one. It
// checks that nothing panics, that malformed input is an InputError, that
// the patch applies strictly and a second patch is empty, that every byte
// outside the change stays (an addition is one insertion, a removal one
// cut), that the bootstrap's value outside its cluster list is unchanged,
// and that removing what gatemesh added gives back the text it was given.
// The seeds, the golden inputs and the cases below, run under go test:
//
//	go test ./pkg/mutate -run '^$' -fuzz FuzzBootstrapPatch -fuzztime 5m
func FuzzBootstrapPatch(f *testing.F) {
	for _, raw := range bootstrapInputs(f) {
		text, _ := bootstrapOf(f, raw)
		f.Add(text, false, false, false)
		f.Add(text, true, true, false)
	}
	for _, s := range []string{
		"", "node: {}", "static_resources:\n  clusters:\n", "static_resources: ~\nnode: {}\n",
		"{\"node\": {}}", "{}", "static_resources: {}", "static_resources:\n  clusters: []\n",
		"node: &a {x: 1}\nadmin: *a\nstatic_resources:\n  clusters: &c\n  - name: a\n",
		"static_resources:\n  clusters:\n  -\n    name: a\n  - name: b\n",
		"static_resources:\n  clusters:\n  - name: a\n# end\n\n",
		"static_resources: {clusters: [{name: \"a#\", x: '}'}]} # c",
		"static_resources:\n  clusters:\n  - {name: a}\n  - [b]\n",
		"\ufeffnode: {}\n", "node: {}\rstatic_resources: {}\r",
		"static_resources:\n  clusters:\n  - name: gateway_proxy_sds\n",
		"? static_resources\n: clusters: []\n",
	} {
		f.Add(s, false, false, false)
		f.Add(s, true, false, false)
		f.Add(s, true, false, true)
	}
	own := "node: {}\nstatic_resources:\n  clusters:\n" + chartCluster("  ", "\n") + "  - name: xds\n"
	f.Add(own, true, false, true) // updated
	f.Add(own, true, true, false) // removed
	plan := chartPlan()
	c, err := newSDSCluster(plan)
	if err != nil {
		f.Fatal(err)
	}
	moved := &policy.BootstrapPlan{ClusterName: plan.ClusterName, Address: plan.Address, Port: 9234, ConnectTimeout: plan.ConnectTimeout}
	f.Fuzz(func(t *testing.T, text string, marked, optOut, move bool) {
		mark := ""
		if marked {
			mark = c.hash
		}
		p := plan
		if move {
			p = moved // gatemesh's cluster, if any, is updated
		}
		if optOut {
			p = nil
		}
		raw := configMap(t, &text, mark)
		// JSON holds only UTF-8: compare with the text the ConfigMap holds.
		text, _ = bootstrapOf(t, raw)
		ops, reason, err := BootstrapPatch(raw, p)
		if err != nil {
			if !IsInputError(err) {
				t.Fatalf("error is not an InputError: %v", err)
			}
			return
		}
		patched := applyStrict(t, raw, ops)
		again, _, err := BootstrapPatch(patched, p)
		if err != nil || len(again) > 0 {
			t.Fatalf("second patch = %v, %v; want none", again, err)
		}
		out, newMark := bootstrapOf(t, patched)
		switch reason {
		case policy.ReasonBootstrapClusterAdded:
			if !isInsertion(text, out) && !replacesNull(text, out) {
				t.Fatalf("addition changed more than it inserted:\n%q\n%q", text, out)
			}
		case policy.ReasonBootstrapClusterRemoved:
			if !isInsertion(out, text) {
				t.Fatalf("removal changed more than it cut:\n%q\n%q", text, out)
			}
		case policy.ReasonBootstrapClusterUpdated:
		default:
			if out != text {
				t.Fatalf("reason %s but the bootstrap changed", reason)
			}
			return
		}
		if out == text {
			return // only the mark changed
		}
		before, _, _ := parseBootstrap(text)
		after, _, _ := parseBootstrap(out)
		if before == nil || after == nil || !readsRest(before) || !readsRest(after) || !reflect.DeepEqual(before.rest, after.rest) {
			t.Fatalf("the bootstrap changed outside its cluster list:\n%q\n%q", text, out)
		}
		if reason == policy.ReasonBootstrapClusterAdded && before.clusters != nil && len(before.clusters.Content) > 0 {
			back, _, r, err := EditBootstrap(out, newMark, nil)
			if err != nil || back != text {
				t.Fatalf("removing what was added gave %s, %v:\n%q\nnot\n%q", r, err, back, text)
			}
		}
	})
}

func readsRest(d *bootstrapDoc) bool {
	ok, err := d.readRest()
	return ok && err == nil
}

// replacesNull reports whether after is before with one null word, where
// the cluster list or static_resources was null, replaced by more text.
func replacesNull(before, after string) bool {
	i := 0
	for i < len(before) && i < len(after) && before[i] == after[i] {
		i++
	}
	for _, null := range []string{"~", "null", "Null", "NULL"} {
		if strings.HasPrefix(before[i:], null) && strings.HasSuffix(after, before[i+len(null):]) &&
			len(after)-len(before[i+len(null):]) > i {
			return true
		}
	}
	return false
}

// isInsertion reports whether long is short with one run of bytes
// inserted.
func isInsertion(short, long string) bool {
	if len(long) < len(short) {
		return false
	}
	i := 0
	for i < len(short) && short[i] == long[i] {
		i++
	}
	return strings.HasSuffix(long, short[i:])
}
