package admit

import (
	"encoding/base64"
	jsonv1 "encoding/json"
	"maps"
	"slices"
	"strconv"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// reviewHead opens every answer: the AdmissionReview's type and its response.
const reviewHead = `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":`

// patchScratch recycles the memory a patch is encoded into before its
// base64 goes into the answer.
var patchScratch = sync.Pool{New: func() any { return new([]byte) }}

// appendAnswer appends the AdmissionReview that carries resp, as JSON, to b.
// It writes what encoding/json writes for admissionv1.AdmissionReview (as
// JSON values; TestAppendAnswerMatchesEncodingJSON holds it), with
// resp.Patches encoded as the patch, as controller-runtime does. But it
// encodes the patch once, into reused scratch memory, and writes its base64
// straight into b: through encoding/json, a pod's 6 KB patch was allocated,
// then encoded by reflection into a scratch buffer and copied again. A status
// with more than a code, message, reason and status is left to encoding/json.
func appendAnswer(b []byte, resp *admission.Response) ([]byte, error) {
	r := &resp.AdmissionResponse
	if len(resp.Patches) > 0 {
		scratch := patchScratch.Get().(*[]byte)
		defer func() {
			if cap(*scratch) <= maxPooledBuffer {
				patchScratch.Put(scratch)
			}
		}()
		var err error
		if *scratch, err = encodePatch((*scratch)[:0], resp.Patches); err != nil {
			return b, err
		}
		pt := admissionv1.PatchTypeJSONPatch
		r.Patch, r.PatchType = *scratch, &pt
		defer func() { r.Patch = nil }() // scratch is reused: the answer must not keep it
	}
	if !simpleStatus(r.Result) {
		out := admissionv1.AdmissionReview{Response: r}
		out.APIVersion, out.Kind = admissionv1.SchemeGroupVersion.String(), "AdmissionReview"
		js, err := jsonv1.Marshal(out)
		return append(b, js...), err
	}
	b = append(b, reviewHead...)
	b = quote(b, string(r.UID))
	b = append(b, `,"allowed":`...)
	b = strconv.AppendBool(b, r.Allowed)
	if s := r.Result; s != nil {
		b = append(b, `,"status":{"metadata":{}`...)
		b = appendMember(b, "status", s.Status)
		b = appendMember(b, "message", s.Message)
		b = appendMember(b, "reason", string(s.Reason))
		if s.Code != 0 {
			b = append(b, `,"code":`...)
			b = strconv.AppendInt(b, int64(s.Code), 10)
		}
		b = append(b, '}')
	}
	if len(r.Patch) > 0 {
		b = append(b, `,"patch":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Patch)
		b = append(b, '"')
	}
	if r.PatchType != nil {
		b = append(b, `,"patchType":`...)
		b = quote(b, string(*r.PatchType))
	}
	if len(r.AuditAnnotations) > 0 {
		b = append(b, `,"auditAnnotations":{`...)
		for i, k := range slices.Sorted(maps.Keys(r.AuditAnnotations)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(quote(b, k), ':')
			b = quote(b, r.AuditAnnotations[k])
		}
		b = append(b, '}')
	}
	if len(r.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, w := range r.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = quote(b, w)
		}
		b = append(b, ']')
	}
	return append(b, "}}\n"...), nil
}

// simpleStatus reports whether appendAnswer writes s itself.
func simpleStatus(s *metav1.Status) bool {
	return s == nil || (s.TypeMeta == metav1.TypeMeta{} && s.ListMeta.ResourceVersion == "" && s.ListMeta.Continue == "" &&
		s.ListMeta.SelfLink == "" && s.ListMeta.RemainingItemCount == nil && s.ListMeta.ShardInfo == nil && s.Details == nil)
}

// appendMember appends ,"name":"v" unless v is empty (omitempty).
func appendMember(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return quote(b, v)
}
