package attack

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatemesh/gatemesh/test/e2e"
)

// lookupNamespaces is how many namespaces one static Upstream names.
const lookupNamespaces = 1000

// TestLookupAmplification creates static Upstreams whose hosts name
// lookupNamespaces distinct namespaces, as svc.<ns>.svc.cluster.local,
// after the webhook's namespace cache has synced: each review may cost at
// most one API call, counted from the webhook's own
// rest_client_requests_total. "mesh" names namespaces that exist and are in
// the mesh (every one must be read, from the cache); "missing" names
// namespaces that do not exist (which the synced cache already answers).
func TestLookupAmplification(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	for i := range lookupNamespaces {
		if err := e2e.EnsureNamespace(ctx, suite.cp.Client, fmt.Sprintf("mesh-%d", i),
			map[string]string{"istio-injection": "enabled"}); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	t.Logf("setup: %d mesh namespaces in %s", lookupNamespaces, time.Since(start).Round(time.Millisecond))
	// The reconciler, which serve runs by default, renews its Lease and
	// watches with the same client, and the process's
	// rest_client_requests_total counts every call: without it, every call
	// counted is the reviews'.
	w := startWebhook(t, "--reconcile=false")

	for _, tc := range []struct{ name, prefix string }{
		{"mesh", "mesh-"},
		{"missing", "gone-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hosts := make([]string, lookupNamespaces)
			for i := range hosts {
				hosts[i] = fmt.Sprintf("svc.%s%d.svc.cluster.local", tc.prefix, i)
			}
			reviewed := func() float64 { return w.metric(t, "gatemesh_mutations_total", `kind="upstream"`) }
			beforeCalls, beforeReviews := w.metric(t, "rest_client_requests_total"), reviewed()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			up := staticUpstream("lookups-"+tc.name, hosts)
			createErr := suite.cp.Client.Create(ctx, up)
			t.Cleanup(func() { _ = suite.cp.Client.Delete(context.Background(), up) })
			took := time.Since(start)
			deadline := time.Now().Add(reviewWait)
			for reviewed() == beforeReviews && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			// Calls a handler makes after the API server gave up on it
			// still count.
			time.Sleep(time.Second)
			calls := w.metric(t, "rest_client_requests_total") - beforeCalls
			t.Logf("lookup amplification (%s): a static Upstream naming %d namespaces cost %.0f API calls "+
				"(bound 1) and was answered in %s; create: %s",
				tc.name, lookupNamespaces, calls, took.Round(time.Millisecond), outcome(createErr))
			if reviewed() == beforeReviews {
				t.Errorf("lookup amplification (%s): the webhook did not finish reviewing the Upstream within %s of the API server's answer",
					tc.name, reviewWait)
			}
			if calls > 1 {
				t.Errorf("lookup amplification (%s): one review cost %.0f API calls, over the bound of 1", tc.name, calls)
			}
		})
	}
}
