package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// webhookManifest is the MutatingWebhookConfiguration users apply.
var webhookManifest = filepath.Join("..", "..", "manifests", "base", "mutatingwebhookconfiguration.yaml")

// TestManifestPodMatchConditionIsTheDefaultSelectors fails when the pod
// webhook's matchCondition drifts from DefaultGatewayProxies: update the
// manifest with the expression this test prints.
func TestManifestPodMatchConditionIsTheDefaultSelectors(t *testing.T) {
	raw, err := os.ReadFile(webhookManifest)
	if err != nil {
		t.Fatal(err)
	}
	var cfg admissionv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatalf("failed to decode %s: %v", webhookManifest, err)
	}
	want, err := PodMatchExpression(DefaultGatewayProxies())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cfg.Webhooks {
		if w.Name != "pods.gatemesh.io" {
			continue
		}
		for _, c := range w.MatchConditions {
			got = append(got, c.Name+": "+spaces(c.Expression))
		}
	}
	if diff := cmp.Diff([]string{"gateway-proxy: " + spaces(want)}, got); diff != "" {
		t.Errorf("pods.gatemesh.io matchConditions (-want,+got):\n%s\nwant expression:\n%s", diff, want)
	}
}

// spaces collapses runs of white space, which a folded YAML scalar turns
// into single spaces.
func spaces(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestPodMatchExpression(t *testing.T) {
	cases := map[string]struct {
		selectors []GatewayProxySelector
		want      string
	}{
		"no selectors match nothing": {want: "false"},
		"matchLabels in key order, then each operator": {
			selectors: []GatewayProxySelector{{Selector: metav1.LabelSelector{
				MatchLabels: map[string]string{"b": "2", "a": "1"},
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "c", Operator: metav1.LabelSelectorOpIn, Values: []string{"x", "y"}},
					{Key: "d", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"z"}},
					{Key: "e", Operator: metav1.LabelSelectorOpExists},
					{Key: "f", Operator: metav1.LabelSelectorOpDoesNotExist},
				},
			}}},
			want: "((has(object.metadata.labels) && 'a' in object.metadata.labels) && object.metadata.labels['a'] == '1' && " +
				"(has(object.metadata.labels) && 'b' in object.metadata.labels) && object.metadata.labels['b'] == '2' && " +
				"(has(object.metadata.labels) && 'c' in object.metadata.labels) && object.metadata.labels['c'] in ['x', 'y'] && " +
				"!((has(object.metadata.labels) && 'd' in object.metadata.labels) && object.metadata.labels['d'] in ['z']) && " +
				"(has(object.metadata.labels) && 'e' in object.metadata.labels) && " +
				"!(has(object.metadata.labels) && 'f' in object.metadata.labels))",
		},
		"selectors are alternatives": {
			selectors: []GatewayProxySelector{
				{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"a": "1"}}},
				{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"b": "2"}}},
			},
			want: "((has(object.metadata.labels) && 'a' in object.metadata.labels) && object.metadata.labels['a'] == '1') ||\n" +
				"((has(object.metadata.labels) && 'b' in object.metadata.labels) && object.metadata.labels['b'] == '2')",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := PodMatchExpression(tc.selectors)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("PodMatchExpression() (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestPodMatchExpressionRefusesAnUnknownOperator(t *testing.T) {
	_, err := PodMatchExpression([]GatewayProxySelector{{Selector: metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Gt", Values: []string{"1"}}},
	}}})
	if err == nil {
		t.Fatal("PodMatchExpression() = nil error, want one for operator Gt")
	}
}
