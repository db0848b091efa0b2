// Package mutate changes objects the way gatemesh's policy says. Every
// function here is pure: it reads only its arguments, never modifies them,
// and returns a changed copy with a named reason. (A SidecarCache, when one
// is passed, only remembers what would be built anyway; results are the
// same without it.) Every edit is an ensure, so applying a mutation twice
// gives the same result as applying it once.
package mutate

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Pod returns pod injected with istio-proxy and sds when pol says so, and the
// reason for the outcome. The input is not modified; when the reason does not
// change the pod, the returned pod is the input itself.
func Pod(pod *corev1.Pod, pol *policy.Policy, ns policy.Namespace) (*corev1.Pod, policy.Reason) {
	out := pod.DeepCopy()
	reason, _ := injectPod(&out.ObjectMeta, &out.Spec, pod.Labels, pol, ns, nil)
	if !reason.Changes() {
		return pod, reason
	}
	return out, reason
}

// PodTemplate is Pod for the pod template of a workload (a Deployment,
// DaemonSet or StatefulSet), in namespace ns.
func PodTemplate(tmpl *corev1.PodTemplateSpec, pol *policy.Policy, ns policy.Namespace) (*corev1.PodTemplateSpec, policy.Reason) {
	out := tmpl.DeepCopy()
	reason, _ := injectPod(&out.ObjectMeta, &out.Spec, tmpl.Labels, pol, ns, nil)
	if !reason.Changes() {
		return tmpl, reason
	}
	return out, reason
}

// semanticEqual compares API objects the way the API server does (quantities
// by value).
func semanticEqual(a, b any) bool { return apiequality.Semantic.DeepEqual(a, b) }

// injectPod ensures the sidecars, volumes and annotations on meta and spec,
// which the caller owns. It returns ReasonInjected when that changed them,
// ReasonAlreadyInjected when they already were as ensured, or a skip reason;
// unless it returns ReasonInjected, meta and spec are as they were. It also
// returns the sidecars it ensured (nil if it skipped), which cache (may be
// nil) may share with later calls: spec then shares memory with them, and
// the caller must only read it.
func injectPod(meta *metav1.ObjectMeta, spec *corev1.PodSpec, podLabels map[string]string, pol *policy.Policy, ns policy.Namespace, cache *SidecarCache) (policy.Reason, *sidecarSet) {
	key, skip := pol.PodPlanKey(podLabels, ns)
	if key == "" {
		return skip, nil
	}
	prior, _ := ParseStatus(meta.Annotations)
	if i := containerIndex(spec.Containers, IstioProxyName); i >= 0 && !prior.ownsContainer(IstioProxyName) {
		return policy.ReasonIstioProxyExists, nil
	}
	if i := containerIndex(spec.Containers, SDSName); i >= 0 && !prior.ownsContainer(SDSName) {
		return policy.ReasonSDSExists, nil
	}
	for _, name := range volumeNames() {
		if volumeIndex(spec.Volumes, name) >= 0 && !prior.ownsVolume(name) {
			return policy.ReasonVolumeConflict, nil
		}
	}

	hasEnvoyConfig := volumeIndex(spec.Volumes, pol.EnvoyConfigVolume()) >= 0
	set := cache.sidecars(pol, key, hasEnvoyConfig, func() *policy.PodPlan {
		plan, _ := pol.PodPlan(podLabels, ns)
		return plan
	})
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
	changed[4] = ensureAnnotation(meta, StatusAnnotation, set.status)
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
