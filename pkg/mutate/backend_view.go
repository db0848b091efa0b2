package mutate

import (
	"errors"
	"fmt"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// backendView is the part of a Gloo Upstream or kgateway Backend that
// stamping reads. Every other member is skipped as it is read, without being
// decoded into anything, so a large object costs no more memory than its
// bytes. A nil pointer stands for a member that is absent or null.
type backendView struct {
	APIVersion string
	Kind       string
	Metadata   *backendMeta
	Spec       *backendSpec
}

// backendMeta is the part of the metadata that stamping reads.
type backendMeta struct {
	Namespace   string
	Annotations *annotations
}

// annotations is metadata.annotations, whose every value is a string.
type annotations map[string]string

// backendSpec is the part of the spec that stamping reads, for both kinds.
type backendSpec struct {
	Kube                 *kubeRef
	Static               *staticHosts
	DisableIstioAutoMtls bool
	// SSLConfig is where spec.sslConfig sits in the raw object, when it is
	// present and not null: it is sliced from the raw bytes, not copied.
	SSLConfig span
	// Outside lists the members of outsideTypes the spec has, not null.
	Outside []string
}

// kubeRef is spec.kube: a Kubernetes service.
type kubeRef struct {
	ServiceNamespace string `json:"serviceNamespace"`
}

// span is where a value sits in the raw object: raw[start:end].
type span struct{ start, end int64 }

func (s span) present() bool { return s.end > s.start }

// outsideTypes are the spec members, of either kind, whose targets are
// outside the cluster. Which count for a kind is in its backendKind.
var outsideTypes = []string{"aws", "awsEc2", "azure", "gcp", "dynamicForwardProxy"}

// specMembers are the spec members the view reads.
var specMembers = append([]string{"kube", "static", "disableIstioAutoMtls", "sslConfig"}, outsideTypes...)

// staticHosts is spec.static: its first policy.MaxBackendTargets hosts, and
// how many it has.
type staticHosts struct {
	Hosts []hostEntry
	Count int
}

// hostEntry is one spec.static.hosts entry: Gloo names the host addr,
// kgateway host. A value that is not a string is kept as its JSON kind, for
// the kind that reads that key to report.
type hostEntry struct {
	Addr, Host         string
	AddrKind, HostKind jsontext.Kind
}

var (
	_ json.UnmarshalerFrom = (*backendView)(nil)
	_ json.UnmarshalerFrom = (*backendMeta)(nil)
	_ json.UnmarshalerFrom = (*annotations)(nil)
	_ json.UnmarshalerFrom = (*backendSpec)(nil)
	_ json.UnmarshalerFrom = (*staticHosts)(nil)
	_ json.UnmarshalerFrom = (*hostEntry)(nil)
)

// decodeBackendView decodes the view of raw. Invalid UTF-8 is malformed
// here, and so is a repeated name among the members the view reads and the
// annotations: the patch addresses members by name in the raw bytes, which
// is unambiguous only without them. (The API server never sends either.)
// Other members may repeat: checking every name of a large object for
// repeats cost four times the rest of its decoding, in time and memory.
func decodeBackendView(raw []byte) (*backendView, error) {
	v := &backendView{}
	err := json.Unmarshal(raw, v, decodeOptions, jsontext.AllowInvalidUTF8(false))
	if err != nil {
		return nil, decodeError("", err)
	}
	return v, nil
}

// UnmarshalJSONFrom reads apiVersion, kind, metadata and spec.
func (v *backendView) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readMembers(dec, []string{"apiVersion", "kind", "metadata", "spec"}, func(name []byte) error {
		switch string(name) {
		case "apiVersion":
			return json.UnmarshalDecode(dec, &v.APIVersion)
		case "kind":
			return json.UnmarshalDecode(dec, &v.Kind)
		case "metadata":
			return json.UnmarshalDecode(dec, &v.Metadata)
		case "spec":
			return json.UnmarshalDecode(dec, &v.Spec)
		}
		return skip(dec)
	})
}

// UnmarshalJSONFrom reads the namespace and annotations.
func (m *backendMeta) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readMembers(dec, []string{"namespace", "annotations"}, func(name []byte) error {
		switch string(name) {
		case "namespace":
			return json.UnmarshalDecode(dec, &m.Namespace)
		case "annotations":
			return json.UnmarshalDecode(dec, &m.Annotations, jsontext.AllowDuplicateNames(false))
		}
		return skip(dec)
	})
}

// UnmarshalJSONFrom reads the annotations: a value that is not a string,
// null included, is malformed.
func (a *annotations) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if *a == nil {
		*a = annotations{}
	}
	return readMembers(dec, nil, func(name []byte) error {
		if k := dec.PeekKind(); k != '"' && k != 0 {
			return notA("a string", k)
		}
		var v string
		if err := json.UnmarshalDecode(dec, &v); err != nil {
			return err
		}
		(*a)[string(name)] = v
		return nil
	})
}

// UnmarshalJSONFrom reads the target, the opt-out and where sslConfig is.
func (s *backendSpec) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readMembers(dec, specMembers, func(name []byte) error {
		switch string(name) {
		case "kube":
			return json.UnmarshalDecode(dec, &s.Kube)
		case "static":
			return json.UnmarshalDecode(dec, &s.Static)
		case "disableIstioAutoMtls":
			return json.UnmarshalDecode(dec, &s.DisableIstioAutoMtls)
		case "sslConfig":
			val, err := dec.ReadValue()
			if err == nil && val.Kind() != 'n' {
				end := dec.InputOffset()
				s.SSLConfig = span{start: end - int64(len(val)), end: end}
			}
			return err
		}
		for _, t := range outsideTypes {
			if string(name) == t {
				val, err := dec.ReadValue()
				if err == nil && val.Kind() != 'n' {
					s.Outside = append(s.Outside, t)
				}
				return err
			}
		}
		return skip(dec)
	})
}

// UnmarshalJSONFrom reads the hosts, up to policy.MaxBackendTargets; the
// rest are only counted.
func (s *staticHosts) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readMembers(dec, []string{"hosts"}, func(name []byte) error {
		if string(name) != "hosts" {
			return skip(dec)
		}
		switch k := dec.PeekKind(); k {
		case 'n':
			return skip(dec)
		case '[':
		default:
			return notA("an array", k)
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		for dec.PeekKind() != ']' {
			s.Count++
			if s.Count > policy.MaxBackendTargets {
				if err := skip(dec); err != nil {
					return err
				}
				continue
			}
			var h hostEntry
			if err := json.UnmarshalDecode(dec, &h); err != nil {
				return err
			}
			s.Hosts = append(s.Hosts, h)
		}
		_, err := dec.ReadToken()
		return err
	})
}

// UnmarshalJSONFrom reads addr and host. An entry must be an object, not
// null.
func (h *hostEntry) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if k := dec.PeekKind(); k == 'n' {
		return notA("an object", k)
	}
	return readMembers(dec, []string{"addr", "host"}, func(name []byte) error {
		switch string(name) {
		case "addr":
			return readString(dec, &h.Addr, &h.AddrKind)
		case "host":
			return readString(dec, &h.Host, &h.HostKind)
		}
		return skip(dec)
	})
}

// readString reads a string into s, or the kind of any other value into
// kind; null is an absent string.
func readString(dec *jsontext.Decoder, s *string, kind *jsontext.Kind) error {
	switch k := dec.PeekKind(); k {
	case '"':
		return json.UnmarshalDecode(dec, s)
	case 'n':
	default:
		*kind = k
	}
	return skip(dec)
}

// readMembers is readObject for the backend view: a value that is neither
// an object nor null is reported in words, and so is a second member named
// like one in known, the members the view reads (at most 64).
func readMembers(dec *jsontext.Decoder, known []string, member func(name []byte) error) error {
	if k := dec.PeekKind(); k != '{' && k != 'n' && k != 0 {
		return notA("an object", k)
	}
	var seen uint64
	return readObject(dec, "object", func(name []byte) error {
		for i, k := range known {
			if string(name) == k {
				if seen&(1<<i) != 0 {
					return errors.New("appears twice") // json adds where
				}
				seen |= 1 << i
				break
			}
		}
		return member(name)
	})
}

// notA is the problem of a value of kind k where want was expected. json
// adds where it is.
func notA(want string, k jsontext.Kind) error {
	return fmt.Errorf("must be %s, not %s", want, kindName(k))
}
