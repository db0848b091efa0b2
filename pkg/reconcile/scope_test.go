package reconcile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// The reconciler writes only the backends the backend webhooks cover: both
// leave out exactly its skipped namespaces, as shipped, and between them
// (opted in: Fail; elsewhere: Ignore, which the reconciler repairs) they
// cover every other namespace.
func TestSkipNamespacesFollowTheWebhook(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "manifests", "base", "mutatingwebhookconfiguration.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(data, &mwc); err != nil {
		t.Fatal(err)
	}
	skip := metav1.LabelSelectorRequirement{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: DefaultSkipNamespaces,
	}
	fail, ignore := admissionregistrationv1.Fail, admissionregistrationv1.Ignore
	want := map[string]struct {
		Policy   *admissionregistrationv1.FailurePolicyType
		Selector *metav1.LabelSelector
	}{
		"backends.gatemesh.io": {&fail, &metav1.LabelSelector{
			MatchLabels:      map[string]string{"gatemesh.io/injection": "enabled"},
			MatchExpressions: []metav1.LabelSelectorRequirement{skip},
		}},
		"backends-other.gatemesh.io": {&ignore, &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "gatemesh.io/injection", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"enabled"}},
				skip,
			},
		}},
	}
	for name, w := range want {
		i := slices.IndexFunc(mwc.Webhooks, func(h admissionregistrationv1.MutatingWebhook) bool { return h.Name == name })
		if i < 0 {
			t.Errorf("no %s webhook in the manifest", name)
			continue
		}
		h := mwc.Webhooks[i]
		if diff := cmp.Diff(w.Policy, h.FailurePolicy); diff != "" {
			t.Errorf("%s failurePolicy (-want,+got):\n%s", name, diff)
		}
		if diff := cmp.Diff(w.Selector, h.NamespaceSelector); diff != "" {
			t.Errorf("%s namespaceSelector does not leave out exactly the reconciler's DefaultSkipNamespaces (-want,+got):\n%s", name, diff)
		}
	}
}

func TestLabelChanges(t *testing.T) {
	pol, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ns := func(labels ...string) policy.Namespace {
		m := map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			m[labels[i]] = labels[i+1]
		}
		return policy.Namespace{Name: "ns", Labels: m}
	}
	tests := map[string]struct {
		before, after policy.Namespace
		mesh, pods    bool
	}{
		"a revision label puts the namespace in the mesh":       {ns(), ns("istio.io/rev", "1-28"), true, true},
		"istio-injection=enabled puts it in the mesh":           {ns(), ns("istio-injection", "enabled"), true, false},
		"istio-injection=disabled takes it out over a revision": {ns("istio.io/rev", "1-28"), ns("istio.io/rev", "1-28", "istio-injection", "disabled"), true, false},
		"another revision keeps it in the mesh, moves its pods": {ns("istio.io/rev", "1-27"), ns("istio.io/rev", "1-28"), false, true},
		"opting in to gatemesh changes the pods' plan only":     {ns(), ns("gatemesh.io/injection", "enabled"), false, true},
		"a label neither reads changes nothing":                 {ns(), ns("team", "a"), false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := [2]bool{meshChanged(pol, tc.before, tc.after), podLabelsChanged(pol, tc.before, tc.after)}
			if diff := cmp.Diff([2]bool{tc.mesh, tc.pods}, got); diff != "" {
				t.Errorf("[mesh, pods] changed (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	op := jsonpatch.NewOperation
	tests := map[string]struct {
		ops  []jsonpatch.Operation
		want string
	}{
		"no patch, no difference": {nil, ""},
		"fields the API server defaulted are no difference": {[]jsonpatch.Operation{
			op("remove", "/spec/containers/1/terminationMessagePath", nil),
			op("remove", "/spec/containers/1/ports/0/protocol", nil),
		}, ""},
		"the status annotation alone is no difference": {[]jsonpatch.Operation{
			op("replace", "/metadata/annotations/gatemesh.io~1status", "{}"),
		}, ""},
		"the adjusted record alone is no difference": {[]jsonpatch.Operation{
			op("replace", "/metadata/annotations/gatemesh.io~1adjusted", "{}"),
		}, ""},
		"a changed value is": {[]jsonpatch.Operation{
			op("replace", "/spec/containers/1/env/3/value", "istiod-1-28.istio-system.svc:15012"),
			op("remove", "/spec/containers/1/env/7", nil),
		}, "replace /spec/containers/1/env/3/value, remove /spec/containers/1/env/7"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, describe(tc.ops)); diff != "" {
				t.Errorf("describe (-want,+got):\n%s", diff)
			}
		})
	}
}
