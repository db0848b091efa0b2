package attack

import (
	"encoding/json"
	"fmt"
	"os"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// podFile is the realistic gateway pod of the benchmarks and the load
// harness, in the gateway namespace.
const podFile = "pkg/admit/testdata/gateway-proxy-pod.yaml"

// podReviewUID is the UID of every pod review the suite sends.
const podReviewUID = "a77ac000-0000-4000-8000-000000000001"

// podReview returns the AdmissionReview the API server sends for creating
// the pod in path.
func podReview(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read the gateway pod: %w", err)
	}
	pod, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("failed to decode %s: %w", path, err)
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid":       podReviewUID,
			"kind":      map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource":  map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"namespace": gatewayNamespace, "operation": "CREATE",
			"userInfo": map[string]any{"username": "system:serviceaccount:kube-system:replicaset-controller"},
			"object":   json.RawMessage(pod),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("failed to encode the pod review: %w", err)
	}
	return body, nil
}

// checkPodAnswer checks that body is the answer to the pod review: its UID,
// allowed, with the injection's JSON patch.
func checkPodAnswer(body []byte) error {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return fmt.Errorf("the answer is not an AdmissionReview: %w", err)
	}
	r := review.Response
	switch {
	case review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview":
		return fmt.Errorf("the answer is a %s %s, not an admission.k8s.io/v1 AdmissionReview", review.APIVersion, review.Kind)
	case r == nil:
		return fmt.Errorf("the answer has no response")
	case string(r.UID) != podReviewUID:
		return fmt.Errorf("the answer's UID is %q, not the review's %q", r.UID, podReviewUID)
	case !r.Allowed:
		return fmt.Errorf("the gateway pod was refused: %+v", r.Result)
	case r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch || len(r.Patch) == 0:
		return fmt.Errorf("the gateway pod was allowed without the injection's JSON patch")
	}
	return nil
}

// staticUpstream is a Gloo Upstream in namespace default sending to hosts,
// each on port 80.
func staticUpstream(name string, hosts []string) *unstructured.Unstructured {
	list := make([]any, len(hosts))
	for i, h := range hosts {
		list[i] = map[string]any{"addr": h, "port": int64(80)}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gloo.solo.io/v1", "kind": "Upstream",
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"spec":     map[string]any{"static": map[string]any{"hosts": list}},
	}}
}
