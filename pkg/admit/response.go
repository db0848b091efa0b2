package admit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// patched allows the request with ops as its JSON patch, and records the
// reason as the audit annotation.
func patched(reason policy.Reason, ops []jsonpatch.Operation) admission.Response {
	resp := admission.Allowed("gatemesh: " + reason.Sentence())
	resp.AuditAnnotations = map[string]string{AuditAnnotation: string(reason)}
	if len(ops) == 0 {
		return resp
	}
	p, err := encodePatch(ops)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = p, &pt
	return resp
}

// encodePatch writes ops as an RFC 6902 document. It is json.Marshal(ops)
// without the second pass that jsonpatch.Operation's MarshalJSON costs (it
// marshals each operation, and json.Marshal then re-validates the result):
// on a gateway pod that pass was a fifth of the whole admission.
func encodePatch(ops []jsonpatch.Operation) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(8 << 10) // an injection's patch is about 6 KB
	enc := json.NewEncoder(&b)
	b.WriteByte('[')
	for i, op := range ops {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"op":`)
		if err := enc.Encode(op.Operation); err != nil {
			return nil, fmt.Errorf("internal error: failed to encode patch: %w", err)
		}
		b.WriteString(`,"path":`)
		if err := enc.Encode(op.Path); err != nil {
			return nil, fmt.Errorf("internal error: failed to encode patch: %w", err)
		}
		if op.Operation != "remove" {
			b.WriteString(`,"value":`)
			if err := enc.Encode(op.Value); err != nil {
				return nil, fmt.Errorf("internal error: failed to encode patch value at %s: %w", op.Path, err)
			}
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}
