package e2e

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Scenario 6: gatemesh is down. With the shipped failurePolicy: Fail, a
// gateway pod in an opted-in namespace is refused rather than created
// without mTLS, and so is an Upstream write there; pods in other namespaces,
// and pods that are not gateways, are never sent to gatemesh and are created
// as usual, and an Upstream elsewhere is stored as sent (failurePolicy
// Ignore: the reconciler repairs it). When gatemesh is back, the refused pod
// is created injected.
//
// The test stops the suite's gatemesh and starts a new one before it ends,
// whatever happens, so that it can run in any order with the others.
func TestWebhookDown(t *testing.T) {
	c := suite.cp.Client
	optedInNS := namespace(t, "s6-opted-in", optedIn())
	otherNS := namespace(t, "s6-unlabelled", nil)
	upstreamNS := namespace(t, "s6-gateway", nil)

	if err := suite.webhook.Stop(); err != nil {
		t.Fatalf("failed to stop gatemesh: %v", err)
	}
	down := true
	restart := func() {
		t.Helper()
		if !down {
			return
		}
		wh, err := suite.cp.StartWebhook(suite.ctx)
		if err != nil {
			t.Fatalf("failed to restart gatemesh: %v", err)
		}
		suite.webhook, down = wh, false
	}
	t.Cleanup(restart)

	refused := gatewayPod(t, optedInNS)
	refused.GenerateName, refused.Name = "", "gateway-proxy-while-down"

	t.Run("a gateway pod in an opted-in namespace is refused, not created without mTLS", func(t *testing.T) {
		ctx := testCtx(t)
		err := c.Create(ctx, refused.DeepCopy())
		checkRefusedBy(t, err, "pods.gatemesh.io")
		if err := c.Get(ctx, client.ObjectKeyFromObject(refused), &corev1.Pod{}); !apierrors.IsNotFound(err) {
			t.Errorf("pod %s/%s: got %v, want NotFound: it must not be stored", refused.Namespace, refused.Name, err)
		}
	})

	t.Run("an Upstream write in an opted-in namespace is refused, not stored without the mesh's mTLS", func(t *testing.T) {
		ctx := testCtx(t)
		err := c.Create(ctx, upstream("httpbin-while-down", optedInNS, "default"))
		checkRefusedBy(t, err, "backends.gatemesh.io")
	})

	t.Run("an Upstream write elsewhere is stored: an outage does not refuse every Upstream in the cluster", func(t *testing.T) {
		ctx := testCtx(t)
		if err := c.Create(ctx, upstream(unique("httpbin-while-down"), upstreamNS, "default")); err != nil {
			t.Errorf("got %v, want the Upstream created (backends-other.gatemesh.io: failurePolicy Ignore)", err)
		}
	})

	t.Run("the same gateway pod in an unlabelled namespace is created untouched", func(t *testing.T) {
		sent := gatewayPod(t, otherNS)
		checkUntouched(t, sent, createPod(t, sent))
	})

	t.Run("a pod that is not a gateway, in the opted-in namespace, is created untouched", func(t *testing.T) {
		sent := gatewayPod(t, optedInNS)
		sent.Labels["gloo"] = "gloo"
		checkUntouched(t, sent, createPod(t, sent))
	})

	t.Run("an Upstream in kube-system, which gatemesh never sees, is created", func(t *testing.T) {
		ctx := testCtx(t)
		if err := c.Create(ctx, upstream(unique("httpbin-while-down"), "kube-system", "default")); err != nil {
			t.Errorf("got %v, want the Upstream created", err)
		}
	})

	restart()

	t.Run("once gatemesh is back, the refused pod is created injected", func(t *testing.T) {
		checkInjected(t, refused, createPod(t, refused), "istiod.istio-system.svc:15012")
	})
}

// checkRefusedBy reports unless err is the API server refusing a write
// because it could not call the webhook named webhook.
func checkRefusedBy(t *testing.T, err error, webhook string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("the write succeeded while gatemesh was down; want it refused by %s (failurePolicy: Fail)", webhook)
	case !strings.Contains(err.Error(), `failed calling webhook "`+webhook+`"`):
		t.Errorf("got error %q, want the API server failing to call webhook %q", err, webhook)
	default:
		t.Logf("refused as expected: %v", err)
	}
}
