package mutate

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// bootstrapDoc is an Envoy bootstrap: its text, where each line starts, the
// nodes gatemesh edits around, and its value split into the cluster list and
// everything else.
type bootstrapDoc struct {
	text string
	// eol is the text's line end, \r\n when it has any, else \n.
	eol string
	// lines holds the byte offset at which each line starts.
	lines []int
	// root is the top mapping; static and clusters the values of
	// static_resources and its clusters, nil when absent, with their keys.
	root                  *yaml.Node
	staticKey, static     *yaml.Node
	clustersKey, clusters *yaml.Node
	// rest is the bootstrap's value without static_resources.clusters (and
	// without static_resources when nothing else is in it); list is that
	// cluster list.
	rest map[string]any
	list []any
}

// bootstrapKeys are top-level keys of which an Envoy bootstrap has at
// least one; a mapping with none of them is not a bootstrap.
var bootstrapKeys = []string{"static_resources", "dynamic_resources", "node", "admin"}

// parseBootstrap reads an Envoy bootstrap's nodes and its cluster list.
// It returns the document, or a reason it is left alone (not a bootstrap,
// or one gatemesh cannot splice into), or an error for text that is not
// YAML; the error's text is the problem, for an InputError. The value of
// the rest of the bootstrap is read only when gatemesh changes it (rest).
func parseBootstrap(text string) (*bootstrapDoc, policy.Reason, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		return nil, "", err
	}
	if n.Kind != yaml.DocumentNode || len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode {
		return nil, policy.ReasonNotBootstrap, nil
	}
	d := &bootstrapDoc{text: text, root: n.Content[0], eol: "\n"}
	if !slices.ContainsFunc(bootstrapKeys, func(k string) bool { key, _ := mappingValue(d.root, k); return key != nil }) {
		return nil, policy.ReasonNotBootstrap, nil
	}
	d.staticKey, d.static = mappingValue(d.root, "static_resources")
	switch {
	case d.static == nil || isNull(d.static):
	case d.static.Kind == yaml.MappingNode:
		d.clustersKey, d.clusters = mappingValue(d.static, "clusters")
	default:
		return nil, policy.ReasonBootstrapUnsupported, nil
	}
	switch {
	case d.clusters == nil || isNull(d.clusters):
	case d.clusters.Kind == yaml.SequenceNode:
		if err := d.clusters.Decode(&d.list); err != nil {
			return nil, "", err
		}
	default:
		return nil, policy.ReasonBootstrapUnsupported, nil
	}
	// Line breaks other than \n and \r\n would make the parser's line
	// numbers disagree with ours.
	if strings.ContainsAny(text, "\u0085\u2028\u2029\ufeff") || strings.Count(text, "\r") != strings.Count(text, "\r\n") {
		return nil, policy.ReasonBootstrapUnsupported, nil
	}
	if strings.Contains(text, "\r\n") {
		d.eol = "\r\n"
	}
	d.lines = append(d.lines, 0)
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			d.lines = append(d.lines, i+1)
		}
	}
	return d, "", nil
}

// readRest reads the value of the bootstrap outside its cluster list into
// d.rest, value by value, so the clusters are not read twice. It reports an
// error for YAML the node parser let pass (a repeated key), and false for a
// key that is not a plain string, such as a merge key (<<) that could bring
// in a static_resources or clusters the nodes do not show.
func (d *bootstrapDoc) readRest() (bool, error) {
	rest, ok, err := decodeMapping(d.root, "static_resources")
	if !ok || err != nil {
		return false, err
	}
	if d.static != nil && d.static.Kind == yaml.MappingNode {
		s, ok, err := decodeMapping(d.static, "clusters")
		if !ok || err != nil {
			return false, err
		}
		if len(s) > 0 {
			rest["static_resources"] = s
		}
	}
	d.rest = rest
	return true, nil
}

// decodeMapping decodes the entries of a mapping node but skip's.
func decodeMapping(m *yaml.Node, skip string) (map[string]any, bool, error) {
	out := make(map[string]any, len(m.Content)/2)
	seen := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			return nil, false, nil
		}
		if _, dup := out[k.Value]; dup || (k.Value == skip && seen) {
			return nil, false, fmt.Errorf("line %d: mapping key %q already defined", k.Line, k.Value)
		}
		if k.Value == skip {
			seen = true
			continue
		}
		var x any
		if err := v.Decode(&x); err != nil {
			return nil, false, err
		}
		out[k.Value] = x
	}
	return out, true, nil
}

// mappingValue finds key among a mapping node's plain string keys.
func mappingValue(m *yaml.Node, key string) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if c := m.Content[i]; c.Kind == yaml.ScalarNode && c.Value == key && c.ShortTag() == "!!str" {
			return c, m.Content[i+1]
		}
	}
	return nil, nil
}

// verify reports whether text is this bootstrap with its cluster list
// replaced by want and nothing else changed in value. d.rest must be read.
func (d *bootstrapDoc) verify(text string, want []any) bool {
	after, reason, err := parseBootstrap(text)
	if err != nil || reason != "" {
		return false
	}
	if ok, err := after.readRest(); !ok || err != nil {
		return false
	}
	return reflect.DeepEqual(after.rest, d.rest) && sameList(after.list, want)
}

func sameList(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// ownCluster is the index of the cluster whose hash is mark, or -1.
func (d *bootstrapDoc) ownCluster(mark string) int {
	if !strings.HasPrefix(mark, hashPrefix) {
		return -1
	}
	for i, c := range d.list {
		if h, ok := clusterHash(c); ok && h == mark {
			return i
		}
	}
	return -1
}

// namedCluster reports whether a cluster other than skip is named name.
func (d *bootstrapDoc) namedCluster(name string, skip int) bool {
	for i, c := range d.list {
		if n, ok := clusterName(c); ok && n == name && i != skip {
			return true
		}
	}
	return false
}
