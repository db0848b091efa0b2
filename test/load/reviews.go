package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/yaml"
)

// request is one prepared review.
type request struct {
	name, path string
	body       []byte
	patched    bool // whether the answer carries a patch
}

// podFile is the realistic gateway pod the benchmarks use too.
const podFile = "pkg/admit/testdata/gateway-proxy-pod.yaml"

const upstream = `{"apiVersion":"gloo.solo.io/v1","kind":"Upstream",
 "metadata":{"name":"default-httpbin-8000","namespace":"gloo-system","labels":{"discovered_by":"kubernetesplugin"}},
 "spec":{"discoveryMetadata":{"labels":{"app":"httpbin"}},"kube":{"selector":{"app":"httpbin"},"serviceName":"httpbin","serviceNamespace":"default","servicePort":8000}}}`

const staticBackend = `{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"Backend",
 "metadata":{"name":"httpbin","namespace":"kgateway-system"},
 "spec":{"type":"Static","static":{"hosts":[{"host":"httpbin.httpbin.svc.cluster.local","port":8000}]}}}`

const externalBackend = `{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"Backend",
 "metadata":{"name":"json","namespace":"default"},
 "spec":{"type":"Static","static":{"hosts":[{"host":"jsonplaceholder.typicode.com","port":80}]}}}`

// reviews builds the mix: for every 10 reviews, 6 gateway pods, 2
// Upstreams and 2 Backends. Each is sent once first to learn whether its
// answer carries a patch, which every later answer must match.
func reviews(client *http.Client, addr string) ([]request, error) {
	podYAML, err := os.ReadFile(podFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s (run from the repository root): %w", podFile, err)
	}
	pod, err := yaml.YAMLToJSON(podYAML)
	if err != nil {
		return nil, err
	}
	kinds := []struct {
		name, path, group, version, kind, resource, ns string
		object                                         []byte
	}{
		{"pod", "/mutate-pod", "", "v1", "Pod", "pods", "gloo-system", pod},
		{"upstream", "/mutate-backend", "gloo.solo.io", "v1", "Upstream", "upstreams", "gloo-system", []byte(upstream)},
		{"backend-static", "/mutate-backend", "gateway.kgateway.dev", "v1alpha1", "Backend", "backends", "kgateway-system", []byte(staticBackend)},
		{"backend-external", "/mutate-backend", "gateway.kgateway.dev", "v1alpha1", "Backend", "backends", "default", []byte(externalBackend)},
	}
	var prepared []request
	for _, k := range kinds {
		body, err := json.Marshal(map[string]any{
			"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
			"request": map[string]any{
				"uid":       "6f0c5a7e-0000-4000-8000-" + fmt.Sprintf("%012d", len(prepared)),
				"kind":      map[string]string{"group": k.group, "version": k.version, "kind": k.kind},
				"resource":  map[string]string{"group": k.group, "version": k.version, "resource": k.resource},
				"namespace": k.ns, "operation": "CREATE", "object": json.RawMessage(k.object),
			},
		})
		if err != nil {
			return nil, err
		}
		r := request{name: k.name, path: k.path, body: body}
		if r.patched, err = probe(client, addr, r); err != nil {
			return nil, err
		}
		prepared = append(prepared, r)
	}
	pods, ups, back := prepared[0], prepared[1], prepared[2:]
	return []request{pods, ups, pods, back[0], pods, pods, ups, pods, back[1], pods}, nil
}

func probe(client *http.Client, addr string, r request) (bool, error) {
	resp, err := client.Post("https://"+addr+r.path, "application/json", bytes.NewReader(r.body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil || !out.Response.Allowed {
		return false, fmt.Errorf("%s: the first review was not allowed (%v): %+v", r.name, err, out.Response)
	}
	return len(out.Response.Patch) > 0, nil
}
