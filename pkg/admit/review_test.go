package admit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatemesh/gatemesh/pkg/mutate"
)

// TestDecodeReviewReadsHeadInOnePass checks that decoding the pod's head in
// the same pass as the review gives the request the plain decoding gives,
// the object's bytes included, and the head of request.object, however the
// review is laid out.
func TestDecodeReviewReadsHeadInOnePass(t *testing.T) {
	pod := `{"metadata":{"name":"p","labels":{"gateway-proxy":"live"},"annotations":{"object":"x"}},` +
		`"spec":{"containers":[{"name":"gateway-proxy","object":{"a":1}}],"volumes":[{"name":"v"}]}}`
	old := `{"metadata":{"name":"p","labels":{"old":"yes"}},"spec":{"containers":[{"name":"old"}]}}`
	indented := func(b []byte) []byte {
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	objectFirst := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"object" :	` + pod +
		`,"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"UPDATE","oldObject":` + old + `}}`

	tests := []struct {
		name     string
		body     []byte
		wantHead bool
		labels   map[string]string
	}{
		{name: "compact", body: review("Pod", "CREATE", pod), wantHead: true, labels: map[string]string{"gateway-proxy": "live"}},
		{name: "indented", body: indented(review("Pod", "CREATE", pod)), wantHead: true, labels: map[string]string{"gateway-proxy": "live"}},
		{name: "object first, then oldObject", body: []byte(objectFirst), wantHead: true, labels: map[string]string{"gateway-proxy": "live"}},
		{name: "null object", body: review("Pod", "DELETE", "null")},
		{name: "object that is not a pod's shape", body: review("Pod", "CREATE", `{"metadata":{"labels":5},"spec":[]}`)},
		{name: "object that is not an object", body: review("Pod", "CREATE", `"pod"`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, wantHead, err := decodeReview[mutate.PodHead](tc.body, nil)
			if err != nil || wantHead != nil {
				t.Fatalf("plain decode: head %v, err %v", wantHead, err)
			}
			got, head, err := decodeReview(tc.body, new(mutate.PodHead))
			if err != nil {
				t.Fatalf("decode with head: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request differs from the plain decoding (-want,+got):\n%s", diff)
			}
			if !tc.wantHead {
				if head != nil {
					t.Errorf("head = %+v, want none", head)
				}
				return
			}
			h := head
			if h == nil || h.Metadata == nil {
				t.Fatalf("head = %#v, want a pod head", head)
			}
			if diff := cmp.Diff(tc.labels, h.Metadata.Labels); diff != "" {
				t.Errorf("head labels (-want,+got):\n%s", diff)
			}
			if !strings.HasPrefix(string(got.Object.Raw), "{") {
				t.Errorf("object raw starts %.20q", got.Object.Raw)
			}
		})
	}
}

// TestEndpointAnswersWithContentLength checks that the answer is written
// whole, with its length, rather than chunked.
func TestEndpointAnswersWithContentLength(t *testing.T) {
	rec := send(newPodHandler(t, enabledNamespaces(nil)), "POST", "application/json", review("Pod", "CREATE", string(realisticPod(t))))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got, want := rec.Header().Get("Content-Length"), strconv.Itoa(rec.Body.Len()); got != want {
		t.Errorf("Content-Length = %q, want %q", got, want)
	}
	if !bytes.Contains(rec.Body.Bytes(), []byte(`"patch":"`)) {
		t.Errorf("answer has no patch: %.200s", rec.Body)
	}
}
