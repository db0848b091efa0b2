package mutate

import (
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// maxProxyConfig bounds the PROXY_CONFIG value gatemesh parses: Istio's
// mesh config for one proxy is a few hundred bytes; a larger one is left
// alone.
const maxProxyConfig = 64 << 10

const discoveryAddressKey = "discoveryAddress"

// withDiscoveryAddress returns text, a PROXY_CONFIG value (Istio's
// ProxyConfig as YAML or JSON), with its top-level discoveryAddress set to
// addr, and true; or false when it cannot do that without touching
// anything else. Only the bytes of the address's scalar change, in its own
// style where addr reads back the same in it, else as a double-quoted
// string, so the deployer's or the user's layout, comments and other fields
// stay as they wrote them. kgateway v2.2.0 renders
// `{"discoveryAddress": istiod.istio-system.svc:15012 }` (a plain scalar
// in a flow mapping); gatemesh's own injection writes JSON.
//
// The edit is verified by value: the result must decode to the input with
// only discoveryAddress changed. A PROXY_CONFIG that is not a mapping, has
// no single discoveryAddress, or holds it as anything but a plain or
// quoted scalar (a block scalar, an alias, a tagged or anchored value)
// gives false.
func withDiscoveryAddress(text, addr string) (string, bool) {
	if len(text) > maxProxyConfig || strings.ContainsAny(text, "\r\u0085\u2028\u2029") {
		return "", false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return "", false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return "", false
	}
	var value *yaml.Node
	for k := 0; k+1 < len(root.Content); k += 2 {
		if key := root.Content[k]; key.Kind == yaml.ScalarNode && key.Value == discoveryAddressKey {
			if value != nil {
				return "", false
			}
			value = root.Content[k+1]
		}
	}
	if value == nil || value.Kind != yaml.ScalarNode || value.Anchor != "" || value.Style&yaml.TaggedStyle != 0 || value.ShortTag() != "!!str" {
		return "", false
	}
	if value.Value == addr {
		return text, true
	}
	start, ok := lineColumnOffset(text, value.Line, value.Column)
	if !ok {
		return "", false
	}
	end, ok := scalarEnd(text, start, value)
	if !ok {
		return "", false
	}
	want, err := decodedWith(text, addr)
	if err != nil {
		return "", false
	}
	for _, repr := range scalarReprs(value.Style, addr) {
		out := text[:start] + repr + text[end:]
		if got, err := decodeProxyConfig(out); err == nil && reflect.DeepEqual(want, got) {
			return out, true
		}
	}
	return "", false
}

// scalarEnd returns the offset just past the scalar value, which starts at
// start in text.
func scalarEnd(text string, start int, value *yaml.Node) (int, bool) {
	switch {
	case value.Style == 0:
		// A plain scalar on one line is its own text.
		if strings.HasPrefix(text[start:], value.Value) {
			return start + len(value.Value), true
		}
	case value.Style&yaml.DoubleQuotedStyle != 0 && strings.HasPrefix(text[start:], `"`),
		value.Style&yaml.SingleQuotedStyle != 0 && strings.HasPrefix(text[start:], `'`):
		if end := closeQuote(text, start); end >= 0 {
			return end + 1, true
		}
	}
	return 0, false
}

// scalarReprs are the ways to write addr in place of a scalar of style, in
// order of preference: the same style, then a double-quoted (JSON) string,
// which reads back as addr anywhere.
func scalarReprs(style yaml.Style, addr string) []string {
	quoted := jsonString(addr)
	switch {
	case style == 0:
		return []string{addr, quoted}
	case style&yaml.SingleQuotedStyle != 0:
		return []string{"'" + strings.ReplaceAll(addr, "'", "''") + "'", quoted}
	}
	return []string{quoted}
}

// decodedWith is text decoded, with its discoveryAddress set to addr.
func decodedWith(text, addr string) (map[string]any, error) {
	m, err := decodeProxyConfig(text)
	if err != nil {
		return nil, err
	}
	m[discoveryAddressKey] = addr
	return m, nil
}

func decodeProxyConfig(text string) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// lineColumnOffset is the byte offset in text of the 1-based line and
// column (counted in characters, as the YAML parser counts them).
func lineColumnOffset(text string, line, col int) (int, bool) {
	if line < 1 {
		return 0, false
	}
	start := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(text[start:], '\n')
		if i < 0 {
			return 0, false
		}
		start += i + 1
	}
	return columnOffset(text, start, col)
}
