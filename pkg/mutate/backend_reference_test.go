package mutate

import (
	"bytes"
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// referenceStamp is the library path that the oracle holds Patch to: raw
// decoded into an unstructured object, plan carried out on it by the
// plainest code, and the object encoded again. It reads nothing the fast
// path decided for it but the plan. Numbers decode as json.Number, so that
// the round trip keeps them as they were: unstructured's int64 and float64
// would change a number beyond their precision, and the library patch would
// then carry that change, which is the decoder's, not the stamp's.
func referenceStamp(t testing.TB, raw []byte, plan policy.BackendPlan) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("reference: failed to decode: %v", err)
	}
	u := &unstructured.Unstructured{Object: obj}
	ann, _, err := unstructured.NestedStringMap(obj, "metadata", "annotations")
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	// Where the kind keeps gatemesh's block.
	blockPath := []string{"spec", "sslConfig"}
	if u.GetKind() == BackendGVK.Kind {
		blockPath = []string{"metadata", "annotations", KgatewayDisableAutoMtlsAnnotation}
	}
	cur, present, _ := unstructured.NestedFieldNoCopy(obj, blockPath...)
	present = present && cur != nil
	m, hasMarker := parseMarker(ann[MtlsHashAnnotation])
	current, hasCurrent := ann[MtlsAnnotation]
	owns := hasMarker && m.mtls != "" && hasCurrent && current == m.mtls
	ours := present && hasMarker && m.hash == hashOf(cur)
	removeBlock := func() { delete(ensureObject(obj, blockPath[:len(blockPath)-1]...), blockPath[len(blockPath)-1]) }

	switch plan.Action {
	case policy.BackendUnstamp:
		if ours {
			removeBlock()
		}
		a := ensureObject(obj, "metadata", "annotations")
		delete(a, MtlsHashAnnotation)
		delete(a, MtlsReasonAnnotation)
		if owns {
			delete(a, MtlsAnnotation)
		}
		if len(a) == 0 {
			delete(ensureObject(obj, "metadata"), "annotations")
		}
	case policy.BackendStamp:
		if plan.Block != nil {
			var v any
			if err := json.Unmarshal(plan.Block, &v); err != nil {
				t.Fatalf("reference: invalid block: %v", err)
			}
			ensureObject(obj, blockPath[:len(blockPath)-1]...)[blockPath[len(blockPath)-1]] = v
		} else if present {
			removeBlock()
		}
		stamped := marker{hash: blockHash(plan.Block)}
		a := ensureObject(obj, "metadata", "annotations")
		if owns || !hasCurrent {
			a[MtlsAnnotation] = string(plan.Mode)
			stamped.mtls = string(plan.Mode)
		}
		a[MtlsReasonAnnotation] = string(plan.Reason)
		a[MtlsHashAnnotation] = stamped.String()
	}
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("reference: failed to encode: %v", err)
	}
	return out
}
