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
	disable, err := lookupBool(in.Object, "spec", "disableIstioAutoMtls")
	if err != nil {
		return nil, "", err
	}
	target, err := readTarget(in, pol, "host", backendOutside)
	if err != nil {
		return nil, "", err
	}
	facts := policy.BackendFacts{DisableIstioAutoMtls: disable, Target: target, Mesh: mesh}
	return stamp(in, pol, facts, backendBlock)
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
