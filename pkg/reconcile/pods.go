package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	crreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// ReasonStalePod is the reason of the Event on the owner of a gateway pod
// injected under an older plan.
const ReasonStalePod = "GatemeshStalePod"

// pods reports, per namespace, the gateway pods injected under an older
// plan: those the current plan would inject differently. It never restarts
// them: that stays the operator's call.
type pods struct {
	pol    *policy.Policy
	reader client.Reader // uncached: pods are listed a page at a time
	cache  client.Reader // namespaces
	page   int64
	events events.EventRecorder

	sidecars mutate.SidecarCache
	optedIn  optedIn
}

var _ crreconcile.Reconciler = (*pods)(nil)

// Reconcile checks the gateway pods of one namespace.
func (p *pods) Reconcile(ctx context.Context, req crreconcile.Request) (crreconcile.Result, error) {
	name := req.Name
	m := namespaceMetadata()
	err := p.cache.Get(ctx, client.ObjectKey{Name: name}, m)
	if apierrors.IsNotFound(err) {
		stalePods.DeleteLabelValues(name)
		p.optedIn.set(name, false)
		return crreconcile.Result{}, nil
	}
	if err != nil {
		return crreconcile.Result{}, fmt.Errorf("failed to get namespace %q: %w", name, err)
	}
	ns := policy.Namespace{Name: name, Labels: m.Labels}
	if enabled := p.pol.NamespaceEnabled(ns); !p.optedIn.set(name, enabled) && !enabled {
		stalePods.DeleteLabelValues(name)
		return crreconcile.Result{}, nil
	}
	stale := 0
	list := &corev1.PodList{}
	for opts := (&client.ListOptions{Namespace: name, Limit: p.page}); ; {
		if err := p.reader.List(ctx, list, opts); err != nil {
			return crreconcile.Result{}, fmt.Errorf("failed to list pods in %q: %w", name, err)
		}
		for i := range list.Items {
			pod := &list.Items[i]
			diff, err := p.difference(pod, ns)
			if err != nil {
				log.FromContext(ctx).Error(err, "Failed to check gateway pod", "pod", client.ObjectKeyFromObject(pod))
				continue
			}
			if diff == "" {
				continue
			}
			stale++
			p.report(ctx, pod, diff)
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	stalePods.WithLabelValues(name).Set(float64(stale))
	return crreconcile.Result{}, nil
}

// difference says how the current plan would inject (or, for kgateway's
// own sidecars, adjust) pod otherwise, or "" when gatemesh did neither, the
// pod is not stale, or it is not gatemesh's to decide.
func (p *pods) difference(pod *corev1.Pod, ns policy.Namespace) (string, error) {
	_, injected := mutate.ParseStatus(pod.Annotations)
	_, adjusted := mutate.ParseAdjusted(pod.Annotations)
	if !injected && !adjusted || pod.DeletionTimestamp != nil {
		return "", nil
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		return "", fmt.Errorf("failed to encode pod: %w", err)
	}
	head, err := mutate.DecodePodHead(raw)
	if err != nil {
		return "", err
	}
	plan := p.pol.DecidePod(head.Facts(), ns)
	if plan.Skip == policy.ReasonNamespaceNotEnabled {
		return "the namespace no longer opts in (" + string(plan.Skip) + "): gatemesh would not inject it now", nil
	}
	ops, _, err := mutate.PodPatch(raw, head, plan, &p.sidecars)
	if err != nil {
		return "", err
	}
	return describe(ops), nil
}

// The JSON pointers of gatemesh's two records on a pod.
var (
	statusPath   = "/metadata/annotations/" + strings.ReplaceAll(mutate.StatusAnnotation, "/", "~1")
	adjustedPath = "/metadata/annotations/" + strings.ReplaceAll(mutate.AdjustedAnnotation, "/", "~1")
)

// elementIndex matches a JSON pointer's segment that is a list index.
var elementIndex = regexp.MustCompile(`^[0-9]+$`)

// describe lists the paths the current plan would change. Removing a
// member of an object is left out: the API server defaults fields gatemesh
// does not write (a container's terminationMessagePath, a port's protocol),
// and the patch would remove them again without any change of plan.
func describe(ops []jsonpatch.Operation) string {
	var changed []string
	for _, op := range ops {
		last := op.Path[strings.LastIndex(op.Path, "/")+1:]
		if op.Operation == "remove" && !elementIndex.MatchString(last) {
			continue
		}
		if op.Path == statusPath || op.Path == adjustedPath {
			continue // the record of a change, not one
		}
		changed = append(changed, op.Operation+" "+op.Path)
	}
	return strings.Join(changed, ", ")
}

// report logs the difference and records an Event on the pod's owner (the
// pod itself when it has none).
func (p *pods) report(ctx context.Context, pod *corev1.Pod, diff string) {
	log.FromContext(ctx).Info("Gateway pod injected under an older plan; restart it to update", "pod", client.ObjectKeyFromObject(pod), "difference", diff)
	if p.events == nil {
		return
	}
	regarding := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			regarding = &corev1.ObjectReference{Kind: ref.Kind, APIVersion: ref.APIVersion, Namespace: pod.Namespace, Name: ref.Name, UID: ref.UID}
		}
	}
	p.events.Eventf(regarding, nil, corev1.EventTypeWarning, ReasonStalePod, "Check",
		"pod %s was injected under an older gatemesh plan; restart it to update (%s)", pod.Name, diff)
}
