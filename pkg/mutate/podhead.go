package mutate

import (
	"bytes"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// PodHead is the part of a pod, or of a pod template, that injection reads:
// labels, annotations, and only the names of containers and volumes, and
// whether an istio-proxy container's env sets DISABLE_ENVOY=true. A nil
// pointer stands for a field that is absent or null. Decode it from the
// object's JSON with DecodeOptions (json.Unmarshal or json.UnmarshalDecode),
// or let PodPatch do it.
type PodHead struct {
	Metadata *PodHeadMeta `json:"metadata"`
	Spec     *PodHeadSpec `json:"spec"`
}

// PodHeadMeta is the part of a pod's metadata that injection reads.
type PodHeadMeta struct {
	Labels      map[string]string  `json:"labels"`
	Annotations *map[string]string `json:"annotations"`
}

// PodHeadSpec holds the names of a pod's containers and volumes.
type PodHeadSpec struct {
	Containers *[]nameOnly `json:"containers"`
	Volumes    *[]nameOnly `json:"volumes"`
}

// nameOnly is an element's name. For a container it also notes whether its
// env runs the Istio agent alone (DISABLE_ENVOY=true), which PodFacts reads
// of an istio-proxy container.
type nameOnly struct {
	Name string `json:"name"`
	// agentOnly: the element's env sets DISABLE_ENVOY to "true" (its last
	// entry of that name, with a value rather than valueFrom). It is read
	// only where it can matter: when the element's name, read first, is
	// istio-proxy, or when env comes before the name and names
	// DISABLE_ENVOY at all.
	agentOnly bool
}

var (
	_ json.UnmarshalerFrom = (*PodHead)(nil)
	_ json.UnmarshalerFrom = (*PodHeadMeta)(nil)
	_ json.UnmarshalerFrom = (*PodHeadSpec)(nil)
	_ json.UnmarshalerFrom = (*nameOnly)(nil)
)

// UnmarshalJSONFrom decodes the head from dec, as json v2's default
// decoding of PodHead's fields would, but faster: every member it does not
// keep (managed fields, a container's env vars) is skipped with one
// ReadValue, which checks the value's syntax in a single tight loop, where
// the default decoding skips it token by token at a third of the speed.
// PodHeadMeta, PodHeadSpec and the element names decode the same way.
func (h *PodHead) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readObject(dec, "pod", func(name []byte) error {
		switch string(name) {
		case "metadata":
			return json.UnmarshalDecode(dec, &h.Metadata)
		case "spec":
			return json.UnmarshalDecode(dec, &h.Spec)
		}
		return skip(dec)
	})
}

// UnmarshalJSONFrom decodes the labels and annotations; see PodHead's.
func (m *PodHeadMeta) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readObject(dec, "metadata", func(name []byte) error {
		switch string(name) {
		case "labels":
			return json.UnmarshalDecode(dec, &m.Labels)
		case "annotations":
			return json.UnmarshalDecode(dec, &m.Annotations)
		}
		return skip(dec)
	})
}

// UnmarshalJSONFrom decodes the element names; see PodHead's.
func (s *PodHeadSpec) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readObject(dec, "spec", func(name []byte) error {
		switch string(name) {
		case "containers":
			return json.UnmarshalDecode(dec, &s.Containers)
		case "volumes":
			return json.UnmarshalDecode(dec, &s.Volumes)
		}
		return skip(dec)
	})
}

// UnmarshalJSONFrom decodes an element's name, and for a container whether
// it runs the Istio agent alone; see PodHead's. The API server sends a
// container's name before its env, so the env of every container but
// istio-proxy is skipped as before; when env comes first (a YAML file
// converted to JSON sorts the keys), it is only searched for the bytes
// DISABLE_ENVOY (or an escape) before it is decoded.
func (n *nameOnly) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readObject(dec, "element", func(name []byte) error {
		switch string(name) {
		case "name":
			return json.UnmarshalDecode(dec, &n.Name)
		case "env":
			if n.Name != "" && n.Name != IstioProxyName {
				return skip(dec)
			}
			env, err := dec.ReadValue()
			if err != nil {
				return err
			}
			if n.Name == "" && !bytes.Contains(env, disableEnvoyName) && bytes.IndexByte(env, '\\') < 0 {
				n.agentOnly = false
				return nil
			}
			n.agentOnly = envAgentOnly(env)
			return nil
		}
		return skip(dec)
	})
}

var disableEnvoyName = []byte(disableEnvoyEnv)

// envAgentOnly reads a container's env, as JSON, for DISABLE_ENVOY=true. An
// env that does not decode as a list of env vars does not run the agent
// alone (the pod is then left alone as istio_proxy_exists).
func envAgentOnly(env jsontext.Value) bool {
	var vars []struct {
		Name      string    `json:"name"`
		Value     string    `json:"value"`
		ValueFrom *struct{} `json:"valueFrom"`
	}
	if err := json.Unmarshal(env, &vars, decodeOptions); err != nil {
		return false
	}
	on := false
	for _, v := range vars {
		if v.Name == disableEnvoyEnv {
			on = v.ValueFrom == nil && v.Value == "true"
		}
	}
	return on
}

// readObject decodes a JSON object from dec, calling member for each name
// with the decoder at that name's value; member must consume the value.
// null is accepted and reads nothing.
func readObject(dec *jsontext.Decoder, what string, member func(name []byte) error) error {
	switch k := dec.PeekKind(); k {
	case 'n':
		return skip(dec)
	case '{':
	case 0:
		_, err := dec.ReadToken() // reports the syntax error
		return err
	default:
		return &InputError{Problem: "must be an object, not " + kindName(k)}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	var unquoted []byte
	for dec.PeekKind() != '}' {
		name, err := dec.ReadValue()
		if err != nil {
			return err
		}
		// A name is compared unescaped; one needs unescaping only if it
		// has a backslash. ReadValue has checked its syntax, so the only
		// error left is invalid UTF-8, which no name gatemesh reads has.
		key := []byte(name[1 : len(name)-1])
		if bytes.IndexByte(key, '\\') >= 0 {
			unquoted, _ = jsontext.AppendUnquote(unquoted[:0], name)
			key = unquoted
		}
		if err := member(key); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// skip reads past the next value.
func skip(dec *jsontext.Decoder) error {
	_, err := dec.ReadValue()
	return err
}

var _ json.UnmarshalerFrom = (*podElements)(nil)

// UnmarshalJSONFrom decodes the pod's containers and volumes as raw JSON,
// skipping everything else with one ReadValue each, as PodHead does.
func (e *podElements) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readObject(dec, "pod", func(name []byte) error {
		if string(name) != "spec" {
			return skip(dec)
		}
		return readObject(dec, "spec", func(name []byte) error {
			switch string(name) {
			case "containers":
				return json.UnmarshalDecode(dec, &e.Spec.Containers)
			case "volumes":
				return json.UnmarshalDecode(dec, &e.Spec.Volumes)
			}
			return skip(dec)
		})
	})
}
