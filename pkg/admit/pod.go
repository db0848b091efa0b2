package admit

import (
	"context"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// PodPath is where the pod webhook is served.
const PodPath = "/mutate-pod"

// AuditAnnotation is the key of the audit annotation that carries the
// decision's reason; the API server prefixes it with the webhook's name.
const AuditAnnotation = "reason"

var podGVK = corev1.SchemeGroupVersion.WithKind("Pod")

// PodHandler injects gateway proxy pods on CREATE.
type PodHandler struct {
	// Policy decides which pods are injected and with what.
	Policy *policy.Policy
	// Namespaces looks up the pod's namespace labels.
	Namespaces Namespaces

	// sidecars keeps the JSON of the sidecars injected for each plan.
	sidecars mutate.SidecarCache
}

var _ admission.Handler = (*PodHandler)(nil)

// newHead has the endpoint decode the pod's head with the review.
func (*PodHandler) newHead() any { return new(mutate.PodHead) }

// Handle answers one admission request for a pod.
func (h *PodHandler) Handle(ctx context.Context, req admission.Request) admission.Response {
	logger := log.FromContext(ctx)
	if gvk := gvkOf(req.Kind); gvk != podGVK {
		logger.Info("Ignoring object of unsupported kind", "kind", gvk.String())
		return admission.Allowed("gatemesh: " + gvk.String() + " is not a kind this webhook handles")
	}
	if req.Operation != admissionv1.Create || req.SubResource != "" {
		return admission.Allowed("gatemesh: only pod creation is mutated")
	}
	ns, err := h.Namespaces.Namespace(ctx, req.Namespace)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	head, _ := objectHead(ctx).(*mutate.PodHead)
	ops, reason, err := mutate.PodPatchHead(req.Object.Raw, head, h.Policy, ns, &h.sidecars)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	logger.V(1).Info("Admitted pod", "pod", podRef(req), "changed", len(ops) > 0, "reason", reason)
	return patched(reason, ops)
}

func gvkOf(k metav1.GroupVersionKind) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
}

// podRef names the pod for logs; a pod created by a controller has only a
// generateName at admission.
func podRef(req admission.Request) string {
	if req.Name != "" {
		return req.Namespace + "/" + req.Name
	}
	return req.Namespace + "/(generated)"
}
