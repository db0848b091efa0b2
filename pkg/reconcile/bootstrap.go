package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	crreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// bootstraps re-decides the gateways' Envoy bootstrap ConfigMaps of a
// namespace whose opt-in changed, as the bootstrap webhooks would on their
// next write: the SDS cluster is added when the namespace opts in, and the
// cluster gatemesh added is removed when it opts out.
type bootstraps struct {
	pol        *policy.Policy
	reader     client.Reader // uncached: ConfigMaps are listed a page at a time
	namespaces client.Reader // the manager's cache
	writer     client.Client
	owner      string
	page       int64
	optedIn    optedIn
}

var _ crreconcile.Reconciler = (*bootstraps)(nil)

// isBootstrap: the ConfigMaps the bootstrap webhooks are sent (their match
// conditions, mutate.BootstrapMatchCondition and
// mutate.BootstrapMarkedMatchCondition).
func isBootstrap(cm *corev1.ConfigMap) bool {
	_, marked := cm.Annotations[mutate.BootstrapClusterAnnotation]
	return marked || strings.Contains(cm.Data[mutate.BootstrapKey], "static_resources")
}

// Reconcile re-decides the bootstraps of one namespace. A namespace that
// is not opted in is read only if it was when last seen, to remove the
// cluster gatemesh added.
func (b *bootstraps) Reconcile(ctx context.Context, req crreconcile.Request) (crreconcile.Result, error) {
	m := namespaceMetadata()
	err := b.namespaces.Get(ctx, client.ObjectKey{Name: req.Name}, m)
	if apierrors.IsNotFound(err) {
		b.optedIn.set(req.Name, false)
		return crreconcile.Result{}, nil
	}
	if err != nil {
		return crreconcile.Result{}, fmt.Errorf("failed to get namespace %q: %w", req.Name, err)
	}
	ns := policy.Namespace{Name: req.Name, Labels: m.Labels}
	plan, _ := b.pol.DecideBootstrap(ns)
	if was := b.optedIn.set(req.Name, plan != nil); plan == nil && !was {
		return crreconcile.Result{}, nil
	}
	list := &corev1.ConfigMapList{}
	retry := false
	for opts := (&client.ListOptions{Namespace: req.Name, Limit: b.page}); ; {
		if err := b.reader.List(ctx, list, opts); err != nil {
			return crreconcile.Result{}, fmt.Errorf("failed to list ConfigMaps in %q: %w", req.Name, err)
		}
		for i := range list.Items {
			cm := &list.Items[i]
			if !isBootstrap(cm) {
				continue
			}
			if err := b.one(ctx, cm, plan); apierrors.IsInvalid(err) || apierrors.IsConflict(err) {
				conflictsTotal.WithLabelValues("ConfigMap").Inc()
				retry = true
			} else if err != nil {
				return crreconcile.Result{}, err
			}
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	if retry {
		// ConfigMaps' own writes do not bring their namespace back here:
		// retry, with the controller's backoff.
		b.optedIn.set(req.Name, true) // read once more, whatever the label
		return crreconcile.Result{}, fmt.Errorf("bootstrap ConfigMaps in %q changed while being re-decided; retrying", req.Name)
	}
	return crreconcile.Result{}, nil
}

// one re-decides one bootstrap ConfigMap with the webhook's path.
func (b *bootstraps) one(ctx context.Context, cm *corev1.ConfigMap, plan *policy.BootstrapPlan) error {
	cm.APIVersion, cm.Kind = "v1", "ConfigMap"
	raw, err := json.Marshal(cm)
	if err != nil {
		return fmt.Errorf("failed to encode ConfigMap: %w", err)
	}
	ops, reason, err := mutate.BootstrapPatch(raw, plan)
	if mutate.IsInputError(err) {
		log.FromContext(ctx).V(1).Info("Leaving bootstrap gatemesh cannot edit", "configMap", client.ObjectKeyFromObject(cm), "reason", reason, "error", err.Error())
		return nil
	}
	if err != nil || len(ops) == 0 {
		return err
	}
	if err := guardedPatch(ctx, b.writer, cm, ops, b.owner); err != nil {
		return client.IgnoreNotFound(err)
	}
	writesTotal.WithLabelValues("ConfigMap", string(reason)).Inc()
	log.FromContext(ctx).Info("Re-decided gateway bootstrap", "configMap", client.ObjectKeyFromObject(cm), "reason", reason)
	return nil
}
