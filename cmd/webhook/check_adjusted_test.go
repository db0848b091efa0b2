package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// TestCheckExplainsAnAdjustedPod: check says what gatemesh changed in the
// istio-proxy of kgateway's deployer, from the pod's record, and whether the
// pod is current.
func TestCheckExplainsAnAdjustedPod(t *testing.T) {
	in := filepath.Join("..", "..", "pkg", "mutate", "testdata", "pod", "kgateway-istio.in.yaml")
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var sent corev1.Pod
	if err := yaml.Unmarshal(data, &sent); err != nil {
		t.Fatal(err)
	}
	code, out, stderr, _ := runCmd(t, "", "mutate", "-q", "--namespace-labels", "istio.io/rev=1-28", "-f", in)
	if code != 0 {
		t.Fatalf("mutate: exit %d: %s", code, stderr)
	}
	var adjusted corev1.Pod
	if err := yaml.Unmarshal([]byte(out), &adjusted); err != nil {
		t.Fatal(err)
	}
	rev := map[string]string{policy.DefaultNamespaceLabel: "enabled", "istio.io/rev": "1-28"}
	cases := map[string]struct {
		pod      *corev1.Pod
		nsLabels map[string]string
		wantCode int
		want     []string
	}{
		"adjusted and current": {
			pod: &adjusted, nsLabels: rev, wantCode: checkOK,
			want: []string{"adjusted, current with the policy",
				`CA_ADDR: "istiod.istio-system.svc:15012" (the deployer's) -> "istiod-1-28.istio-system.svc:15012"`,
				"istiod: istiod-1-28.istio-system.svc:15012, CA: istiod-1-28.istio-system.svc:15012, cluster ID Kubernetes, mesh ID cluster.local"},
		},
		"the deployer's values are the policy's": {
			pod: &sent, nsLabels: map[string]string{policy.DefaultNamespaceLabel: "enabled"}, wantCode: checkOK,
			want: []string{"already_adjusted"},
		},
		"created while the webhook was down": {
			pod: &sent, nsLabels: rev, wantCode: checkActionNeeded, want: []string{"not adjusted, but would be now"},
		},
		"adjusted, and the namespace has opted out since": {
			pod: &adjusted, nsLabels: map[string]string{"istio.io/rev": "1-28"}, wantCode: checkActionNeeded,
			want: []string{"adjusted, but the policy would not adjust it now: namespace_not_enabled"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sent.Namespace, Labels: tc.nsLabels}}
			c := fake.NewClientBuilder().WithObjects(ns, tc.pod.DeepCopy()).Build()
			pol, err := policy.New(policy.Config{})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			ck := &checker{ctx: context.Background(), c: c, pol: pol, out: &buf}
			obj, err := ck.get(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, sent.Namespace, sent.Name)
			if err != nil {
				t.Fatal(err)
			}
			code, err := ck.object(obj)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantCode, code); diff != "" {
				t.Errorf("exit code (-want,+got):\n%s\n%s", diff, buf.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, buf.String())
				}
			}
		})
	}
}
