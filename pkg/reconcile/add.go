package reconcile

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	crreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Add adds the reconciler to mgr, gatemesh's manager (admit.Server's): one
// controller per backend kind whose CRD the API server serves, the stale
// gateway pod report, and the gateways' bootstrap ConfigMaps. They run on
// the elected leader only; with the manager's leader election off, on every
// replica. A kind whose CRD is not installed is skipped, and logged: install
// it and restart gatemesh to reconcile it.
func Add(mgr manager.Manager, o Options) error {
	if o.Policy == nil {
		return errors.New("internal error: reconcile.Add needs a policy")
	}
	o = o.withDefaults()
	cfg := *mgr.GetConfig()
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	cfg.RateLimiter = nil
	writer, err := client.New(&cfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("failed to create the reconciler's client: %w", err)
	}
	logger := mgr.GetLogger().WithName("reconcile")
	var objects cache.Cache
	for _, gvk := range []schema.GroupVersionKind{mutate.UpstreamGVK, mutate.BackendGVK} {
		if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			if meta.IsNoMatchError(err) {
				logger.Info("Skipping a backend kind whose CRD is not installed", "kind", gvk.Kind, "apiVersion", gvk.GroupVersion().String())
				continue
			}
			return fmt.Errorf("failed to look up %s: %w", gvk.Kind, err)
		}
		if objects == nil {
			if objects, err = backendCache(mgr); err != nil {
				return err
			}
		}
		b := &backends{gvk: gvk, pol: o.Policy, skip: o.SkipNamespaces, objects: objects, namespaces: mgr.GetCache(),
			writer: writer, owner: o.FieldManager}
		if err := addBackends(mgr, b, objects, o); err != nil {
			return err
		}
		logger.Info("Reconciling backends", "kind", gvk.Kind)
	}
	p := &pods{pol: o.Policy, reader: mgr.GetAPIReader(), cache: mgr.GetCache(), page: o.PodScanPageSize,
		events: mgr.GetEventRecorder("gatemesh")}
	err = builder.ControllerManagedBy(mgr).
		Named("gatemesh-stale-pods").
		WithOptions(controller.Options{SkipNameValidation: ptr.To(o.SkipNameValidation)}).
		WatchesRawSource(source.Kind(mgr.GetCache(), client.Object(namespaceMetadata()),
			&handler.EnqueueRequestForObject{}, labelsChanged(o.Policy, podLabelsChanged))).
		Complete(p)
	if err != nil {
		return fmt.Errorf("failed to set up the stale pod report: %w", err)
	}
	bs := &bootstraps{pol: o.Policy, reader: mgr.GetAPIReader(), namespaces: mgr.GetCache(), writer: writer,
		owner: o.FieldManager, page: o.PodScanPageSize}
	err = builder.ControllerManagedBy(mgr).
		Named("gatemesh-bootstrap").
		WithOptions(controller.Options{SkipNameValidation: ptr.To(o.SkipNameValidation)}).
		WatchesRawSource(source.Kind(mgr.GetCache(), client.Object(namespaceMetadata()),
			&handler.EnqueueRequestForObject{}, labelsChanged(o.Policy, optInChanged))).
		Complete(bs)
	if err != nil {
		return fmt.Errorf("failed to set up the bootstrap reconciler: %w", err)
	}
	return nil
}

// optInChanged: the namespace opted in to gatemesh or out, which is all a
// bootstrap's decision reads of it.
func optInChanged(pol *policy.Policy, before, after policy.Namespace) bool {
	return pol.NamespaceEnabled(before) != pol.NamespaceEnabled(after)
}

// backendCache is the cache of the backends, apart from the manager's: it
// runs on the leader only, so the other replicas hold no backends, and it
// drops what the decision never reads (managedFields, status), which is
// most of a stamped object's memory.
func backendCache(mgr manager.Manager) (cache.Cache, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
		DefaultTransform: stripUnread,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create the backend cache: %w", err)
	}
	if err := mgr.Add(leaderOnly{c}); err != nil {
		return nil, fmt.Errorf("failed to add the backend cache: %w", err)
	}
	return c, nil
}

// stripUnread drops a backend's managedFields and status.
func stripUnread(obj any) (any, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
		delete(u.Object, "status")
	}
	return obj, nil
}

// leaderOnly runs a cache on the elected leader only.
type leaderOnly struct{ c cache.Cache }

var _ manager.LeaderElectionRunnable = leaderOnly{}

func (l leaderOnly) Start(ctx context.Context) error { return l.c.Start(ctx) }
func (leaderOnly) NeedLeaderElection() bool          { return true }

func addBackends(mgr manager.Manager, b *backends, objects cache.Cache, o Options) error {
	if err := objects.IndexField(context.Background(), b.object(), targetIndex, b.targetNamespaces); err != nil {
		return fmt.Errorf("failed to index %s by target namespace: %w", b.gvk.Kind, err)
	}
	byNamespace := handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, ns client.Object) []crreconcile.Request {
		return b.forNamespace(ctx, ns.GetName())
	})
	err := builder.ControllerManagedBy(mgr).
		Named("gatemesh-" + b.gvk.Kind).
		WithOptions(controller.Options{MaxConcurrentReconciles: o.Workers, SkipNameValidation: ptr.To(o.SkipNameValidation)}).
		WatchesRawSource(source.Kind(objects, client.Object(b.object()), &handler.EnqueueRequestForObject{})).
		WatchesRawSource(source.Kind(mgr.GetCache(), client.Object(namespaceMetadata()), byNamespace,
			labelsChanged(o.Policy, meshChanged))).
		Complete(b)
	if err != nil {
		return fmt.Errorf("failed to set up the %s reconciler: %w", b.gvk.Kind, err)
	}
	return nil
}

// meshChanged: whether a namespace is in the mesh changed, which is all a
// backend's decision reads of it.
func meshChanged(pol *policy.Policy, before, after policy.Namespace) bool {
	return pol.InMesh(before) != pol.InMesh(after)
}

// podLabelsChanged: a label a gateway pod's plan reads changed: the opt-in,
// or the revision that picks the istiod pods talk to.
func podLabelsChanged(pol *policy.Policy, before, after policy.Namespace) bool {
	return pol.NamespaceEnabled(before) != pol.NamespaceEnabled(after) ||
		pol.DiscoveryAddress(before) != pol.DiscoveryAddress(after)
}

// labelsChanged passes a namespace's creation and deletion, which the
// startup's initial list is made of, and the updates that change changed
// says matter.
func labelsChanged(pol *policy.Policy, changed func(*policy.Policy, policy.Namespace, policy.Namespace) bool) predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			before := policy.Namespace{Name: e.ObjectOld.GetName(), Labels: e.ObjectOld.GetLabels()}
			after := policy.Namespace{Name: e.ObjectNew.GetName(), Labels: e.ObjectNew.GetLabels()}
			return changed(pol, before, after)
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}
