package policy

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodMatchExpression renders selectors as the CEL expression of the pod
// webhook's matchCondition, so that the API server sends gatemesh only the
// pods one of them matches: the manifest's pods.gatemesh.io condition is
// this expression for DefaultGatewayProxies, and a test holds the two
// together. A selector is the conjunction of its requirements, and the
// expression is their disjunction. The expression reads
// object.metadata.labels, which a pod may lack: every requirement tests for
// it first, so a selector of DoesNotExist requirements alone still matches
// a pod without labels, as the label selector does.
func PodMatchExpression(selectors []GatewayProxySelector) (string, error) {
	var any []string
	for i, g := range selectors {
		terms, err := selectorTerms(g.Selector)
		if err != nil {
			return "", fmt.Errorf("failed to render selector %d: %w", i, err)
		}
		any = append(any, "("+strings.Join(terms, " && ")+")")
	}
	if len(any) == 0 {
		return "false", nil
	}
	return strings.Join(any, " ||\n"), nil
}

// selectorTerms renders one selector's requirements, matchLabels first, in
// key order.
func selectorTerms(s metav1.LabelSelector) ([]string, error) {
	var terms []string
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		terms = append(terms, fmt.Sprintf("%s && %s == %s", hasLabel(k), label(k), quote(s.MatchLabels[k])))
	}
	for _, r := range s.MatchExpressions {
		switch r.Operator {
		case metav1.LabelSelectorOpIn:
			terms = append(terms, fmt.Sprintf("%s && %s in %s", hasLabel(r.Key), label(r.Key), list(r.Values)))
		case metav1.LabelSelectorOpNotIn:
			terms = append(terms, fmt.Sprintf("!(%s && %s in %s)", hasLabel(r.Key), label(r.Key), list(r.Values)))
		case metav1.LabelSelectorOpExists:
			terms = append(terms, hasLabel(r.Key))
		case metav1.LabelSelectorOpDoesNotExist:
			terms = append(terms, "!"+hasLabel(r.Key))
		default:
			return nil, fmt.Errorf("operator %q is not a label selector operator", r.Operator)
		}
	}
	if len(terms) == 0 {
		return nil, fmt.Errorf("internal error: empty selector")
	}
	return terms, nil
}

func hasLabel(k string) string {
	return fmt.Sprintf("(has(object.metadata.labels) && %s in object.metadata.labels)", quote(k))
}

func label(k string) string { return "object.metadata.labels[" + quote(k) + "]" }

func list(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// quote is a CEL string literal. Label keys and values are restricted to
// letters, digits, '-', '_', '.' and '/', which need no escaping; quote
// escapes backslashes and quotes anyway.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
