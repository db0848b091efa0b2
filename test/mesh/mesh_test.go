package mesh

import (
	"flag"
	"testing"
	"time"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

var (
	flagRotations   = flag.Int("mesh.rotations", 3, "certificate rotations each gateway must go through")
	flagSecretTTL   = flag.Duration("mesh.secret-ttl", 20*time.Second, "SECRET_TTL given to the agent; it rotates every half TTL")
	flagKeep        = flag.Bool("mesh.keep", false, "keep the suite's directory (logs, volumes) even when it passes")
	flagKgatewaySDS = flag.String("mesh.kgateway-sds", "gloo",
		"sds build the policy gives kgateway pods: gloo (Gloo's fixed server, the proposed default) or kgateway (kgateway's own, which has the rotation defect)")
)

// kgatewayFlavourImage is the sds image the suite's policy gives kgateway
// pods: Gloo's, unless -mesh.kgateway-sds=kgateway. kgateway v2.2.0's sds
// reads key.pem and cert-chain.pem without checking they match, and during
// rotations pushes a key that does not match its certificate (the defect
// Gloo fixed in v1.20.14); no later kgateway is on the module proxy. Gloo's
// server reads the same files, listens on the same port and serves the
// same two secrets to the same node ID, so it serves kgateway pods as well.
func kgatewayFlavourImage(b *binaries) string {
	if *flagKgatewaySDS == "kgateway" {
		return b.kgatewayImage
	}
	return b.glooImage
}

// TestGlooGateway: a Gloo gateway-proxy pod, injected by gatemesh, gets its
// workload certificate from istiod, and Gloo's sds serves it through
// rotations.
func TestGlooGateway(t *testing.T) {
	runGateway(t, gateway{
		namespace: "gloo-gateways",
		labels:    map[string]string{"gloo": "gateway-proxy", "gateway-proxy-id": "gateway-proxy"},
		sdsImage:  suite.bins.glooImage,
	})
}

// TestKgatewayGateway: the same for a kgateway proxy pod and kgateway's sds.
func TestKgatewayGateway(t *testing.T) {
	runGateway(t, gateway{
		namespace: "kgateway-gateways",
		labels:    map[string]string{"kgateway": "kube-gateway", "gateway.networking.k8s.io/gateway-name": "http"},
		sdsImage:  kgatewayFlavourImage(suite.bins),
	})
}

// TestRevisionGateway: in a namespace labelled istio.io/rev, the agent
// gets its certificate from that revision's istiod, not the default one.
func TestRevisionGateway(t *testing.T) {
	runGateway(t, gateway{
		namespace: "canary-gateways",
		labels:    map[string]string{"gloo": "gateway-proxy", "gateway-proxy-id": "gateway-proxy"},
		revision:  revision,
		sdsImage:  suite.bins.glooImage,
	})
}

// TestDefaultSDSImagesAreProven: gatemesh's default sds images are the
// ones this suite proves, so that what ships is what was run.
func TestDefaultSDSImagesAreProven(t *testing.T) {
	def := policy.Default().SDS
	if def.GlooImage != suite.bins.glooImage {
		t.Errorf("policy.DefaultGlooSDSImage is %s; the suite proves %s (set it in pkg/policy/defaults.go)", def.GlooImage, suite.bins.glooImage)
	}
	if want := suite.bins.glooImage; def.KgatewayImage != want {
		t.Errorf("policy.DefaultKgatewaySDSImage is %s; the suite proves %s for kgateway pods (set it in pkg/policy/defaults.go)", def.KgatewayImage, want)
	}
}
