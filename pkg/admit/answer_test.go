package admit

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// TestAppendAnswerMatchesEncodingJSON holds the hand-written answer against
// encoding/json's encoding of the same AdmissionReview, as JSON values.
func TestAppendAnswerMatchesEncodingJSON(t *testing.T) {
	jp := admissionv1.PatchTypeJSONPatch
	withDetails := admission.Errored(http.StatusBadRequest, errors.New("bad"))
	withDetails.Result.Details = &metav1.StatusDetails{Name: "x"}
	cases := map[string]admissionv1.AdmissionResponse{
		"allowed, nothing else": {UID: "u", Allowed: true},
		"a patch with its reason": {
			UID: "u", Allowed: true, Result: &metav1.Status{Code: 200, Message: `gatemesh: injected <"quoted"> & ☃`},
			Patch: []byte(`[{"op":"add","path":"/a","value":"\u2028"}]`), PatchType: &jp,
			AuditAnnotations: map[string]string{"reason": "injected", "b": "2", "a": "1"},
			Warnings:         []string{"one", "two \n"},
		},
		"an error":               admission.Errored(http.StatusInternalServerError, errors.New("internal error: boom")).AdmissionResponse,
		"a denial with a reason": admission.Denied("no").AdmissionResponse,
		"a status this file leaves to encoding/json": withDetails.AdmissionResponse,
		"invalid UTF-8": {UID: "u\xff", Allowed: true, Result: &metav1.Status{Message: "a\xffb"}},
	}
	withOps := admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{UID: "u", Allowed: true, Result: &metav1.Status{Code: 200}},
		Patches: []jsonpatch.Operation{jsonpatch.NewOperation("add", "/metadata/annotations/a~1b", "v"), jsonpatch.NewOperation("remove", "/x", nil)}}
	t.Run("operations are encoded as the patch, as controller-runtime does", func(t *testing.T) {
		got, err := appendAnswer(nil, &withOps)
		if err != nil {
			t.Fatal(err)
		}
		if err := withOps.Complete(admission.Request{}); err != nil {
			t.Fatal(err)
		}
		withOps.UID = "u"
		want, _ := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Response: &withOps.AdmissionResponse,
		})
		var gotV, wantV any
		if err := json.Unmarshal(got, &gotV); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(want, &wantV)
		if diff := cmp.Diff(wantV, gotV); diff != "" {
			t.Errorf("(-controller-runtime,+appendAnswer):\n%s", diff)
		}
	})
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := appendAnswer(nil, &admission.Response{AdmissionResponse: r})
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(admissionv1.AdmissionReview{
				TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Response: &r,
			})
			if err != nil {
				t.Fatal(err)
			}
			var gotV, wantV any
			if err := json.Unmarshal(got, &gotV); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, got)
			}
			if err := json.Unmarshal(want, &wantV); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantV, gotV); diff != "" {
				t.Errorf("(-encoding/json,+appendAnswer):\n%s", diff)
			}
		})
	}
}
