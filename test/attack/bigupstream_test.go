package attack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The large backend: a Gloo Upstream of about bigUpstreamBytes of JSON,
// made of spec.static.hosts entries, which Gloo's schema keeps, created
// through the API server, which sends it whole to the webhook.
const (
	bigUpstreamBytes = 3_000_000 // under the API server's 3 MiB request cap
	// bigUpstreamBoundMiB bounds the webhook's peak RSS.
	bigUpstreamBoundMiB = 128
	// reviewWait bounds how long the suite waits for the webhook's metrics
	// to show a review after the API server has answered.
	reviewWait = 10 * time.Second
)

// TestLargeUpstream creates a ~3 MB Upstream through the API server, with
// Gloo's real CRD: the webhook must review it, and its peak RSS must stay
// under bigUpstreamBoundMiB. Whether etcd then stores an object this large
// does not matter here.
func TestLargeUpstream(t *testing.T) {
	w := startWebhook(t)
	basePeak, _ := w.memory(t)

	// Short hosts make the most JSON values per byte, the decoder's work.
	const entry = len(`{"addr":"h000000","port":80},`)
	hosts := make([]string, bigUpstreamBytes/entry)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%06d", i)
	}
	up := staticUpstream("large", hosts)
	data, err := json.Marshal(up.Object)
	if err != nil {
		t.Fatalf("internal error: failed to encode the Upstream: %v", err)
	}
	size, hostCount := len(data), len(hosts)

	reviewed := func() float64 {
		return w.metric(t, "gatemesh_mutations_total", `kind="upstream"`) + w.metric(t, "gatemesh_refused_total")
	}
	before := reviewed()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	createErr := suite.cp.Client.Create(ctx, up)
	took := time.Since(start)

	deadline := time.Now().Add(reviewWait)
	for reviewed() == before && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	after := reviewed()
	peak, rss := w.memory(t)
	t.Logf("large Upstream: %d bytes of JSON, %d static hosts, created through the API server in %s: "+
		"peak RSS %.1f MiB (bound %d MiB; %.1f MiB before, %.1f MiB now); reviews counted %.0f; create: %s",
		size, hostCount, took.Round(time.Millisecond),
		peak, bigUpstreamBoundMiB, basePeak, rss, after-before, outcome(createErr))
	if after == before {
		t.Errorf("large Upstream: the webhook never reviewed it (gatemesh_mutations_total{kind=\"upstream\"} and "+
			"gatemesh_refused_total unchanged); create: %s; webhook log:\n%s", outcome(createErr), w.log())
	}
	if peak >= bigUpstreamBoundMiB {
		t.Errorf("large Upstream: the webhook's peak RSS is %.1f MiB, over the bound of %d MiB", peak, bigUpstreamBoundMiB)
	}
}

// outcome describes the API server's answer to a write, shortly.
func outcome(err error) string {
	if err == nil {
		return "stored"
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return "refused: " + strings.ReplaceAll(msg, "\n", " ")
}
