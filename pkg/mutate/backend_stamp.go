package mutate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	utiljson "k8s.io/apimachinery/pkg/util/json"

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

// blockHash hashes a block, given as its JSON (nil when absent), the way
// gatemesh has always hashed it: decoded as an unstructured object holds it
// (integers as int64, other numbers as float64) and encoded again with
// encoding/json (keys sorted, no space), so that equal blocks hash equally
// whatever their formatting. An absent block hashes as null. JSON that does
// not decode hashes as "", which matches no marker.
func blockHash(raw []byte) string {
	var v any
	if raw != nil {
		if err := utiljson.Unmarshal(raw, &v); err != nil {
			return ""
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hashPrefix + hex.EncodeToString(sum[:])
}
