package mutate

import (
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// podBuilder builds test pods fluently: makePod("p", "ns").label(k, v).obj().
type podBuilder struct{ pod corev1.Pod }

func makePod(name, namespace string) *podBuilder {
	return &podBuilder{pod: corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "gateway-proxy", Image: "envoy:1"}}},
	}}
}

func (b *podBuilder) label(k, v string) *podBuilder {
	if b.pod.Labels == nil {
		b.pod.Labels = map[string]string{}
	}
	b.pod.Labels[k] = v
	return b
}

func (b *podBuilder) annotation(k, v string) *podBuilder {
	if b.pod.Annotations == nil {
		b.pod.Annotations = map[string]string{}
	}
	b.pod.Annotations[k] = v
	return b
}

func (b *podBuilder) container(name, image string) *podBuilder {
	b.pod.Spec.Containers = append(b.pod.Spec.Containers, corev1.Container{Name: name, Image: image})
	return b
}

func (b *podBuilder) volume(name string) *podBuilder {
	b.pod.Spec.Volumes = append(b.pod.Spec.Volumes, corev1.Volume{
		Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
	})
	return b
}

func (b *podBuilder) obj() *corev1.Pod { return b.pod.DeepCopy() }

func glooPod() *podBuilder { return makePod("gw", "gloo-system").label("gloo", "gateway-proxy") }

// injectTyped is the webhook's flow on a typed pod: decide, then inject.
func injectTyped(pod *corev1.Pod, pol *policy.Policy, ns policy.Namespace) (*corev1.Pod, policy.Reason) {
	return Pod(pod, pol.DecidePod(PodFactsOf(&pod.ObjectMeta, &pod.Spec), ns))
}

// patchPod is the webhook's flow on a pod's JSON: decode its head, decide,
// patch.
func patchPod(raw []byte, pol *policy.Policy, ns policy.Namespace, cache *SidecarCache) ([]jsonpatch.Operation, policy.Reason, error) {
	head, err := DecodePodHead(raw)
	if err != nil {
		return nil, "", err
	}
	return PodPatch(raw, head, pol.DecidePod(head.Facts(), ns), cache)
}

// Pod is the typed path the tests hold PodPatch's patch against: pod
// injected as plan says, and the reason for the outcome (plan.Skip when the
// plan skips the pod, else ReasonInjected or ReasonAlreadyInjected). The
// input is not modified; when nothing changes, the returned pod is the
// input itself.
func Pod(pod *corev1.Pod, plan policy.PodPlan) (*corev1.Pod, policy.Reason) {
	out := pod.DeepCopy()
	var reason policy.Reason
	if plan.Adjust {
		reason = adjustPod(&out.ObjectMeta, &out.Spec, plan)
	} else {
		reason, _ = injectPod(&out.ObjectMeta, &out.Spec, plan, nil)
	}
	if !reason.Changes() {
		return pod, reason
	}
	return out, reason
}

// PodFactsOf is head.Facts() for a typed pod.
func PodFactsOf(meta *metav1.ObjectMeta, spec *corev1.PodSpec) policy.PodFacts {
	f := policy.PodFacts{Labels: meta.Labels}
	if s, ok := ParseStatus(meta.Annotations); ok {
		f.OwnedContainers, f.OwnedVolumes = s.Containers, s.Volumes
	}
	for i := range spec.Containers {
		f.Containers = append(f.Containers, spec.Containers[i].Name)
	}
	for i := range spec.Volumes {
		f.Volumes = append(f.Volumes, spec.Volumes[i].Name)
	}
	agentOnly := false
	if i := containerIndex(spec.Containers, IstioProxyName); i >= 0 {
		for _, e := range spec.Containers[i].Env {
			if e.Name == disableEnvoyEnv {
				agentOnly = e.ValueFrom == nil && e.Value == "true"
			}
		}
	}
	f.DeployerSidecars = deployerSidecars(f, agentOnly)
	return f
}
