package mutate

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"
)

// checkOracle checks a fast patch against the library path, the way the API
// server would see both: fast, applied strictly (RFC 6902, as the API server
// applies it) to raw, must give the same JSON value as the library's patch,
// jsonpatch.CreatePatch(raw, libraryResult), applied strictly to raw.
// libraryResult is raw decoded, mutated by a reference implementation and
// encoded again; comparing the patched raw objects rather than libraryResult
// itself forgives what that round trip alone changes (a number beyond
// float64 precision, say), which neither patch touches. An edit the fast
// path forgets, or makes wrongly, fails the check.
func checkOracle(t testing.TB, raw []byte, fast []jsonpatch.Operation, libraryResult []byte) {
	t.Helper()
	got, err := strictApply(raw, fast)
	if err != nil {
		t.Fatalf("oracle: the fast patch does not apply strictly: %v\npatch: %s\ninput: %s", err, encodeOps(t, fast), raw)
	}
	libOps, err := jsonpatch.CreatePatch(raw, libraryResult)
	if err != nil {
		t.Fatalf("oracle: failed to create the library patch: %v", err)
	}
	want, err := strictApply(raw, libOps)
	if err != nil {
		t.Fatalf("oracle: the library patch does not apply strictly: %v\npatch: %s", err, encodeOps(t, libOps))
	}
	if diff := cmp.Diff(jsonValue(t, want), jsonValue(t, got)); diff != "" {
		t.Errorf("oracle: the fast patch and the library's give different objects (-library,+fast):\n%s\nfast patch: %s\nlibrary patch: %s\ninput: %s",
			diff, encodeOps(t, fast), encodeOps(t, libOps), raw)
	}
}

// jsonValue decodes JSON into maps, slices and json.Number, so that values
// compare exactly, numbers by their text.
func jsonValue(t testing.TB, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("oracle: invalid JSON: %v\n%s", err, data)
	}
	return v
}

func encodeOps(t testing.TB, ops []jsonpatch.Operation) []byte {
	t.Helper()
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatalf("oracle: failed to encode patch: %v", err)
	}
	return b
}
