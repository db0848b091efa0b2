package mutate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// rawPodLike is the part of a pod, or of a pod template, that injection reads
// and edits, with each container and volume kept as raw JSON. Decoding it
// scans the object once without building the rest of it.
type rawPodLike struct {
	Metadata *struct {
		Labels      map[string]string `json:"labels"`
		Annotations json.RawMessage   `json:"annotations"`
	} `json:"metadata"`
	Spec *struct {
		Containers []json.RawMessage `json:"containers"`
		Volumes    []json.RawMessage `json:"volumes"`
	} `json:"spec"`
}

// PodPatch decodes raw, the JSON of a Pod, injects it, and returns the JSON
// patch from raw to the injected pod, with the reason. The patch is empty
// when nothing changes.
func PodPatch(raw []byte, pol *policy.Policy, ns policy.Namespace) ([]jsonpatch.Operation, policy.Reason, error) {
	return podLikePatch(raw, "pod", func(meta metav1.ObjectMeta, spec corev1.PodSpec) (*metav1.ObjectMeta, *corev1.PodSpec, policy.Reason) {
		pod := &corev1.Pod{ObjectMeta: meta, Spec: spec}
		out, reason := Pod(pod, pol, ns)
		return &out.ObjectMeta, &out.Spec, reason
	})
}

// PodTemplatePatch is PodPatch for raw, the JSON of a pod template.
func PodTemplatePatch(raw []byte, pol *policy.Policy, ns policy.Namespace) ([]jsonpatch.Operation, policy.Reason, error) {
	return podLikePatch(raw, "pod template", func(meta metav1.ObjectMeta, spec corev1.PodSpec) (*metav1.ObjectMeta, *corev1.PodSpec, policy.Reason) {
		tmpl := &corev1.PodTemplateSpec{ObjectMeta: meta, Spec: spec}
		out, reason := PodTemplate(tmpl, pol, ns)
		return &out.ObjectMeta, &out.Spec, reason
	})
}

type injectFunc func(metav1.ObjectMeta, corev1.PodSpec) (*metav1.ObjectMeta, *corev1.PodSpec, policy.Reason)

// podLikePatch injects the pod or template in raw and diffs the result
// against raw.
//
// Injection only reads labels, annotations, and the names of containers and
// volumes, and only edits annotations and gatemesh's own containers and
// volumes. So the mutator is given a skeleton: every container and volume
// keeps only its name, except those named like gatemesh's, which are decoded
// whole to be compared with what gatemesh would write. A gateway's own
// containers, with their thousands of env vars, are never decoded. The
// patch is then made piece by piece, each changed piece diffed against its
// raw JSON (see patchRaw), so fields gatemesh does not know about survive and
// every path is valid against raw.
func podLikePatch(raw []byte, what string, inject injectFunc) ([]jsonpatch.Operation, policy.Reason, error) {
	var in rawPodLike
	if err := decodeStrictCase(raw, &in); err != nil {
		return nil, "", fmt.Errorf("failed to decode %s: %w", what, err)
	}
	if in.Metadata == nil {
		return nil, policy.ReasonNotGatewayProxy, nil
	}
	var meta metav1.ObjectMeta
	meta.Labels = in.Metadata.Labels
	if err := decodeStrictCase(orNull(in.Metadata.Annotations), &meta.Annotations); err != nil {
		return nil, "", fmt.Errorf("failed to decode %s annotations: %w", what, err)
	}
	specMissing := in.Spec == nil
	if specMissing {
		in.Spec = &struct {
			Containers []json.RawMessage `json:"containers"`
			Volumes    []json.RawMessage `json:"volumes"`
		}{}
	}
	var spec corev1.PodSpec
	var err error
	if spec.Containers, err = skeletons[corev1.Container](in.Spec.Containers, IstioProxyName, SDSName); err != nil {
		return nil, "", fmt.Errorf("failed to decode %s containers: %w", what, err)
	}
	if spec.Volumes, err = skeletons[corev1.Volume](in.Spec.Volumes, volumeNames()...); err != nil {
		return nil, "", fmt.Errorf("failed to decode %s volumes: %w", what, err)
	}

	before := spec.DeepCopy()
	annotationsBefore := meta.Annotations
	outMeta, outSpec, reason := inject(meta, spec)
	if !reason.Changes() {
		return nil, reason, nil
	}
	var ops []jsonpatch.Operation
	if ops, err = mapPatch(ops, "/metadata/annotations", in.Metadata.Annotations, annotationsBefore, outMeta.Annotations); err != nil {
		return nil, "", err
	}
	if specMissing {
		return append(ops, jsonpatch.NewOperation("add", "/spec", map[string]any{
			"containers": outSpec.Containers, "volumes": outSpec.Volumes,
		})), reason, nil
	}
	if ops, err = listPatch(ops, "/spec/containers", in.Spec.Containers, before.Containers, outSpec.Containers); err != nil {
		return nil, "", err
	}
	if ops, err = listPatch(ops, "/spec/volumes", in.Spec.Volumes, before.Volumes, outSpec.Volumes); err != nil {
		return nil, "", err
	}
	return ops, reason, nil
}

// named is a container or a volume.
type named interface {
	corev1.Container | corev1.Volume
}

// skeletons decodes each raw element's name only, or the whole element when
// its name is one of whole.
func skeletons[T named](raws []json.RawMessage, whole ...string) ([]T, error) {
	if raws == nil {
		return nil, nil
	}
	out := make([]T, len(raws))
	for i, r := range raws {
		var n struct {
			Name string `json:"name"`
		}
		if err := decodeStrictCase(r, &n); err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		if !contains(whole, n.Name) {
			setName(&out[i], n.Name)
			continue
		}
		if err := decodeStrictCase(r, &out[i]); err != nil {
			return nil, fmt.Errorf("element %d (%s): %w", i, n.Name, err)
		}
	}
	return out, nil
}

func setName[T named](v *T, name string) {
	switch e := any(v).(type) {
	case *corev1.Container:
		e.Name = name
	case *corev1.Volume:
		e.Name = name
	}
}

// mapPatch appends the patch that turns the raw string map at path, decoded
// as before, into after: one operation per key added, changed or removed,
// in key order. A key of before is a key of raw, so every path is valid.
func mapPatch(ops []jsonpatch.Operation, path string, raw json.RawMessage, before, after map[string]string) ([]jsonpatch.Operation, error) {
	if mapsEqual(before, after) {
		return ops, nil
	}
	if isNull(raw) {
		return append(ops, jsonpatch.NewOperation("add", path, after)), nil
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
	return ops, nil
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// escapePointer escapes a key for a JSON pointer (RFC 6901).
func escapePointer(key string) string { return pointerEscaper.Replace(key) }

// listPatch appends the patch that turns the raw list at path, whose
// skeleton was before, into after. Elements are only ever changed in place
// or appended by injection; an element whose skeleton did not change is not
// looked at.
func listPatch[T named](ops []jsonpatch.Operation, path string, raw []json.RawMessage, before, after []T) ([]jsonpatch.Operation, error) {
	if len(after) < len(before) {
		return nil, fmt.Errorf("internal error: injection removed elements of %s", path)
	}
	if raw == nil && len(after) > 0 {
		return append(ops, jsonpatch.NewOperation("add", path, after)), nil
	}
	for i := range after {
		p := path + "/" + strconv.Itoa(i)
		if i >= len(before) {
			ops = append(ops, jsonpatch.NewOperation("add", p, after[i]))
			continue
		}
		if equalElements(&before[i], &after[i]) {
			continue
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

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func orNull(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("null")
	}
	return raw
}

func prefix(ops []jsonpatch.Operation, p string) []jsonpatch.Operation {
	for i := range ops {
		ops[i].Path = p + ops[i].Path
	}
	return ops
}
