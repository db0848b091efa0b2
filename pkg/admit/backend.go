package admit

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// BackendPath is where the backend webhook is served.
const BackendPath = "/mutate-backend"

// BackendHandler stamps the Istio mTLS decision onto Gloo Upstreams
// (gloo.solo.io/v1) and kgateway Backends (gateway.kgateway.dev/v1alpha1) on
// CREATE and UPDATE. One review flows: mutate.ParseBackendObject reads the
// few fields stamping needs; the handler resolves whether the target's
// namespaces are in the mesh; policy.DecideBackend decides; the object's
// Patch carries the plan out as a patch against the raw request, so fields
// gatemesh does not know about are never touched.
type BackendHandler struct {
	// Policy decides whether and what to stamp.
	Policy *policy.Policy
	// Namespaces looks up the labels of the namespaces the backend points
	// at, to tell whether they are in the mesh.
	Namespaces Namespaces
}

var _ admission.Handler = (*BackendHandler)(nil)

// Handle answers one admission request for a backend object. Other kinds
// and versions are allowed unchanged; a malformed object is refused with
// 400, naming the field; any other failure is a 500.
func (h *BackendHandler) Handle(ctx context.Context, req admission.Request) admission.Response {
	gvk := gvkOf(req.Kind)
	if !mutate.Stamps(gvk) {
		log.FromContext(ctx).V(5).Info("Ignoring object of unsupported kind", "kind", gvk.String())
		return withReason(admission.Allowed("gatemesh: "+gvk.String()+" is not a kind this webhook stamps"), policy.ReasonUnsupportedKind)
	}
	if (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) || req.SubResource != "" {
		return admission.Allowed("gatemesh: only creation and update of backends are stamped")
	}
	obj, err := mutate.ParseBackendObject(req.Object.Raw)
	if err != nil {
		return errored(ctx, err)
	}
	if got := obj.GroupVersionKind(); got != gvk {
		return errored(ctx, &mutate.InputError{Problem: fmt.Sprintf("the object is a %s %s but the request is for a %s %s",
			got.GroupVersion(), got.Kind, gvk.GroupVersion(), gvk.Kind)})
	}
	facts := obj.Facts(h.Policy)
	if facts.Target.Kind == policy.TargetServices {
		if facts.TargetInMesh, err = h.inMesh(ctx, facts.Target.Namespaces); err != nil {
			return errored(ctx, err)
		}
	}
	plan := h.Policy.DecideBackend(facts)
	ops, reason, err := obj.Patch(plan)
	if err != nil {
		return errored(ctx, err)
	}
	log.FromContext(ctx).V(1).Info("Admitted backend", "kind", gvk.Kind, "object", objectRef(req), "changed", len(ops) > 0, "reason", reason)
	resp := patched(reason, ops)
	if reason == policy.ReasonStampEdited {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf(
			"gatemesh: the mTLS settings gatemesh stamped on this %s were edited, so gatemesh leaves them alone; remove the %s annotation to make them yours for good",
			gvk.Kind, mutate.MtlsHashAnnotation))
	}
	return resp
}

// inMesh reports whether every namespace in names is in the mesh. It stops
// at the first one that is not. It reads the cache alone, and asks
// h.Namespaces in full (which may ask the API server) about one namespace
// at most, the first the cache is missing: one created a moment ago may not
// be there yet. A second miss is enough to say no. So one review costs at
// most one API call, whatever the number of namespaces, which
// policy.MaxBackendTargets bounds anyway. A namespace that does not exist is
// not in the mesh.
func (h *BackendHandler) inMesh(ctx context.Context, names []string) (bool, error) {
	cached := h.Namespaces
	if c, ok := cached.(cacheOnly); ok {
		cached = c.CacheOnly()
	}
	missing := ""
	for _, name := range names {
		ns, err := cached.Namespace(ctx, name)
		switch {
		case apierrors.IsNotFound(err) && missing == "":
			missing = name
		case apierrors.IsNotFound(err):
			return false, nil
		case err != nil:
			return false, err
		case !h.Policy.InMesh(ns):
			return false, nil
		}
	}
	if missing == "" {
		return true, nil
	}
	ns, err := h.Namespaces.Namespace(ctx, missing)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	return h.Policy.InMesh(ns), nil
}

func withReason(resp admission.Response, reason policy.Reason) admission.Response {
	resp.AuditAnnotations = map[string]string{AuditAnnotation: string(reason)}
	return resp
}

func objectRef(req admission.Request) string {
	if req.Namespace == "" {
		return req.Name
	}
	return req.Namespace + "/" + req.Name
}
