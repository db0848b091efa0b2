package admit

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
)

func TestEncodePatchMatchesJSONMarshal(t *testing.T) {
	ops := []jsonpatch.Operation{
		jsonpatch.NewOperation("add", "/metadata/annotations/a~1b", "x<y>&\"z\""),
		jsonpatch.NewOperation("replace", "/spec/containers/1", corev1.Container{Name: "istio-proxy", Args: []string{"--x"}}),
		jsonpatch.NewOperation("remove", "/spec/volumes/3", nil),
		jsonpatch.NewOperation("add", "/spec/volumes", []corev1.Volume{{Name: "v"}}),
		jsonpatch.NewOperation("add", "/n", json.Number("18446744073709551615")),
		jsonpatch.NewOperation("add", "/metadata/annotations", map[string]string{"b": "2", "a": "<1>", "c\u2028": ""}),
		jsonpatch.NewOperation("add", "/metadata/labels", map[string]string{}),
		jsonpatch.NewOperation("add", "/metadata/annotations/bad\xff", "v\xfe"),
	}
	got, err := encodePatch(nil, ops)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("patch (-json.Marshal,+encodePatch):\n%s", diff)
	}
}
