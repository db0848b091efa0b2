package admit

import (
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// FuzzPodHandler sends arbitrary bodies to the pod webhook. Whatever the
// body, the answer must be an AdmissionReview; an allowed patch must apply
// to the request's object; and admitting the patched object again must
// produce no patch.
func FuzzPodHandler(f *testing.F) {
	f.Add(review("Pod", "CREATE", gatewayPod))
	f.Add(review("Pod", "CREATE", `{"metadata":{"labels":{"kgateway":"kube-gateway"}}}`))
	f.Add(review("Pod", "UPDATE", gatewayPod))
	f.Add(review("Deployment", "CREATE", `{}`))
	f.Add([]byte(`{"request":{"uid":"x"}}`))
	f.Add([]byte(`not json`))
	h := newPodHandler(f, enabledNamespaces(nil))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := post(t, h, body)
		if !resp.Allowed || len(resp.Patch) == 0 {
			return
		}
		var in admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			t.Fatalf("a patch was returned for a body that is not a review: %s", body)
		}
		patched := applyPatch(t, in.Request.Object.Raw, resp)
		in.Request.Object.Raw = patched
		again, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		resp2 := post(t, h, again)
		if len(resp2.Patch) != 0 {
			t.Fatalf("second admission patched again: %s", resp2.Patch)
		}
	})
}
