package mutate

import (
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// The edits below splice gatemesh's cluster into the bootstrap's text, or
// cut it out, and touch no byte outside that span. The parser gives where a
// node starts but not where it ends, so each edit checks the text it
// expects at the node's start and reports false when it does not find it;
// the caller then verifies the result by value (bootstrapDoc.verify).

// add inserts cluster c as the first of the cluster list, creating the
// list, and static_resources, where they are missing.
func (d *bootstrapDoc) add(c *sdsCluster) (string, bool) {
	listed := `"clusters": [` + c.flow + `]`
	switch {
	case d.clusters != nil && d.clusters.Kind == yaml.SequenceNode:
		if d.clusters.Style&yaml.FlowStyle != 0 || len(d.clusters.Content) == 0 {
			return d.insertAfter(d.clusters, '[', c.flow, len(d.clusters.Content) > 0)
		}
		return d.insertLines(d.clusters, d.clustersKey, '-', c.block)
	case d.clusters != nil && isNull(d.clusters):
		return d.fillNull(d.clustersKey, d.clusters, "["+c.flow+"]")
	case d.clusters != nil:
		return "", false
	case d.static != nil && d.static.Kind == yaml.MappingNode:
		if d.static.Style&yaml.FlowStyle != 0 || len(d.static.Content) == 0 {
			return d.insertAfter(d.static, '{', listed, len(d.static.Content) > 0)
		}
		return d.insertLines(d.static.Content[0], d.staticKey, 0, append([]string{"clusters:"}, c.block...))
	case d.static != nil && isNull(d.static):
		return d.fillNull(d.staticKey, d.static, "{"+listed+"}")
	case d.static != nil:
		return "", false
	case d.root.Style&yaml.FlowStyle != 0 || len(d.root.Content) == 0:
		return d.insertAfter(d.root, '{', `"static_resources": {`+listed+`}`, len(d.root.Content) > 0)
	}
	lines := []string{"static_resources:", "  clusters:"}
	for _, l := range c.block {
		lines = append(lines, "  "+l)
	}
	return d.insertLines(d.root.Content[0], nil, 0, lines)
}

// remove cuts the j-th cluster out of the list.
func (d *bootstrapDoc) remove(j int) (string, bool) {
	seq := d.clusters
	if seq == nil || seq.Kind != yaml.SequenceNode || len(seq.Content) != len(d.list) || j >= len(seq.Content) {
		return "", false
	}
	if seq.Style&yaml.FlowStyle != 0 {
		return d.removeFlow(seq, j)
	}
	return d.removeBlock(seq, j)
}

// insertLines inserts lines, indented as node at is, before the line of at,
// or, when at is the value of key and starts on a later line, just after
// key's line, so the comments above at stay with it. Only spaces may
// precede at on its line, and at must start with the byte first unless it
// is 0.
func (d *bootstrapDoc) insertLines(at, key *yaml.Node, first byte, lines []string) (string, bool) {
	off, ok := d.offset(at.Line, at.Column)
	if !ok || (first != 0 && (off >= len(d.text) || d.text[off] != first)) {
		return "", false
	}
	start := d.lines[at.Line-1]
	indent := d.text[start:off]
	if strings.Trim(indent, " ") != "" {
		return "", false
	}
	if key != nil && key.Line < at.Line {
		start = d.lines[key.Line]
		for l := key.Line + 1; l < at.Line; l++ {
			if !blankOrComment(d.line(l)) {
				return "", false
			}
		}
	}
	var b strings.Builder
	b.Grow(len(d.text) + len(lines)*(len(indent)+32))
	b.WriteString(d.text[:start])
	for _, l := range lines {
		b.WriteString(indent)
		b.WriteString(l)
		b.WriteString(d.eol)
	}
	b.WriteString(d.text[start:])
	return b.String(), true
}

// insertAfter inserts item just after the open bracket that starts the
// flow node n, followed by ", " when n has other entries.
func (d *bootstrapDoc) insertAfter(n *yaml.Node, open byte, item string, comma bool) (string, bool) {
	off, ok := d.offset(n.Line, n.Column)
	if !ok || off >= len(d.text) || d.text[off] != open {
		return "", false
	}
	if comma {
		item += ", "
	}
	return d.text[:off+1] + item + d.text[off+1:], true
}

// fillNull writes value as the value of key, whose value is null: in place
// of a null word such as ~ or null, or after the colon of an empty value.
func (d *bootstrapDoc) fillNull(key, val *yaml.Node, value string) (string, bool) {
	if val.Value != "" {
		off, ok := d.offset(val.Line, val.Column)
		if !ok || !strings.HasPrefix(d.text[off:], val.Value) {
			return "", false
		}
		return d.text[:off] + value + d.text[off+len(val.Value):], true
	}
	if key.Style != 0 {
		return "", false
	}
	off, ok := d.offset(key.Line, key.Column)
	if !ok || !strings.HasPrefix(d.text[off:], key.Value) {
		return "", false
	}
	off += len(key.Value)
	for off < len(d.text) && (d.text[off] == ' ' || d.text[off] == '\t') {
		off++
	}
	if off >= len(d.text) || d.text[off] != ':' {
		return "", false
	}
	return d.text[:off+1] + " " + value + d.text[off+1:], true
}

// removeBlock cuts the lines of the j-th item of a block sequence: from
// its dash to the next line indented no deeper than the dash, leaving the
// blank and comment lines before that to what follows.
func (d *bootstrapDoc) removeBlock(seq *yaml.Node, j int) (string, bool) {
	indent := seq.Column - 1
	item := seq.Content[j]
	start := 0
	for l := item.Line; l >= seq.Line && l >= 1; l-- {
		s := d.line(l)
		if len(s) > indent && s[indent] == '-' && strings.Trim(s[:indent], " ") == "" {
			start = l
			break
		}
	}
	if start == 0 {
		return "", false
	}
	end := start + 1
	for ; end <= len(d.lines); end++ {
		s := d.line(end)
		if !blankOrComment(s) && len(s)-len(strings.TrimLeft(s, " ")) <= indent {
			break
		}
	}
	for end-1 > start && blankOrComment(d.line(end-1)) {
		end--
	}
	to := len(d.text)
	if end <= len(d.lines) {
		to = d.lines[end-1]
	}
	return d.text[:d.lines[start-1]] + d.text[to:], true
}

// removeFlow cuts the j-th item of a flow sequence, a mapping, with the
// comma that separates it from the next item, or else from the one before.
func (d *bootstrapDoc) removeFlow(seq *yaml.Node, j int) (string, bool) {
	item := seq.Content[j]
	start, ok := d.offset(item.Line, item.Column)
	if !ok || item.Kind != yaml.MappingNode || start >= len(d.text) || d.text[start] != '{' {
		return "", false
	}
	end := matchClose(d.text, start)
	if end < 0 {
		return "", false
	}
	end++
	switch {
	case j+1 < len(seq.Content):
		k := skipSpace(d.text, end, " \t\r\n")
		if k >= len(d.text) || d.text[k] != ',' {
			return "", false
		}
		end = skipSpace(d.text, k+1, " \t")
	case j > 0:
		k := start - 1
		for k >= 0 && strings.IndexByte(" \t\r\n", d.text[k]) >= 0 {
			k--
		}
		if k < 0 || d.text[k] != ',' {
			return "", false
		}
		start = k
	}
	return d.text[:start] + d.text[end:], true
}

func skipSpace(s string, i int, space string) int {
	for i < len(s) && strings.IndexByte(space, s[i]) >= 0 {
		i++
	}
	return i
}

// matchClose returns the index of the bracket that closes the one at open,
// skipping quoted scalars and comments, or -1.
func matchClose(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		prev := byte(' ')
		if i > 0 {
			prev = s[i-1]
		}
		switch c := s[i]; {
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i
			}
		case (c == '"' || c == '\'') && strings.IndexByte(" \t\r\n{[,:", prev) >= 0:
			if i = closeQuote(s, i); i < 0 {
				return -1
			}
		case c == '#' && strings.IndexByte(" \t\r\n", prev) >= 0:
			nl := strings.IndexByte(s[i:], '\n')
			if nl < 0 {
				return -1
			}
			i += nl
		}
	}
	return -1
}

// closeQuote returns the index of the quote that ends the quoted scalar
// starting at i, or -1.
func closeQuote(s string, i int) int {
	q := s[i]
	for k := i + 1; k < len(s); k++ {
		switch {
		case q == '"' && s[k] == '\\':
			k++
		case s[k] == q && q == '\'' && k+1 < len(s) && s[k+1] == '\'':
			k++
		case s[k] == q:
			return k
		}
	}
	return -1
}

// offset converts the parser's 1-based line and column (in characters) to
// a byte offset.
func (d *bootstrapDoc) offset(line, col int) (int, bool) {
	if line < 1 || line > len(d.lines) {
		return 0, false
	}
	return columnOffset(d.text, d.lines[line-1], col)
}

// columnOffset is the byte offset in text of the 1-based column col (in
// characters, as the YAML parser counts them) of the line starting at
// lineStart; false when the line is shorter.
func columnOffset(text string, lineStart, col int) (int, bool) {
	if col < 1 {
		return 0, false
	}
	off := lineStart
	for range col - 1 {
		if off >= len(text) || text[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRuneInString(text[off:])
		off += size
	}
	return off, true
}

// line is the text of the 1-based line l without its line end.
func (d *bootstrapDoc) line(l int) string {
	start, end := d.lines[l-1], len(d.text)
	if l < len(d.lines) {
		end = d.lines[l] - 1
	}
	return strings.TrimSuffix(d.text[start:end], "\r")
}

func blankOrComment(s string) bool {
	t := strings.TrimLeft(s, " \t")
	return t == "" || t[0] == '#'
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}
