package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// mutatedDocument is one document of a stream after mutation, as YAML.
type mutatedDocument struct {
	YAML   []byte
	Result documentResult
}

// stream mutates every document of a multi-document YAML or JSON stream with
// document and returns them in order, as YAML. Empty documents are dropped.
// An error names the document (counting from 1) and the problem; no partial
// result is returned with it.
func stream(data []byte, pol *policy.Policy, off offlineNamespaces) ([]mutatedDocument, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []mutatedDocument
	for index := 0; ; index++ {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: failed to read: %w", index+1, err)
		}
		js, err := yaml.YAMLToJSON(chunk)
		if err != nil {
			return nil, fmt.Errorf("document %d: invalid YAML: %w", index+1, err)
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue
		}
		out, res, err := document(js, pol, off)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", index+1, err)
		}
		res.Index = index
		y, err := yaml.JSONToYAML(out)
		if err != nil {
			return nil, fmt.Errorf("document %d: internal error: failed to write YAML: %w", index+1, err)
		}
		docs = append(docs, mutatedDocument{YAML: y, Result: res})
	}
}
