package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// transform changes one object, given as JSON, and says what it did.
type transform func(doc []byte) ([]byte, documentResult, error)

// outputDocument is one document of a stream after its transform, as JSON,
// with a result per object: one, or one per item of a List.
type outputDocument struct {
	JSON    []byte
	Results []documentResult
}

// chunk is one YAML document of a stream and the line it starts on.
type chunk struct {
	line int
	data []byte
}

// splitDocuments splits a multi-document YAML stream at its "---" lines,
// as kubectl does: a line starting with "---" followed by nothing or a
// comment.
func splitDocuments(data []byte) []chunk {
	var chunks []chunk
	cur := chunk{line: 1}
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, l := range lines {
		if rest, ok := bytes.CutPrefix(l, []byte("---")); ok {
			if t := bytes.TrimSpace(rest); len(t) == 0 || t[0] == '#' {
				chunks = append(chunks, cur)
				cur = chunk{line: i + 2}
				continue
			}
		}
		cur.data = append(cur.data, l...)
	}
	return append(chunks, cur)
}

// stream applies fn to every object of a multi-document YAML or JSON
// stream, and to every item of a List in place, and returns the documents
// in order. Empty documents are dropped. Duplicate keys are refused. An
// error names the document (counting from 1), the line it starts on and
// the problem; no partial result is returned with it.
func stream(data []byte, fn transform) ([]outputDocument, error) {
	var docs []outputDocument
	for index, c := range splitDocuments(data) {
		js, err := yaml.YAMLToJSONStrict(c.data)
		if err != nil {
			return nil, fmt.Errorf("document %d: invalid YAML: %s", index+1, yamlProblem(err, c.line))
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue
		}
		out, results, err := transformDocument(js, fn)
		if err != nil {
			return nil, fmt.Errorf("document %d (line %d): %w", index+1, c.line, err)
		}
		for i := range results {
			results[i].Index, results[i].Line = index, c.line
		}
		docs = append(docs, outputDocument{JSON: out, Results: results})
	}
	return docs, nil
}

// transformDocument applies fn to the object js, or to each of its items
// when it is a List, which it returns as a List again.
func transformDocument(js []byte, fn transform) ([]byte, []documentResult, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(js, &members); err != nil {
		return nil, nil, fmt.Errorf("not a Kubernetes object: the document is not a mapping")
	}
	var kind string
	_ = json.Unmarshal(members["kind"], &kind) // checked by fn
	if !strings.HasSuffix(kind, "List") || members["items"] == nil {
		out, res, err := fn(js)
		if err != nil {
			return nil, nil, withObject(res, err)
		}
		return out, []documentResult{res}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(members["items"], &items); err != nil {
		return nil, nil, fmt.Errorf("%s: /items: must be a list", kind)
	}
	var results []documentResult
	for i, item := range items {
		out, res, err := fn(item)
		if err != nil {
			return nil, nil, fmt.Errorf("%s item %d: %w", kind, i+1, withObject(res, err))
		}
		res.Item = i + 1
		items[i], results = out, append(results, res)
	}
	var err error
	if members["items"], err = json.Marshal(items); err != nil {
		return nil, nil, fmt.Errorf("internal error: failed to encode items: %w", err)
	}
	out, err := json.Marshal(members)
	if err != nil {
		return nil, nil, fmt.Errorf("internal error: failed to encode the List: %w", err)
	}
	return out, results, nil
}

// withObject prefixes err with the object it is about, when known.
func withObject(res documentResult, err error) error {
	if res.GroupVersionKind.Kind == "" {
		return err
	}
	return fmt.Errorf("%s %s/%s: %w", res.GroupVersionKind.Kind, res.Namespace, res.Name, err)
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlProblem says what is wrong with a YAML document in a user's words,
// with line numbers counted in the whole file; the document starts on
// line start.
func yamlProblem(err error, start int) string {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.Join(strings.Fields(msg), " ")
	msg = strings.ReplaceAll(msg, "already set in map", "is repeated")
	return yamlLine.ReplaceAllStringFunc(msg, func(m string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
		return "line " + strconv.Itoa(start+n-1)
	})
}
