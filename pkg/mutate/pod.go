// Package mutate changes objects the way a policy.Plan says. Every function
// here is pure: it reads only its arguments, never modifies them, and
// returns a changed copy or a patch with a named reason. It does no I/O and
// reads no clock. (A SidecarCache, when one is passed, only remembers what
// would be built anyway; results are the same without it.) Every edit is an
// ensure, so applying a mutation twice gives the same result as applying it
// once.
package mutate

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// semanticEqual compares API objects the way the API server does (quantities
// by value).
func semanticEqual(a, b any) bool { return apiequality.Semantic.DeepEqual(a, b) }

// injectPod ensures plan's sidecars, volumes and annotations on meta and
// spec, which the caller owns. It returns ReasonInjected when that changed
// them, ReasonAlreadyInjected when they already were as ensured, or the
// plan's skip reason; unless it returns ReasonInjected, meta and spec are as
// they were. It also returns the sidecars it ensured (nil if it skipped),
// which cache (may be nil) may share with later calls: spec then shares
// memory with them, and the caller must only read it.
func injectPod(meta *metav1.ObjectMeta, spec *corev1.PodSpec, plan policy.PodPlan, cache *SidecarCache) (policy.Reason, *sidecarSet) {
	if !plan.Inject() {
		return plan.Skip, nil
	}
	set := cache.sidecars(plan)
	status := set.statusFor(meta.Annotations)
	// Each ensure reports whether it changed anything, so an injected pod
	// is recognised without comparing whole pods.
	var changed [5]bool
	spec.Containers = slices.Grow(spec.Containers, 2)
	spec.Volumes = slices.Grow(spec.Volumes, len(set.volumes))
	spec.Containers, changed[0] = ensureContainer(spec.Containers, set.istioProxy)
	spec.Containers, changed[1] = ensureContainer(spec.Containers, set.sds)
	for _, v := range set.volumes {
		var c bool
		spec.Volumes, c = ensureVolume(spec.Volumes, v)
		changed[2] = changed[2] || c
	}
	changed[3] = ensureAnnotation(meta, IstioInjectAnnotation, "false")
	changed[4] = ensureAnnotation(meta, StatusAnnotation, status)
	if !slices.Contains(changed[:], true) {
		return policy.ReasonAlreadyInjected, set
	}
	return policy.ReasonInjected, set
}

// ensureAnnotation sets the annotation key to value and tells whether that
// changed it.
func ensureAnnotation(meta *metav1.ObjectMeta, key, value string) bool {
	if v, ok := meta.Annotations[key]; ok && v == value {
		return false
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[key] = value
	return true
}

func containerIndex(cs []corev1.Container, name string) int {
	for i := range cs {
		if cs[i].Name == name {
			return i
		}
	}
	return -1
}

func volumeIndex(vs []corev1.Volume, name string) int {
	for i := range vs {
		if vs[i].Name == name {
			return i
		}
	}
	return -1
}

// ensureContainer overwrites the container named like c, or appends c, and
// tells whether that changed cs.
func ensureContainer(cs []corev1.Container, c corev1.Container) ([]corev1.Container, bool) {
	if i := containerIndex(cs, c.Name); i >= 0 {
		if semanticEqual(&cs[i], &c) {
			return cs, false
		}
		cs[i] = c
		return cs, true
	}
	return append(cs, c), true
}

// ensureVolume overwrites the volume named like v, or appends v, and tells
// whether that changed vs.
func ensureVolume(vs []corev1.Volume, v corev1.Volume) ([]corev1.Volume, bool) {
	if i := volumeIndex(vs, v.Name); i >= 0 {
		if semanticEqual(&vs[i], &v) {
			return vs, false
		}
		vs[i] = v
		return vs, true
	}
	return append(vs, v), true
}
