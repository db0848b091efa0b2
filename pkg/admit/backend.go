package admit

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// BackendPath is where the backend webhook is served.
const BackendPath = "/mutate-backend"

// BackendHandler stamps the Istio mTLS decision onto Gloo Upstreams
// (gloo.solo.io/v1) and kgateway Backends (gateway.kgateway.dev/v1alpha1) on
// CREATE and UPDATE. These kinds are not gatemesh's, so they are handled as
// unstructured objects and the patch is a diff against the raw request:
// fields gatemesh does not know about are never touched.
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
// 400.
func (h *BackendHandler) Handle(ctx context.Context, req admission.Request) admission.Response {
	logger := log.FromContext(ctx)
	gvk := gvkOf(req.Kind)
	if !mutate.Stamps(gvk) {
		logger.Info("Ignoring object of unsupported kind", "kind", gvk.String(), "reason", policy.ReasonUnsupportedKind)
		return withReason(admission.Allowed("gatemesh: "+gvk.String()+" is not a kind this webhook stamps"), policy.ReasonUnsupportedKind)
	}
	if (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) || req.SubResource != "" {
		return admission.Allowed("gatemesh: only creation and update of backends are stamped")
	}
	obj, err := mutate.ParseBackendObject(req.Object.Raw, h.Policy)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if got := obj.GroupVersionKind(); got != gvk {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("the object is a %s but the request is for a %s", got, gvk))
	}
	mesh, err := h.mesh(ctx, obj.Target())
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	// ParseBackendObject checked every field Patch reads, so an error here
	// is gatemesh's.
	ops, reason, err := obj.Patch(h.Policy, mesh)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	logger.V(1).Info("Admitted backend", "kind", gvk.Kind, "object", objectRef(req), "changed", len(ops) > 0, "reason", reason)
	resp := patched(reason, ops)
	if reason == policy.ReasonStampEdited {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf(
			"gatemesh: the mTLS settings gatemesh stamped on this %s were edited, so gatemesh leaves them alone; remove the %s annotation to make them yours for good",
			gvk.Kind, mutate.MtlsHashAnnotation))
	}
	return resp
}

// mesh returns the namespaces among namespaces that are in the mesh. A
// namespace that does not exist is not in the mesh.
func (h *BackendHandler) mesh(ctx context.Context, t policy.Target) (sets.Set[string], error) {
	mesh := sets.New[string]()
	for _, name := range t.Namespaces {
		ns, err := h.Namespaces.Namespace(ctx, name)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, err
		case h.Policy.InMesh(ns):
			mesh.Insert(name)
		}
	}
	return mesh, nil
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
