package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// The suite's one control plane and the gatemesh serving it. TestWebhookDown
// stops gatemesh and starts a new one, so tests reach it through
// suite.webhook only while they run.
var suite struct {
	cp      *ControlPlane
	ctx     context.Context
	webhook *Webhook
}

// testPolicy is the policy the suite serves: the defaults, with the cluster
// and mesh IDs of the seed walkthrough's Helm values (istioMetaClusterId,
// istioMetaMeshId: mycluster), so that the tests see values that come from
// policy rather than from a default.
func testPolicy() (*policy.Policy, error) {
	return policy.New(policy.Config{Mesh: policy.MeshConfig{ClusterID: "mycluster", MeshID: "mycluster"}})
}

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	// Without the binaries every test would fail the same way; say how to
	// get them, once. This is a failure, not a skip: `go test ./...` must
	// not pass without having proved anything.
	if _, err := AssetsDir(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: end-to-end suite: %v\n", err)
		return 1
	}
	pol, err := testPolicy()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: end-to-end suite: %v\n", err)
		return 1
	}
	start := time.Now()
	cp, err := Start(WithPolicy(pol))
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: end-to-end suite: %v\n", err)
		return 1
	}
	defer func() {
		if err := cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "end-to-end suite: %v\n", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wh, err := cp.StartWebhook(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: end-to-end suite: %v\n", err)
		return 1
	}
	suite.cp, suite.ctx, suite.webhook = cp, ctx, wh
	fmt.Fprintf(os.Stderr, "end-to-end suite: kube-apiserver, etcd and gatemesh (%s) ready in %s\n",
		cp.WebhookURL(), time.Since(start).Round(time.Millisecond))
	code := m.Run()
	if err := suite.webhook.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "end-to-end suite: %v\n", err)
	}
	return code
}
