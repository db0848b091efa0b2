package mutate

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// backendOutside lists the kgateway Backend types whose targets are never
// mesh workloads.
var backendOutside = []string{"aws", "gcp", "dynamicForwardProxy"}

// kgatewayDisabled is the value of KgatewayDisableAutoMtlsAnnotation that
// turns Istio auto-mTLS off.
const kgatewayDisabled = "true"

// Backend stamps pol's mTLS decision onto a kgateway Backend
// (gateway.kgateway.dev/v1alpha1), in kgateway's own vocabulary: when the
// decision is disabled it ensures the annotation
// kgateway.dev/disable-istio-auto-mtls: "true"; when the target is in the
// mesh, or gatemesh no longer decides, it removes that annotation if
// gatemesh had stamped it. It never touches one the user wrote. Both API
// shapes are read: the older spec.kube with spec.disableIstioAutoMtls, and
// the current static, aws, gcp and dynamicForwardProxy. mesh holds the
// namespaces, among the Backend's targets, that are mesh-enabled.
//
// It returns in itself when nothing changes, else a changed copy, and the
// reason; in is never modified. The error reports a field of the wrong type.
func Backend(in *unstructured.Unstructured, pol *policy.Policy, mesh sets.Set[string]) (*unstructured.Unstructured, policy.Reason, error) {
	return backendStamping.stamp(in, pol, mesh)
}

// backendStamping is how a kgateway Backend is read and stamped.
var backendStamping = stamping{hostKey: "host", outside: backendOutside, block: func(*policy.Policy) block { return backendBlock }}

// stamping is how one kind is read and stamped: the key of its targets'
// hosts, its types whose targets are outside the cluster, and the block
// gatemesh owns on it.
type stamping struct {
	hostKey string
	outside []string
	block   func(*policy.Policy) block
}

// facts reads what the policy decides on from in.
func (k stamping) facts(in *unstructured.Unstructured, pol *policy.Policy) (disable bool, target policy.Target, err error) {
	if disable, err = lookupBool(in.Object, "spec", "disableIstioAutoMtls"); err != nil {
		return false, policy.Target{}, err
	}
	target, err = readTarget(in, pol, k.hostKey, k.outside)
	return disable, target, err
}

// stamp reads in's facts and stamps it.
func (k stamping) stamp(in *unstructured.Unstructured, pol *policy.Policy, mesh sets.Set[string]) (*unstructured.Unstructured, policy.Reason, error) {
	disable, target, err := k.facts(in, pol)
	if err != nil {
		return nil, "", err
	}
	facts := policy.BackendFacts{DisableIstioAutoMtls: disable, Target: target, Mesh: mesh}
	return stamp(in, pol, facts, k.block(pol))
}

var backendBlock = block{
	get: func(obj map[string]any) (any, bool, error) {
		return lookup(obj, "metadata", "annotations", KgatewayDisableAutoMtlsAnnotation)
	},
	set: func(obj map[string]any, v any) {
		ensureObject(obj, "metadata", "annotations")[KgatewayDisableAutoMtlsAnnotation] = v
	},
	remove: func(obj map[string]any) {
		delete(ensureObject(obj, "metadata", "annotations"), KgatewayDisableAutoMtlsAnnotation)
	},
	want: func(mode policy.MtlsMode) (any, bool) {
		if mode == policy.MtlsDisabled {
			return kgatewayDisabled, true
		}
		return nil, false
	},
	foreign: policy.ReasonUserAnnotation,
}
