package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"gomodules.xyz/jsonpatch/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	crreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// targetIndex indexes backends by the namespaces of the services they
// target, so that a namespace's change finds exactly the backends whose
// decision depends on it.
const targetIndex = "gatemesh.io/target-namespace"

// backends re-decides the backends of one kind.
type backends struct {
	gvk  schema.GroupVersionKind
	pol  *policy.Policy
	skip []string
	// objects is the backends' cache, namespaces the manager's cache of
	// namespace metadata, the webhook's.
	objects    client.Reader
	namespaces client.Reader
	writer     client.Client // rate-limited, the reconciler's own
	owner      string
}

var _ crreconcile.Reconciler = (*backends)(nil)

func (b *backends) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(b.gvk)
	return u
}

// targetNamespaces is the index function: the namespaces of the services
// the object targets, as the decision reads them. An object gatemesh cannot
// read has none: it is re-decided on its own writes only.
func (b *backends) targetNamespaces(o client.Object) []string {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return nil
	}
	obj, err := mutate.ParseBackendObject(raw)
	if err != nil {
		return nil
	}
	t := obj.Facts(b.pol).Target
	if t.Kind != policy.TargetServices {
		return nil
	}
	return t.Namespaces
}

// forNamespace lists the backends that target namespace ns.
func (b *backends) forNamespace(ctx context.Context, ns string) []crreconcile.Request {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(b.gvk.GroupVersion().WithKind(b.gvk.Kind + "List"))
	if err := b.objects.List(ctx, list, client.MatchingFields{targetIndex: ns}); err != nil {
		log.FromContext(ctx).Error(err, "Failed to list backends targeting a namespace", "kind", b.gvk.Kind, "namespace", ns)
		return nil
	}
	reqs := make([]crreconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, crreconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// Reconcile re-decides one backend exactly as the backend webhook would on
// its next write, and writes the patch if there is one.
func (b *backends) Reconcile(ctx context.Context, req crreconcile.Request) (crreconcile.Result, error) {
	if slices.Contains(b.skip, req.Namespace) {
		return crreconcile.Result{}, nil
	}
	u := b.object()
	if err := b.objects.Get(ctx, req.NamespacedName, u); err != nil {
		return crreconcile.Result{}, client.IgnoreNotFound(err)
	}
	if u.GetDeletionTimestamp() != nil {
		return crreconcile.Result{}, nil
	}
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return crreconcile.Result{}, fmt.Errorf("failed to encode %s: %w", b.gvk.Kind, err)
	}
	ops, reason, err := b.decide(ctx, raw)
	if mutate.IsInputError(err) {
		// The webhook refuses this object's next write; nothing to do.
		log.FromContext(ctx).V(1).Info("Leaving malformed backend", "kind", b.gvk.Kind, "error", err.Error())
		return crreconcile.Result{}, nil
	}
	if err != nil || len(ops) == 0 {
		return crreconcile.Result{}, err
	}
	if err := b.write(ctx, u, ops); err != nil {
		if apierrors.IsNotFound(err) {
			return crreconcile.Result{}, nil
		}
		if apierrors.IsInvalid(err) || apierrors.IsConflict(err) {
			// The object changed since the cache saw it (the patch's
			// test failed): the update event re-decides it, and retrying
			// now would only fail again. An object the API server finds
			// invalid is re-decided on its next write, as by the webhook.
			conflictsTotal.WithLabelValues(b.gvk.Kind).Inc()
			log.FromContext(ctx).V(1).Info("Backend changed while being re-decided", "kind", b.gvk.Kind, "error", err.Error())
			return crreconcile.Result{}, nil
		}
		return crreconcile.Result{}, err
	}
	writesTotal.WithLabelValues(b.gvk.Kind, string(reason)).Inc()
	log.FromContext(ctx).Info("Re-stamped backend", "kind", b.gvk.Kind, "reason", reason, "readVersion", u.GetResourceVersion())
	return crreconcile.Result{}, nil
}

// decide runs the backend webhook's path on raw: parse, facts, whether the
// target namespaces are in the mesh, the decision, the patch.
func (b *backends) decide(ctx context.Context, raw []byte) ([]jsonpatch.Operation, policy.Reason, error) {
	obj, err := mutate.ParseBackendObject(raw)
	if err != nil {
		return nil, "", err
	}
	facts := obj.Facts(b.pol)
	if facts.Target.Kind == policy.TargetServices {
		if facts.TargetInMesh, err = b.inMesh(ctx, facts.Target.Namespaces); err != nil {
			return nil, "", err
		}
	}
	return obj.Patch(b.pol.DecideBackend(facts))
}

// inMesh reports whether every namespace in names is in the mesh, from the
// synced namespace cache: a namespace missing from it does not exist, and is
// not in the mesh.
func (b *backends) inMesh(ctx context.Context, names []string) (bool, error) {
	for _, name := range names {
		m := namespaceMetadata()
		err := b.namespaces.Get(ctx, client.ObjectKey{Name: name}, m)
		switch {
		case apierrors.IsNotFound(err):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("failed to get namespace %q: %w", name, err)
		case !b.pol.InMesh(policy.Namespace{Name: name, Labels: m.Labels}):
			return false, nil
		}
	}
	return true, nil
}

// write sends ops as a patch guarded by the resourceVersion the decision
// was made on.
func (b *backends) write(ctx context.Context, u *unstructured.Unstructured, ops []jsonpatch.Operation) error {
	target := b.object()
	target.SetNamespace(u.GetNamespace())
	target.SetName(u.GetName())
	target.SetResourceVersion(u.GetResourceVersion())
	return guardedPatch(ctx, b.writer, target, ops, b.owner)
}

// guardedPatch sends ops as a JSON patch that first tests obj's
// resourceVersion, the one the decision was made on, so that a concurrent
// write is never overwritten: the API server refuses the patch (422,
// IsInvalid) and the object is re-decided.
func guardedPatch(ctx context.Context, c client.Client, obj client.Object, ops []jsonpatch.Operation, owner string) error {
	guarded := append([]jsonpatch.Operation{
		jsonpatch.NewOperation("test", "/metadata/resourceVersion", obj.GetResourceVersion()),
	}, ops...)
	body, err := json.Marshal(guarded)
	if err != nil {
		return fmt.Errorf("internal error: failed to encode patch: %w", err)
	}
	if err := c.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, body), client.FieldOwner(owner)); err != nil {
		return fmt.Errorf("failed to patch %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// namespaceMetadata is a namespace's metadata, as the webhook's namespace
// cache holds it.
func namespaceMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	return m
}
