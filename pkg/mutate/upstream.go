package mutate

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// upstreamOutside lists the Gloo Upstream types whose targets are cloud
// services, never mesh workloads.
var upstreamOutside = []string{"aws", "awsEc2", "azure", "gcp"}

// Upstream stamps pol's mTLS decision onto a Gloo Upstream (gloo.solo.io/v1).
// When the target is in the mesh it ensures spec.sslConfig is pol's
// UpstreamSSLConfig, the block glooctl istio enable-mtls writes; when the
// decision is disabled, or gatemesh no longer decides, it removes an
// sslConfig it had stamped. It never touches an sslConfig gatemesh did not
// write, nor one edited since. mesh holds the namespaces, among the
// Upstream's targets, that are mesh-enabled.
//
// It returns in itself when nothing changes, else a changed copy, and the
// reason; in is never modified. The error reports a field of the wrong type.
func Upstream(in *unstructured.Unstructured, pol *policy.Policy, mesh sets.Set[string]) (*unstructured.Unstructured, policy.Reason, error) {
	return upstreamStamping.stamp(in, pol, mesh)
}

// upstreamStamping is how an Upstream is read and stamped.
var upstreamStamping = stamping{hostKey: "addr", outside: upstreamOutside, block: upstreamBlock}

func upstreamBlock(pol *policy.Policy) block {
	return block{
		get: func(obj map[string]any) (any, bool, error) {
			return lookup(obj, "spec", "sslConfig")
		},
		set: func(obj map[string]any, v any) {
			ensureObject(obj, "spec")["sslConfig"] = v
		},
		remove: func(obj map[string]any) {
			delete(ensureObject(obj, "spec"), "sslConfig")
		},
		want: func(mode policy.MtlsMode) (any, bool) {
			if mode == policy.MtlsIstio {
				return pol.UpstreamSSLConfig(), true
			}
			return nil, false
		},
		foreign: policy.ReasonUserTLS,
	}
}
