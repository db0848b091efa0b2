package mutate

import (
	"bytes"
	jsonv1 "encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"gomodules.xyz/jsonpatch/v2"
)

// DecodeOptions are the options gatemesh decodes typed objects with, using
// json v2 (github.com/go-json-experiment/json, the package that became Go's
// encoding/json/v2): field names match case-sensitively, as the API server
// matches them, and unknown fields are skipped. A repeated name is decoded
// again into the same field and invalid UTF-8 becomes U+FFFD, both as
// encoding/json does; checking for repeated names cost more than the rest of
// the decoding on an object with thousands of keys.
//
// json v2 decodes an AdmissionReview about four times as fast as
// encoding/json on the build machine (see docs/performance.md), which is
// most of the cost of an admission. Typed objects only: generic JSON, whose
// numbers must keep their integer form, is decoded with encoding/json.
func DecodeOptions() json.Options { return decodeOptions }

var decodeOptions = json.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// decodeStrictCase decodes JSON into a typed value with DecodeOptions.
func decodeStrictCase(raw []byte, into any) error {
	return json.Unmarshal(raw, into, decodeOptions)
}

// patchRaw returns the JSON patch from raw to raw with the edits that turned
// the typed object before (decoded from raw) into after.
//
// A typed object cannot be diffed against raw directly: marshalling it drops
// the fields its Go type does not know, and the diff would remove them from
// the user's object. So the edits are found by diffing before and after, both
// marshalled from the same Go type; they are replayed onto the generic JSON
// of raw, where unknown fields are kept; and the patch is the diff of raw
// against that result. It never touches a field gatemesh did not change.
func patchRaw(raw []byte, before, after any) ([]jsonpatch.Operation, error) {
	edits, err := diffTyped(before, after)
	if err != nil {
		return nil, err
	}
	doc, err := decodeGeneric(raw)
	if err != nil {
		return nil, err
	}
	if doc, err = replay(doc, edits); err != nil {
		return nil, err
	}
	mutated, err := jsonv1.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to marshal mutated object: %w", err)
	}
	ops, err := jsonpatch.CreatePatch(raw, mutated)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to create patch: %w", err)
	}
	return ops, nil
}

func diffTyped(before, after any) ([]jsonpatch.Operation, error) {
	a, err := jsonv1.Marshal(before)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to marshal object: %w", err)
	}
	b, err := jsonv1.Marshal(after)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to marshal mutated object: %w", err)
	}
	ops, err := jsonpatch.CreatePatch(a, b)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to diff objects: %w", err)
	}
	return ops, nil
}

// decodeGeneric decodes JSON into maps, slices and json.Number.
func decodeGeneric(raw []byte) (any, error) {
	dec := jsonv1.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("failed to decode object: %w", err)
	}
	return doc, nil
}

// replay applies edits found between two typed objects to doc, the generic
// JSON the first was decoded from. doc may differ from that marshalled object
// in where they are silent: a key the Go type always writes (a null slice,
// say) may be absent from doc. So a replace of a missing key adds it, a
// remove of a missing key does nothing, and missing or null parents of an
// added value are created as objects. It returns the new root.
func replay(doc any, edits []jsonpatch.Operation) (any, error) {
	for _, op := range edits {
		var err error
		if doc, err = replayOne(doc, splitPointer(op.Path), op); err != nil {
			return nil, fmt.Errorf("internal error: failed to replay %s %s: %w", op.Operation, op.Path, err)
		}
	}
	return doc, nil
}

func replayOne(node any, path []string, op jsonpatch.Operation) (any, error) {
	if len(path) == 0 {
		if op.Operation == "remove" {
			return nil, nil
		}
		return op.Value, nil
	}
	key, rest := path[0], path[1:]
	switch n := node.(type) {
	case map[string]any:
		child, ok := n[key]
		if !ok && op.Operation == "remove" {
			return n, nil
		}
		if len(rest) == 0 && op.Operation == "remove" {
			delete(n, key)
			return n, nil
		}
		updated, err := replayOne(child, rest, op)
		if err != nil {
			return nil, err
		}
		n[key] = updated
		return n, nil
	case []any:
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i > len(n) {
			return nil, fmt.Errorf("index %q out of range for an array of %d", key, len(n))
		}
		if len(rest) == 0 {
			switch {
			case op.Operation == "remove" && i < len(n):
				return append(n[:i], n[i+1:]...), nil
			case op.Operation == "remove":
				return n, nil
			case op.Operation == "add":
				return append(n[:i], append([]any{op.Value}, n[i:]...)...), nil
			case i == len(n):
				return append(n, op.Value), nil
			}
		}
		if i == len(n) {
			return nil, fmt.Errorf("index %d past the end of an array of %d", i, len(n))
		}
		updated, err := replayOne(n[i], rest, op)
		if err != nil {
			return nil, err
		}
		n[i] = updated
		return n, nil
	case nil:
		if op.Operation == "remove" {
			return nil, nil
		}
		return replayOne(map[string]any{}, path, op)
	default:
		return nil, fmt.Errorf("cannot descend into a %T", node)
	}
}

// splitPointer splits an RFC 6901 JSON pointer into its unescaped tokens.
func splitPointer(p string) []string {
	if p == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts
}
