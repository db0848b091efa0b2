package mutate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// TestSidecarCacheChangesNothing checks that a patch made with a sidecar
// cache gives the same pod as one made without, on every golden pod, for a
// cold cache and a warm one.
func TestSidecarCacheChangesNothing(t *testing.T) {
	inputs := goldenPodInputs(t)
	pol := defaultPolicy(t)
	var cache SidecarCache
	for _, rev := range []string{"", "1-28"} {
		ns := testNamespaces{"istio.io/rev": rev}.Namespace("ns")
		for _, in := range inputs {
			path, raw := in.path, in.json
			plainOps, plainReason, plainErr := patchPod(raw, pol, ns, nil)
			want := mustApply(t, raw, plainOps)
			for pass := range 2 {
				ops, reason, err := patchPod(raw, pol, ns, &cache)
				if (err == nil) != (plainErr == nil) || reason != plainReason {
					t.Fatalf("%s rev %q pass %d: reason %q, err %v; without the cache %q, %v", path, rev, pass, reason, err, plainReason, plainErr)
				}
				if diff := cmp.Diff(want, mustApply(t, raw, ops)); diff != "" {
					t.Errorf("%s rev %q pass %d: pod with the cache (-without,+with):\n%s", path, rev, pass, diff)
				}
			}
			if plainErr != nil || len(plainOps) == 0 {
				continue
			}
			// Reinvocation: the injected pod, whose sidecars the cache
			// knows byte for byte, and the same pod with one of them
			// edited, which the cache must not take for its own.
			injected, err := strictApply(raw, plainOps)
			if err != nil {
				t.Fatal(err)
			}
			edited := bytes.Replace(injected, []byte(`"--proxyLogLevel=`), []byte(`"--edited","--proxyLogLevel=`), 1)
			for _, again := range [][]byte{injected, edited} {
				plainOps, plainReason, _ := patchPod(again, pol, ns, nil)
				ops, reason, err := patchPod(again, pol, ns, &cache)
				if err != nil || reason != plainReason {
					t.Fatalf("%s rev %q again: reason %q, err %v; without the cache %q", path, rev, reason, err, plainReason)
				}
				if diff := cmp.Diff(mustApply(t, again, plainOps), mustApply(t, again, ops)); diff != "" {
					t.Errorf("%s rev %q again: pod with the cache (-without,+with):\n%s", path, rev, diff)
				}
			}
			if _, reason, _ := patchPod(edited, pol, ns, &cache); !bytes.Equal(edited, injected) && reason != policy.ReasonInjected {
				t.Errorf("%s rev %q: an edited sidecar gave reason %q, want it restored (%q)", path, rev, reason, policy.ReasonInjected)
			}
		}
	}
	if n := cache.len(); n == 0 {
		t.Errorf("the cache holds nothing after %d injections", len(inputs)*4)
	}
}

// mustApply applies ops to raw and decodes the result.
func mustApply(t *testing.T, raw []byte, ops []jsonpatch.Operation) any {
	t.Helper()
	out, err := strictApply(raw, ops)
	if err != nil {
		t.Fatalf("patch does not apply: %v", err)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSidecarCacheIsBounded checks that namespaces with ever new revisions
// cannot grow the cache past its bound.
func TestSidecarCacheIsBounded(t *testing.T) {
	pol := defaultPolicy(t)
	raw := []byte(`{"metadata":{"labels":{"gloo":"gateway-proxy"}},"spec":{"containers":[{"name":"gateway-proxy"}]}}`)
	var cache SidecarCache
	for i := range 3 * maxCachedSidecars {
		ns := testNamespaces{"istio.io/rev": fmt.Sprintf("r%d", i)}.Namespace("ns")
		ops, _, err := patchPod(raw, pol, ns, &cache)
		if err != nil || len(ops) == 0 {
			t.Fatalf("revision %d: %d operations, err %v", i, len(ops), err)
		}
		if !bytes.Contains(mustMarshal(t, ops), []byte(fmt.Sprintf("istiod-r%d.", i))) {
			t.Fatalf("revision %d: the patch does not use its own istiod", i)
		}
	}
	if n := cache.len(); n > maxCachedSidecars {
		t.Errorf("cache holds %d plans, bound is %d", n, maxCachedSidecars)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// len reports how many plans are cached.
func (c *SidecarCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
