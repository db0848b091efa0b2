package main

import (
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const gatewayDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway-proxy
  namespace: gloo-system
spec:
  selector:
    matchLabels: {gloo: gateway-proxy}
  template:
    metadata:
      labels: {gloo: gateway-proxy}
    spec:
      containers:
      - name: gateway-proxy
        image: envoy:1
`

const configMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: "1"
`

func TestMutateKeepsOrderAndPassesOtherKinds(t *testing.T) {
	file := writeFile(t, "in.yaml", configMap+"---\n"+gatewayDeployment)
	code, stdout, stderr, _ := runCmd(t, "", "mutate", "-f", file, "--namespace-labels", "istio.io/rev=1-28")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	docs := strings.Split(stdout, "---\n")
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2:\n%s", len(docs), stdout)
	}
	var cm, dep map[string]any
	if err := yaml.Unmarshal([]byte(docs[0]), &cm); err != nil || cm["kind"] != "ConfigMap" {
		t.Fatalf("first document is not the ConfigMap (%v): %s", err, docs[0])
	}
	if err := yaml.Unmarshal([]byte(docs[1]), &dep); err != nil || dep["kind"] != "Deployment" {
		t.Fatalf("second document is not the Deployment (%v): %s", err, docs[1])
	}
	for _, want := range []string{"name: istio-proxy", "name: sds", "istiod-1-28.istio-system.svc:15012"} {
		if !strings.Contains(docs[1], want) {
			t.Errorf("the Deployment lacks %q", want)
		}
	}
	if !strings.Contains(stderr, "Deployment gloo-system/gateway-proxy: injected") {
		t.Errorf("stderr lacks the summary line: %q", stderr)
	}
}

func TestMutateReadsStdinAndRepeatedFiles(t *testing.T) {
	file := writeFile(t, "cm.yaml", configMap)
	code, stdout, stderr, _ := runCmd(t, gatewayDeployment, "mutate", "-f", "-", "-f", file, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("--quiet printed %q", stderr)
	}
	if n := strings.Count(stdout, "---\n"); n != 1 || !strings.HasPrefix(stdout, "apiVersion: apps/v1") {
		t.Errorf("want the Deployment then the ConfigMap, got:\n%s", stdout)
	}
}

func TestMutateMalformedInputWritesNothing(t *testing.T) {
	cases := map[string]struct {
		input, wantMsg string
	}{
		"invalid YAML in the second document": {
			input: gatewayDeployment + "---\nkind: [unclosed\n", wantMsg: "document 2",
		},
		"a document without kind": {
			input: "apiVersion: v1\nmetadata: {name: x}\n", wantMsg: "apiVersion and kind are required",
		},
		"a pod whose containers are not a list": {
			input: "apiVersion: v1\nkind: Pod\nmetadata: {labels: {gloo: gateway-proxy}}\nspec: {containers: 3}\n", wantMsg: "/spec/containers: must not be a number",
		},
		"a Deployment without a template": {
			input: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n", wantMsg: "/spec/template: is required",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			file := writeFile(t, "bad.yaml", tc.input)
			code, stdout, stderr, _ := runCmd(t, "", "mutate", "-f", file)
			if code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if stdout != "" {
				t.Errorf("stdout is not empty: %q", stdout)
			}
			if !strings.Contains(stderr, tc.wantMsg) || !strings.Contains(stderr, file) {
				t.Errorf("stderr %q does not name the file and contain %q", stderr, tc.wantMsg)
			}
		})
	}
}

func TestMutateMissingFile(t *testing.T) {
	code, stdout, stderr, _ := runCmd(t, "", "mutate", "-f", "/nonexistent/x.yaml")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "/nonexistent/x.yaml") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestMutateGlooChart takes what `helm template` renders for Gloo's gateway
// proxy (the 1.17.38 chart, without its Istio integration, from the shared
// reference beside the repository) through `mutate`: the output is a
// complete set for GitOps, with the pod template injected and the
// bootstrap's SDS cluster added.
func TestMutateGlooChart(t *testing.T) {
	chart := filepath.Join("..", "..", "..", "shared", "reference", "gloo-1.17.38", "gateway-proxy.yaml")
	code, stdout, stderr, _ := runCmd(t, "", "mutate", "-f", chart)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"name: istio-proxy", "name: sds", "- name: gateway_proxy_sds", "port_value: 8234", "gatemesh.io/bootstrap-cluster: sha256:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, want := range []string{"ConfigMap gloo-system/gateway-proxy-envoy-config: bootstrap_cluster_added", "Deployment gloo-system/gateway-proxy: injected"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, stderr)
		}
	}
	// The output goes through again unchanged: the webhook would change
	// nothing when it is applied.
	again := writeFile(t, "out.yaml", stdout)
	_, stdout2, stderr2, _ := runCmd(t, "", "mutate", "-f", again)
	if stdout2 != stdout {
		t.Errorf("a second pass changed the output; stderr: %s", stderr2)
	}
}
