package mutate

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/go-json-experiment/json/jsontext"
	"gomodules.xyz/jsonpatch/v2"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Patch carries out plan, policy.DecideBackend's decision for the object,
// and returns the JSON patch against the raw bytes the object was parsed
// from, with the outcome: the plan's reason when it leaves the object
// alone, else stamped, unstamped, or already_stamped when nothing changes
// (an empty patch). The patch touches only what gatemesh owns: its
// gatemesh.io annotations and the block, an Upstream's spec.sslConfig or a
// Backend's kgateway annotation. Every other byte of the object stays as it
// was. The error is an internal one.
func (b *BackendObject) Patch(plan policy.BackendPlan) ([]jsonpatch.Operation, policy.Reason, error) {
	if plan.Action == policy.BackendLeave {
		return nil, plan.Reason, nil
	}
	e := backendEdit{ann: map[string]*string{}}
	switch plan.Action {
	case policy.BackendUnstamp:
		// Remove exactly what gatemesh stamped.
		if b.block != nil && b.state == policy.BlockOurs {
			b.removeBlock(&e)
		}
		e.ann[MtlsHashAnnotation], e.ann[MtlsReasonAnnotation] = nil, nil
		if b.ownsMtls {
			e.ann[MtlsAnnotation] = nil
		}
		return b.ops(e), policy.ReasonUnstamped, nil
	case policy.BackendStamp:
		if b.state != policy.BlockAbsent && b.state != policy.BlockOurs {
			return nil, "", fmt.Errorf("internal error: a plan to stamp over a block that is %s", b.state)
		}
	default:
		return nil, "", fmt.Errorf("internal error: unknown backend action %q", plan.Action)
	}

	removed := false
	switch {
	case plan.Block != nil && (b.block == nil || blockHash(b.block) != blockHash(plan.Block)):
		if b.kind.blockAnnotation == "" {
			e.sslConfig = jsontext.Value(plan.Block)
			break
		}
		var v string
		if err := json.Unmarshal(plan.Block, &v); err != nil {
			return nil, "", fmt.Errorf("internal error: the block for an annotation is not a string: %w", err)
		}
		e.ann[b.kind.blockAnnotation] = &v
	case plan.Block == nil && b.block != nil:
		b.removeBlock(&e) // gatemesh's own, checked above
		removed = true
	}
	stamped := marker{hash: blockHash(plan.Block)}
	if _, hasCurrent := b.annotations[MtlsAnnotation]; b.ownsMtls || !hasCurrent {
		stamped.mtls = string(plan.Mode)
		e.ann[MtlsAnnotation] = &stamped.mtls
	}
	reason, hash := string(plan.Reason), stamped.String()
	e.ann[MtlsReasonAnnotation], e.ann[MtlsHashAnnotation] = &reason, &hash

	ops := b.ops(e)
	switch {
	case len(ops) == 0:
		return nil, policy.ReasonAlreadyStamped, nil
	case removed:
		return ops, policy.ReasonUnstamped, nil
	}
	return ops, policy.ReasonStamped, nil
}

// backendEdit is what Patch changes: annotations to set (nil to delete), and
// spec.sslConfig to set or remove.
type backendEdit struct {
	ann             map[string]*string
	sslConfig       jsontext.Value
	removeSSLConfig bool
}

func (b *BackendObject) removeBlock(e *backendEdit) {
	if b.kind.blockAnnotation != "" {
		e.ann[b.kind.blockAnnotation] = nil
		return
	}
	e.removeSSLConfig = true
}

// ops writes e as operations on the raw object. Member names are unique
// there (ParseBackendObject refuses repeated ones), so each path names one
// member. Annotations go in sorted order, so the patch is stable.
func (b *BackendObject) ops(e backendEdit) []jsonpatch.Operation {
	var ops []jsonpatch.Operation
	if b.view.Spec != nil && e.sslConfig != nil {
		ops = append(ops, jsonpatch.NewOperation("add", "/spec/sslConfig", e.sslConfig))
	}
	if b.view.Spec == nil && e.sslConfig != nil {
		ops = append(ops, jsonpatch.NewOperation("add", "/spec", jsontext.Value(`{"sslConfig":`+string(e.sslConfig)+`}`)))
	}
	if e.removeSSLConfig {
		ops = append(ops, jsonpatch.NewOperation("remove", "/spec/sslConfig", nil))
	}

	after := maps.Clone(b.annotations)
	if after == nil {
		after = map[string]string{}
	}
	var annOps []jsonpatch.Operation
	for _, k := range slices.Sorted(maps.Keys(e.ann)) {
		v := e.ann[k]
		cur, has := after[k]
		path := "/metadata/annotations/" + escapePointer(k)
		switch {
		case v == nil && has:
			delete(after, k)
			annOps = append(annOps, jsonpatch.NewOperation("remove", path, nil))
		case v == nil, has && cur == *v:
		case has:
			after[k] = *v
			annOps = append(annOps, jsonpatch.NewOperation("replace", path, *v))
		default:
			after[k] = *v
			annOps = append(annOps, jsonpatch.NewOperation("add", path, *v))
		}
	}
	switch {
	case len(annOps) == 0:
	case b.view.Metadata == nil:
		ops = append(ops, jsonpatch.NewOperation("add", "/metadata", map[string]any{"annotations": after}))
	case b.annotations == nil || len(b.annotations) == 0 && len(after) > 0:
		ops = append(ops, jsonpatch.NewOperation("add", "/metadata/annotations", after))
	case len(after) == 0:
		ops = append(ops, jsonpatch.NewOperation("remove", "/metadata/annotations", nil))
	default:
		ops = append(ops, annOps...)
	}
	return ops
}
