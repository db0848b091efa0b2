package admit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"gomodules.xyz/jsonpatch/v2"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// errored answers a failed review: 400 with the field and the problem when
// the object is malformed (a *mutate.InputError), 500 otherwise (which the
// endpoint logs, with the request).
func errored(_ context.Context, err error) admission.Response {
	if mutate.IsInputError(err) {
		return admission.Errored(http.StatusBadRequest, err)
	}
	return admission.Errored(http.StatusInternalServerError, err)
}

// patched allows the request with ops as its JSON patch, and records the
// reason as the audit annotation.
//
// The operations stay operations (resp.Patches) until the answer is written:
// appendAnswer encodes them once, into scratch memory it reuses.
func patched(reason policy.Reason, ops []jsonpatch.Operation) admission.Response {
	resp := admission.Allowed(allowedMessage(reason))
	resp.AuditAnnotations = map[string]string{AuditAnnotation: string(reason)}
	resp.Patches = ops
	return resp
}

// allowedMessages holds each reason's "gatemesh: <sentence>", so that an
// answer does not build it again.
var allowedMessages sync.Map

func allowedMessage(r policy.Reason) string {
	if m, ok := allowedMessages.Load(r); ok {
		return m.(string)
	}
	m := "gatemesh: " + r.Sentence()
	allowedMessages.Store(r, m)
	return m
}

// encodePatch writes ops as an RFC 6902 document. It is json.Marshal(ops)
// without the second pass that jsonpatch.Operation's MarshalJSON costs (it
// marshals each operation, and json.Marshal then re-validates the result),
// and with the operations, paths and string values quoted directly: on a
// gateway pod those passes and per-string encoder calls were a third of the
// whole admission. Only structured values go through encoding/json.
func encodePatch(b []byte, ops []jsonpatch.Operation) ([]byte, error) {
	var structured bytes.Buffer
	enc := json.NewEncoder(&structured)
	b = append(b, '[')
	for i, op := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":`...)
		b = quote(b, op.Operation)
		b = append(b, `,"path":`...)
		b = quote(b, op.Path)
		if op.Operation != "remove" {
			var err error
			b = append(b, `,"value":`...)
			if b, err = appendValue(b, op.Value, enc, &structured); err != nil {
				return nil, fmt.Errorf("internal error: failed to encode patch value at %s: %w", op.Path, err)
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendValue appends v's JSON to b: JSON that pkg/mutate encoded, strings
// and string maps directly, any other value with enc, which writes into buf.
func appendValue(b []byte, v any, enc *json.Encoder, buf *bytes.Buffer) ([]byte, error) {
	switch v := v.(type) {
	case jsontext.Value:
		return append(b, v...), nil
	case string:
		return quote(b, v), nil
	case map[string]string:
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(quote(b, k), ':')
			b = quote(b, v[k])
		}
		return append(b, '}'), nil
	}
	buf.Reset()
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

// quote appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json writes it; that is the only error AppendQuote reports.
func quote(b []byte, s string) []byte {
	b, _ = jsontext.AppendQuote(b, s)
	return b
}
