package admit

import (
	"context"

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

// PodHandler injects gateway proxy pods on CREATE. One review flows
// decode (the endpoint reads the pod's head with the review) -> namespace
// lookup -> policy.DecidePod -> mutate.PodPatch -> answer.
type PodHandler struct {
	// Policy decides which pods are injected and with what.
	Policy *policy.Policy
	// Namespaces looks up the pod's namespace labels.
	Namespaces Namespaces

	// sidecars keeps the JSON of the sidecars injected for each plan.
	sidecars mutate.SidecarCache
}

// newPodEndpoint serves h, reading each pod's head with its review.
func newPodEndpoint(h *PodHandler, l *limiter) *endpoint[mutate.PodHead] {
	return &endpoint[mutate.PodHead]{handle: h.handle, readHead: true, limits: l, log: log.Log.WithName("admission")}
}

// handle answers one admission request for a pod whose head the endpoint
// decoded with the review (nil when the object did not decode as a pod).
func (h *PodHandler) handle(ctx context.Context, req admission.Request, head *mutate.PodHead) admission.Response {
	if gvk := gvkOf(req.Kind); gvk != podGVK {
		return admission.Allowed("gatemesh: " + gvk.String() + " is not a kind this webhook handles")
	}
	if req.Operation != admissionv1.Create || req.SubResource != "" {
		return admission.Allowed("gatemesh: only pod creation is mutated")
	}
	if head == nil {
		var err error
		if head, err = mutate.DecodePodHead(req.Object.Raw); err != nil {
			return errored(ctx, err)
		}
	}
	ns, err := h.Namespaces.Namespace(ctx, req.Namespace)
	if err != nil {
		return errored(ctx, err)
	}
	plan := h.Policy.DecidePod(head.Facts(), ns)
	ops, reason, err := mutate.PodPatch(req.Object.Raw, head, plan, &h.sidecars)
	if err != nil {
		return errored(ctx, err)
	}
	log.FromContext(ctx).V(1).Info("Admitted pod", "pod", podRef(req), "changed", len(ops) > 0, "reason", reason)
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
