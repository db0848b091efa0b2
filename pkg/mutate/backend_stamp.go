package mutate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Annotations on backend objects (Gloo Upstreams and kgateway Backends).
const (
	// MtlsAnnotation is gatemesh.io/mtls: istio or disabled. Set by a user,
	// it opts the object in (istio: stamped even when autoMtls is off, and
	// its service or static host targets are taken to be in the mesh) or out
	// (disabled). Set by gatemesh, it records the decision. gatemesh treats
	// the value as its own only while the prefix of MtlsHashAnnotation names
	// that very value; any other value is the user's and gatemesh never
	// overwrites it.
	MtlsAnnotation = "gatemesh.io/mtls"
	// MtlsReasonAnnotation records why gatemesh decided as it did, as a
	// reason such as target_external. It belongs to gatemesh.
	MtlsReasonAnnotation = "gatemesh.io/mtls-reason"
	// MtlsHashAnnotation is gatemesh's marker, [<mtls>/]sha256:<hex>. The
	// hash covers the block gatemesh stamped: an Upstream's spec.sslConfig,
	// or a Backend's kgateway.dev/disable-istio-auto-mtls annotation, or
	// their absence (the hash of JSON null). The <mtls>/ prefix is the value
	// gatemesh itself wrote to gatemesh.io/mtls; without it, that annotation
	// is the user's. While the block still hashes the same, gatemesh may
	// change or remove it; once it differs, it is the user's.
	MtlsHashAnnotation = "gatemesh.io/mtls-hash"
	// KgatewayDisableAutoMtlsAnnotation is kgateway's own per-backend switch:
	// "true" turns Istio auto-mTLS off for the backend at translation time.
	KgatewayDisableAutoMtlsAnnotation = "kgateway.dev/disable-istio-auto-mtls"
)

const hashPrefix = "sha256:"

// marker is the parsed value of MtlsHashAnnotation.
type marker struct {
	// mtls is the value gatemesh wrote to MtlsAnnotation; empty when the
	// value there is the user's.
	mtls string
	// hash of the stamped block, with its sha256: prefix.
	hash string
}

// parseMarker reads a marker. A value gatemesh could not have written is
// not a marker: gatemesh then claims nothing in the object.
func parseMarker(v string) (marker, bool) {
	var m marker
	if mtls, rest, ok := strings.Cut(v, "/"); ok {
		if mtls != string(policy.MtlsIstio) && mtls != string(policy.MtlsDisabled) {
			return marker{}, false
		}
		m.mtls, v = mtls, rest
	}
	hexPart, ok := strings.CutPrefix(v, hashPrefix)
	if !ok || len(hexPart) != 2*sha256.Size || strings.ToLower(hexPart) != hexPart {
		return marker{}, false
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return marker{}, false
	}
	m.hash = v
	return m, true
}

func (m marker) String() string {
	if m.mtls == "" {
		return m.hash
	}
	return m.mtls + "/" + m.hash
}

// blockHash hashes a block as JSON; an absent block hashes as null. Maps
// marshal with sorted keys, so equal blocks hash equally.
func blockHash(v any, present bool) string {
	if !present {
		v = nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		// An unstructured object decoded from JSON always marshals; an
		// impossible block matches no marker.
		return ""
	}
	sum := sha256.Sum256(b)
	return hashPrefix + hex.EncodeToString(sum[:])
}

// block is where one kind keeps gatemesh's decision.
type block struct {
	// get returns the block in obj, and whether it is present.
	get func(obj map[string]any) (any, bool, error)
	// set writes v as the block into obj.
	set func(obj map[string]any, v any)
	// remove deletes the block from obj.
	remove func(obj map[string]any)
	// want returns the block that mode calls for, and whether it is present.
	want func(mode policy.MtlsMode) (any, bool)
	// foreign is the reason given when the object holds a block that
	// gatemesh never stamped.
	foreign policy.Reason
}

type blockState int

const (
	// blockAbsent: no block, where gatemesh stamped none or the user
	// deleted the one it stamped.
	blockAbsent blockState = iota
	// blockOurs: the block, present or absent, is exactly as gatemesh
	// stamped it.
	blockOurs
	// blockEdited: gatemesh stamped a block that has changed since.
	blockEdited
	// blockUser: a block gatemesh never stamped.
	blockUser
)

func stateOf(m marker, hasMarker bool, cur any, present bool) blockState {
	switch {
	case hasMarker && m.hash == blockHash(cur, present):
		return blockOurs
	case !present:
		return blockAbsent
	case hasMarker && m.hash != blockHash(nil, false):
		return blockEdited
	default:
		return blockUser
	}
}

// stamp applies pol's decision for in, whose facts the caller read (all but
// UserMtls), with blk locating the decision in the object. It returns in
// itself when nothing changes, else a changed copy; in is never modified.
func stamp(in *unstructured.Unstructured, pol *policy.Policy, facts policy.BackendFacts, blk block) (*unstructured.Unstructured, policy.Reason, error) {
	ann, err := lookupAnnotations(in.Object)
	if err != nil {
		return nil, "", err
	}
	cur, present, err := blk.get(in.Object)
	if err != nil {
		return nil, "", err
	}
	m, hasMarker := parseMarker(ann[MtlsHashAnnotation])
	current, hasCurrent := ann[MtlsAnnotation]
	ownsMtls := hasMarker && m.mtls != "" && hasCurrent && current == m.mtls
	if !ownsMtls {
		facts.UserMtls = current
	}
	mode, why := pol.MtlsDecision(facts)

	state := stateOf(m, hasMarker, cur, present)
	switch {
	case state == blockEdited:
		return in, policy.ReasonStampEdited, nil
	case mode == policy.MtlsHandsOff && !hasMarker:
		return in, why, nil
	case mode == policy.MtlsHandsOff:
		// Undo: remove exactly what gatemesh stamped.
		out := in.DeepCopy()
		if state == blockOurs && present {
			blk.remove(out.Object)
		}
		a := ensureObject(out.Object, "metadata", "annotations")
		delete(a, MtlsHashAnnotation)
		delete(a, MtlsReasonAnnotation)
		if ownsMtls {
			delete(a, MtlsAnnotation)
		}
		if len(a) == 0 {
			delete(ensureObject(out.Object, "metadata"), "annotations")
		}
		return out, policy.ReasonUnstamped, nil
	case state == blockUser:
		return in, blk.foreign, nil
	}

	out := in.DeepCopy()
	want, wantPresent := blk.want(mode)
	removed := false
	switch {
	case wantPresent:
		blk.set(out.Object, want)
	case present:
		// Only gatemesh's own block gets here: edited and user blocks
		// returned above.
		blk.remove(out.Object)
		removed = true
	}
	stamped := marker{hash: blockHash(want, wantPresent)}
	a := ensureObject(out.Object, "metadata", "annotations")
	if ownsMtls || !hasCurrent {
		a[MtlsAnnotation] = string(mode)
		stamped.mtls = string(mode)
	}
	a[MtlsReasonAnnotation] = string(why)
	a[MtlsHashAnnotation] = stamped.String()

	switch {
	case reflect.DeepEqual(in.Object, out.Object):
		return in, policy.ReasonAlreadyStamped, nil
	case removed:
		return out, policy.ReasonUnstamped, nil
	default:
		return out, policy.ReasonStamped, nil
	}
}
