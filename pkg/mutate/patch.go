package mutate

import (
	"encoding/json"
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// PodPatch decodes raw, the JSON of a Pod, injects it, and returns the JSON
// patch that turns raw into the injected pod, with the reason. The patch is
// empty when nothing changes.
//
// The patch is the diff between the decoded pod and the injected pod, both
// marshalled from the same Go type. Fields of raw that the Go type does not
// know about are absent from both sides, so the patch never removes them;
// and the arrays gatemesh edits (containers, volumes) have the same length
// in raw as in the decoded pod, so every path in the patch is valid against
// raw. Applied to raw, the patch changes exactly what gatemesh changed.
func PodPatch(raw []byte, pol *policy.Policy, ns policy.Namespace) ([]jsonpatch.Operation, policy.Reason, error) {
	var pod corev1.Pod
	if err := decodeStrictCase(raw, &pod); err != nil {
		return nil, "", fmt.Errorf("failed to decode pod: %w", err)
	}
	out, reason := Pod(&pod, pol, ns)
	if out == &pod {
		return nil, reason, nil
	}
	ops, err := diff(&pod, out)
	return ops, reason, err
}

// PodTemplatePatch is PodPatch for raw, the JSON of a pod template.
func PodTemplatePatch(raw []byte, pol *policy.Policy, ns policy.Namespace) ([]jsonpatch.Operation, policy.Reason, error) {
	var tmpl corev1.PodTemplateSpec
	if err := decodeStrictCase(raw, &tmpl); err != nil {
		return nil, "", fmt.Errorf("failed to decode pod template: %w", err)
	}
	out, reason := PodTemplate(&tmpl, pol, ns)
	if out == &tmpl {
		return nil, reason, nil
	}
	ops, err := diff(&tmpl, out)
	return ops, reason, err
}

// decodeStrictCase decodes JSON the way the API server does: field names
// match case-sensitively and unknown fields are ignored.
func decodeStrictCase(raw []byte, into any) error {
	return kjson.UnmarshalCaseSensitivePreserveInts(raw, into)
}

func diff(before, after any) ([]jsonpatch.Operation, error) {
	a, err := json.Marshal(before)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to marshal object: %w", err)
	}
	b, err := json.Marshal(after)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to marshal mutated object: %w", err)
	}
	ops, err := jsonpatch.CreatePatch(a, b)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to create patch: %w", err)
	}
	return ops, nil
}
