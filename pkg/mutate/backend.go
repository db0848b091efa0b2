package mutate

import (
	"github.com/go-json-experiment/json/jsontext"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// The backend kinds gatemesh stamps mTLS onto. Other versions of these
// kinds are not stamped: their fields may differ.
var (
	// UpstreamGVK is Gloo's Upstream.
	UpstreamGVK = schema.GroupVersionKind{Group: "gloo.solo.io", Version: "v1", Kind: "Upstream"}
	// BackendGVK is kgateway's Backend.
	BackendGVK = schema.GroupVersionKind{Group: "gateway.kgateway.dev", Version: "v1alpha1", Kind: "Backend"}
)

// Stamps reports whether gvk is a backend kind gatemesh stamps.
func Stamps(gvk schema.GroupVersionKind) bool {
	return gvk == UpstreamGVK || gvk == BackendGVK
}

// backendKind is how one kind is read and where gatemesh keeps its decision
// in it.
type backendKind struct {
	policy policy.BackendKind
	// hostKey names a static host's address; host returns it, with the
	// JSON kind of a value that is not a string.
	hostKey string
	host    func(hostEntry) (string, jsontext.Kind)
	// outside lists the spec members whose targets are never mesh
	// workloads.
	outside []string
	// kube: spec.kube names a Kubernetes service. Only Gloo's Upstream has
	// it; on a Backend it is Gloo's shape, which kgateway does not have.
	kube bool
	// blockAnnotation is the annotation that is the block, when the block
	// is an annotation; otherwise the block is spec.sslConfig.
	blockAnnotation string
}

// upstreamKind is a Gloo Upstream (gloo.solo.io/v1). In the mesh gatemesh
// ensures spec.sslConfig is the policy's UpstreamSSLConfig, the block
// glooctl istio enable-mtls writes; outside it, or once gatemesh no longer
// decides, it removes an sslConfig it had stamped. It never touches an
// sslConfig it did not write, nor one edited since. AWS, EC2, Azure and GCP
// Upstreams are outside the cluster.
var upstreamKind = backendKind{
	policy:  policy.KindUpstream,
	hostKey: "addr",
	host:    func(h hostEntry) (string, jsontext.Kind) { return h.Addr, h.AddrKind },
	outside: []string{"aws", "awsEc2", "azure", "gcp"},
	kube:    true,
}

// kgatewayKind is a kgateway Backend (gateway.kgateway.dev/v1alpha1),
// stamped in kgateway's own vocabulary: outside the mesh gatemesh ensures
// the annotation kgateway.dev/disable-istio-auto-mtls: "true"; in the mesh,
// or once gatemesh no longer decides, it removes that annotation if it had
// stamped it. It never touches one the user wrote. The shapes are
// kgateway's own, v2.2.0's CRD and current main's: static (hosts[].host and
// port), aws, dynamicForwardProxy and gcp, exactly one of them. A Backend
// with only spec.kube is Gloo's Upstream shape, which kgateway never had:
// gatemesh leaves it alone, honouring only a spec.disableIstioAutoMtls it
// carries (only offline: kgateway's CRD has neither field).
var kgatewayKind = backendKind{
	policy:          policy.KindBackend,
	hostKey:         "host",
	host:            func(h hostEntry) (string, jsontext.Kind) { return h.Host, h.HostKind },
	outside:         []string{"aws", "gcp", "dynamicForwardProxy"},
	blockAnnotation: KgatewayDisableAutoMtlsAnnotation,
}
