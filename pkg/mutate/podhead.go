package mutate

import (
	"bytes"
	"fmt"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// PodHead is the part of a pod, or of a pod template, that injection reads:
// labels, annotations, and only the names of containers and volumes. A nil
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

type nameOnly struct {
	Name string `json:"name"`
}

var _ json.UnmarshalerFrom = (*PodHead)(nil)

// UnmarshalJSONFrom decodes the head from dec, as json v2's default
// decoding of PodHead's fields would, but faster: every member it does not
// keep (managed fields, a container's env vars) is skipped with one
// ReadValue, which checks the value's syntax in a single tight loop, where
// the default decoding skips it token by token at a third of the speed.
func (h *PodHead) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return readObject(dec, "pod", func(name []byte) error {
		switch string(name) {
		case "metadata":
			if h.Metadata == nil {
				h.Metadata = new(PodHeadMeta)
			}
			ok, err := readObjectOrNull(dec, "metadata", func(name []byte) error {
				switch string(name) {
				case "labels":
					return json.UnmarshalDecode(dec, &h.Metadata.Labels)
				case "annotations":
					return json.UnmarshalDecode(dec, &h.Metadata.Annotations)
				}
				return skip(dec)
			})
			if !ok {
				h.Metadata = nil
			}
			return err
		case "spec":
			if h.Spec == nil {
				h.Spec = new(PodHeadSpec)
			}
			ok, err := readObjectOrNull(dec, "spec", func(name []byte) error {
				switch string(name) {
				case "containers":
					return readNames(dec, "spec.containers", &h.Spec.Containers)
				case "volumes":
					return readNames(dec, "spec.volumes", &h.Spec.Volumes)
				}
				return skip(dec)
			})
			if !ok {
				h.Spec = nil
			}
			return err
		}
		return skip(dec)
	})
}

// readNames decodes a list of objects, keeping only their names, into
// *names; null leaves *names nil.
func readNames(dec *jsontext.Decoder, what string, names **[]nameOnly) error {
	if dec.PeekKind() == 'n' {
		*names = nil
		return skip(dec)
	}
	if k := dec.PeekKind(); k != '[' {
		return fmt.Errorf("%s: expected an array, found %v", what, k)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	list := make([]nameOnly, 0, 4)
	for dec.PeekKind() != ']' {
		var n nameOnly
		if _, err := readObjectOrNull(dec, what, func(name []byte) error {
			if string(name) == "name" {
				return json.UnmarshalDecode(dec, &n.Name)
			}
			return skip(dec)
		}); err != nil {
			return err
		}
		list = append(list, n)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	*names = &list
	return nil
}

// readObject decodes a JSON object from dec, calling member for each name
// with the decoder at that name's value; member must consume the value.
// null is accepted and reads nothing.
func readObject(dec *jsontext.Decoder, what string, member func(name []byte) error) error {
	_, err := readObjectOrNull(dec, what, member)
	return err
}

// readObjectOrNull is readObject that also tells whether the value was an
// object rather than null.
func readObjectOrNull(dec *jsontext.Decoder, what string, member func(name []byte) error) (bool, error) {
	switch k := dec.PeekKind(); k {
	case 'n':
		return false, skip(dec)
	case '{':
	case 0:
		_, err := dec.ReadToken() // reports the syntax error
		return false, err
	default:
		return false, fmt.Errorf("%s: expected an object, found %v", what, k)
	}
	if _, err := dec.ReadToken(); err != nil {
		return false, err
	}
	var unquoted []byte
	for dec.PeekKind() != '}' {
		name, err := dec.ReadValue()
		if err != nil {
			return false, err
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
			return false, err
		}
	}
	_, err := dec.ReadToken()
	return true, err
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
				return readValues(dec, "spec.containers", &e.Spec.Containers)
			case "volumes":
				return readValues(dec, "spec.volumes", &e.Spec.Volumes)
			}
			return skip(dec)
		})
	})
}

// readValues decodes a list into the raw JSON of its elements; null leaves
// *values nil.
func readValues(dec *jsontext.Decoder, what string, values *[]jsontext.Value) error {
	switch k := dec.PeekKind(); k {
	case 'n':
		*values = nil
		return skip(dec)
	case '[':
	default:
		return fmt.Errorf("%s: expected an array, found %v", what, k)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	list := make([]jsontext.Value, 0, 4)
	for dec.PeekKind() != ']' {
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		list = append(list, v.Clone())
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	*values = list
	return nil
}
