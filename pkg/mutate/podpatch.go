package mutate

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// podElements holds every container and volume as raw JSON. It is decoded
// only when the pod already has a container or volume named like gatemesh's,
// which must then be read whole and diffed against its raw JSON.
type podElements struct {
	Spec struct {
		Containers []jsontext.Value `json:"containers"`
		Volumes    []jsontext.Value `json:"volumes"`
	} `json:"spec"`
}

// DecodePodHead decodes the head of raw, the JSON of a pod or of a pod
// template. A malformed head is an *InputError naming the field.
func DecodePodHead(raw []byte) (*PodHead, error) {
	h := new(PodHead)
	if err := decodeStrictCase(raw, h); err != nil {
		return nil, DecodeError("", err)
	}
	return h, nil
}

// Facts returns what the pod decision reads from the head.
func (h *PodHead) Facts() policy.PodFacts {
	var f policy.PodFacts
	if h.Metadata != nil {
		f.Labels = h.Metadata.Labels
		if h.Metadata.Annotations != nil {
			if s, ok := ParseStatus(*h.Metadata.Annotations); ok {
				f.OwnedContainers, f.OwnedVolumes = s.Containers, s.Volumes
			}
		}
	}
	if h.Spec != nil {
		f.Containers, f.Volumes = elementNames(h.Spec.Containers), elementNames(h.Spec.Volumes)
		agentOnly := false
		if h.Spec.Containers != nil {
			if i := slices.Index(f.Containers, IstioProxyName); i >= 0 {
				agentOnly = (*h.Spec.Containers)[i].agentOnly
			}
		}
		f.DeployerSidecars = deployerSidecars(f, agentOnly)
	}
	return f
}

// deployerSidecars reports whether the pod with facts f carries kgateway's
// deployer's istio-proxy and sds (see policy.PodFacts.DeployerSidecars);
// agentOnly tells whether its first istio-proxy runs with DISABLE_ENVOY=true.
func deployerSidecars(f policy.PodFacts, agentOnly bool) bool {
	return agentOnly && slices.Contains(f.Containers, SDSName) &&
		!slices.Contains(f.OwnedContainers, IstioProxyName) && !slices.Contains(f.OwnedContainers, SDSName)
}

func elementNames(l *[]nameOnly) []string {
	if l == nil {
		return nil
	}
	out := make([]string, len(*l))
	for i, n := range *l {
		out[i] = n.Name
	}
	return out
}

// PodPatch returns the JSON patch from raw, the JSON of a pod or of a pod
// template whose head (decoded from raw with DecodePodHead) is head, to
// raw injected as plan says, and the reason: plan.Skip when the plan skips
// it (the patch is then empty), ReasonInjected, or ReasonAlreadyInjected
// with an empty patch; for an adjusting plan, ReasonAdjusted, or
// ReasonAlreadyAdjusted with an empty patch (see adjustPatch). With a
// SidecarCache, an added container or volume is a jsontext.Value, its JSON,
// rather than a typed value; the cache shares it, so it must only be read.
//
// Injection only reads labels, annotations, and the names of containers and
// volumes, and only edits annotations and gatemesh's own containers and
// volumes. So the mutator is given a skeleton: every container and volume
// keeps only its name, except those named like gatemesh's, which are decoded
// whole to be compared with what gatemesh would write. A gateway's own
// containers, with their thousands of env vars, are never decoded. The
// patch is then made piece by piece, each changed piece diffed against its
// raw JSON (see patchRaw), so fields gatemesh does not know about survive and
// every path is valid against raw. The oracle tests hold the result against
// the typed path, Pod, on every golden input and fuzz input.
func PodPatch(raw []byte, head *PodHead, plan policy.PodPlan, cache *SidecarCache) ([]jsonpatch.Operation, policy.Reason, error) {
	if plan.Adjust {
		return adjustPatch(raw, head, plan)
	}
	if !plan.Inject() {
		return nil, plan.Skip, nil
	}
	var meta metav1.ObjectMeta
	annotationsPresent := false
	if head.Metadata != nil {
		meta.Labels = head.Metadata.Labels
		if head.Metadata.Annotations != nil {
			meta.Annotations, annotationsPresent = *head.Metadata.Annotations, true
		}
	}
	specMissing := head.Spec == nil
	var names struct{ containers, volumes *[]nameOnly }
	if !specMissing {
		names.containers, names.volumes = head.Spec.Containers, head.Spec.Volumes
	}

	// The pod's own elements are decoded only if some are named like
	// gatemesh's.
	ownVolumes := policy.InjectedVolumes()
	var elems *podElements
	if ownsAny(names.containers, IstioProxyName, SDSName) || ownsAny(names.volumes, ownVolumes[:]...) {
		elems = &podElements{}
		if err := decodeStrictCase(raw, elems); err != nil {
			return nil, "", DecodeError("", err)
		}
	}
	// A pod with none of gatemesh's elements, the usual case, gets them
	// appended: the cached operations do that, and only the annotations
	// need diffing. The oracle tests hold this path to the general one.
	if elems == nil && cache != nil && names.containers != nil && names.volumes != nil {
		if set := cache.sidecars(plan); set.appends != nil {
			outMeta := metav1.ObjectMeta{Annotations: maps.Clone(meta.Annotations)}
			ensureAnnotation(&outMeta, IstioInjectAnnotation, "false")
			ensureAnnotation(&outMeta, StatusAnnotation, set.statusFor(meta.Annotations))
			ops := metaPatch(make([]jsonpatch.Operation, 0, 2+len(set.appends)), head, annotationsPresent, meta.Annotations, outMeta.Annotations)
			return append(ops, set.appends...), policy.ReasonInjected, nil
		}
	}

	var spec corev1.PodSpec
	var err error
	if spec.Containers, err = skeletons[corev1.Container](names.containers, rawElements(elems, true), cache, "/spec/containers", IstioProxyName, SDSName); err != nil {
		return nil, "", err
	}
	if spec.Volumes, err = skeletons[corev1.Volume](names.volumes, rawElements(elems, false), cache, "/spec/volumes", ownVolumes[:]...); err != nil {
		return nil, "", err
	}

	// Injection gets copies it may edit: new lists and a new annotation
	// map are copy enough, as it only sets annotations and replaces or
	// appends whole elements; the skeleton is never deep-copied.
	outMeta := metav1.ObjectMeta{Labels: meta.Labels, Annotations: maps.Clone(meta.Annotations)}
	outSpec := corev1.PodSpec{
		Containers: append(make([]corev1.Container, 0, len(spec.Containers)+2), spec.Containers...),
		Volumes:    append(make([]corev1.Volume, 0, len(spec.Volumes)+len(ownVolumes)), spec.Volumes...),
	}
	reason, set := injectPod(&outMeta, &outSpec, plan, cache)
	if !reason.Changes() {
		return nil, reason, nil
	}
	ops := metaPatch(nil, head, annotationsPresent, meta.Annotations, outMeta.Annotations)
	if specMissing {
		return append(ops, jsonpatch.NewOperation("add", "/spec", map[string]any{
			"containers": outSpec.Containers, "volumes": outSpec.Volumes,
		})), reason, nil
	}
	if ops, err = listPatch(ops, "/spec/containers", names.containers != nil, rawElements(elems, true), spec.Containers, outSpec.Containers, set, IstioProxyName, SDSName); err != nil {
		return nil, "", err
	}
	if ops, err = listPatch(ops, "/spec/volumes", names.volumes != nil, rawElements(elems, false), spec.Volumes, outSpec.Volumes, set, ownVolumes[:]...); err != nil {
		return nil, "", err
	}
	return ops, reason, nil
}

// metaPatch appends the patch that turns the pod's annotations, before,
// into after.
func metaPatch(ops []jsonpatch.Operation, head *PodHead, present bool, before, after map[string]string) []jsonpatch.Operation {
	if head.Metadata == nil {
		return append(ops, jsonpatch.NewOperation("add", "/metadata", map[string]any{"annotations": after}))
	}
	return mapPatch(ops, "/metadata/annotations", present, before, after)
}

func ownsAny(names *[]nameOnly, own ...string) bool {
	if names == nil {
		return false
	}
	for _, n := range *names {
		if contains(own, n.Name) {
			return true
		}
	}
	return false
}

func rawElements(e *podElements, containers bool) []jsontext.Value {
	switch {
	case e == nil:
		return nil
	case containers:
		return e.Spec.Containers
	default:
		return e.Spec.Volumes
	}
}

// named is a container or a volume.
type named interface {
	corev1.Container | corev1.Volume
}

// skeletons builds the elements from their names; those named one of whole
// are decoded whole from raws, which then holds every element. An element
// whose JSON is that of one cache holds (one gatemesh wrote, unchanged
// since) is not decoded: it is the cached element, shared, so it must only
// be read or replaced whole.
func skeletons[T named](names *[]nameOnly, raws []jsontext.Value, cache *SidecarCache, path string, whole ...string) ([]T, error) {
	if names == nil {
		return nil, nil
	}
	out := make([]T, len(*names))
	for i, n := range *names {
		if !contains(whole, n.Name) {
			setName(&out[i], n.Name)
			continue
		}
		if i >= len(raws) {
			return nil, fmt.Errorf("internal error: element %d (%s) was not decoded", i, n.Name)
		}
		if known, ok := cache.known(n.Name, raws[i]).(*T); ok {
			out[i] = *known
			continue
		}
		if err := decodeStrictCase(raws[i], &out[i]); err != nil {
			return nil, DecodeError(path+"/"+strconv.Itoa(i), err)
		}
	}
	return out, nil
}

func nameOf[T named](v *T) string {
	switch e := any(v).(type) {
	case *corev1.Container:
		return e.Name
	case *corev1.Volume:
		return e.Name
	}
	return ""
}

func setName[T named](v *T, name string) {
	switch e := any(v).(type) {
	case *corev1.Container:
		e.Name = name
	case *corev1.Volume:
		e.Name = name
	}
}

// mapPatch appends the patch that turns the string map at path, decoded from
// the raw object as before (present tells whether the raw object has it),
// into after: one operation per key added, changed or removed, in key order.
// A key of before is a key of the raw map, so every path is valid.
func mapPatch(ops []jsonpatch.Operation, path string, present bool, before, after map[string]string) []jsonpatch.Operation {
	if mapsEqual(before, after) {
		return ops
	}
	if !present {
		return append(ops, jsonpatch.NewOperation("add", path, after))
	}
	keys := make([]string, 0, len(before)+len(after))
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b, inBefore := before[k]
		a, inAfter := after[k]
		p := path + "/" + escapePointer(k)
		switch {
		case inBefore && !inAfter:
			ops = append(ops, jsonpatch.NewOperation("remove", p, nil))
		case !inBefore:
			ops = append(ops, jsonpatch.NewOperation("add", p, a))
		case a != b:
			ops = append(ops, jsonpatch.NewOperation("replace", p, a))
		}
	}
	return ops
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// escapePointer escapes a key for a JSON pointer (RFC 6901).
func escapePointer(key string) string { return pointerEscaper.Replace(key) }

// listPatch appends the patch that turns the list at path (present tells
// whether the raw object has it; raw holds its elements when any was decoded
// whole), whose skeleton was before, into after. Injection only changes
// elements named one of owned, in place, or appends elements; the others
// are skeletons, checked only to have kept their names. An appended element
// that set (may be nil) has the JSON of is added as that JSON.
func listPatch[T named](ops []jsonpatch.Operation, path string, present bool, raw []jsontext.Value, before, after []T, set *sidecarSet, owned ...string) ([]jsonpatch.Operation, error) {
	if len(after) < len(before) {
		return nil, fmt.Errorf("internal error: injection removed elements of %s", path)
	}
	if !present && len(after) > 0 {
		return append(ops, jsonpatch.NewOperation("add", path, after)), nil
	}
	for i := range after {
		p := path + "/" + strconv.Itoa(i)
		if i >= len(before) {
			var v any = after[i]
			if js, ok := set.json(nameOf(&after[i])); ok {
				v = js
			}
			ops = append(ops, jsonpatch.NewOperation("add", p, v))
			continue
		}
		name := nameOf(&before[i])
		if name != nameOf(&after[i]) {
			return nil, fmt.Errorf("internal error: injection renamed %s/%d", path, i)
		}
		if !contains(owned, name) || equalElements(&before[i], &after[i]) {
			continue
		}
		if i >= len(raw) {
			return nil, fmt.Errorf("internal error: %s changed but was not decoded", p)
		}
		sub, err := patchRaw(raw[i], &before[i], &after[i])
		if err != nil {
			return nil, err
		}
		ops = append(ops, prefix(sub, p)...)
	}
	return ops, nil
}

func equalElements[T named](a, b *T) bool {
	switch x := any(a).(type) {
	case *corev1.Container:
		return semanticEqual(x, any(b).(*corev1.Container))
	case *corev1.Volume:
		return semanticEqual(x, any(b).(*corev1.Volume))
	}
	return false
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func prefix(ops []jsonpatch.Operation, p string) []jsonpatch.Operation {
	for i := range ops {
		ops[i].Path = p + ops[i].Path
	}
	return ops
}

// adjustPatch is PodPatch for an adjusting plan: it decodes only the
// istio-proxy container whole, and sets each env value it changes with one
// operation on that value, plus the adjusted annotation. The oracle tests
// hold it to the typed path, adjustPod.
func adjustPatch(raw []byte, head *PodHead, plan policy.PodPlan) ([]jsonpatch.Operation, policy.Reason, error) {
	i := -1
	if head.Spec != nil && head.Spec.Containers != nil {
		i = slices.IndexFunc(*head.Spec.Containers, func(n nameOnly) bool { return n.Name == IstioProxyName })
	}
	if i < 0 {
		return nil, policy.ReasonAlreadyAdjusted, nil
	}
	elems := &podElements{}
	if err := decodeStrictCase(raw, elems); err != nil {
		return nil, "", DecodeError("", err)
	}
	if i >= len(elems.Spec.Containers) {
		return nil, "", fmt.Errorf("internal error: container %d (%s) was not decoded", i, IstioProxyName)
	}
	path := "/spec/containers/" + strconv.Itoa(i)
	var c corev1.Container
	if err := decodeStrictCase(elems.Spec.Containers[i], &c); err != nil {
		return nil, "", DecodeError(path, err)
	}
	edits := adjustments(&c, plan)
	if len(edits) == 0 {
		return nil, policy.ReasonAlreadyAdjusted, nil
	}
	var before map[string]string
	present := false
	if head.Metadata != nil && head.Metadata.Annotations != nil {
		before, present = *head.Metadata.Annotations, true
	}
	meta := metav1.ObjectMeta{Annotations: maps.Clone(before)}
	setAdjusted(&meta, adjustedRecord(before, edits))
	var ops []jsonpatch.Operation
	if !mapsEqual(before, meta.Annotations) {
		ops = metaPatch(ops, head, present, before, meta.Annotations)
	}
	for _, e := range edits {
		// add, not replace: an empty value may have no value member.
		ops = append(ops, jsonpatch.NewOperation("add", path+"/env/"+strconv.Itoa(e.index)+"/value", e.to))
	}
	return ops, policy.ReasonAdjusted, nil
}
