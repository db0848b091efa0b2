package admit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// bootstrapConfigMap is a gateway's bootstrap ConfigMap with one cluster.
func bootstrapConfigMap(annotations string) string {
	envoy := "node:\n  id: gw\nstatic_resources:\n  clusters:\n  - name: xds_cluster # the control plane\n    connect_timeout: 5.000s\n"
	b, _ := json.Marshal(envoy)
	return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"gateway-proxy-envoy-config","namespace":"gloo-system"` +
		annotations + `},"data":{"envoy.yaml":` + string(b) + `}}`
}

func TestBootstrapHandler(t *testing.T) {
	h := func(ns Namespaces) *endpoint[struct{}] {
		return newEndpoint(newBootstrapHandler(testPolicy(t), ns), testLimiter())
	}
	cases := map[string]struct {
		ns          Namespaces
		kind, op    string
		object      string
		wantReason  policy.Reason
		wantPatch   []string
		wantWarning string
	}{
		"the chart's ConfigMap in an opted-in namespace gets the cluster and the owner mark": {
			ns: enabledNamespaces(nil), kind: "ConfigMap", op: "CREATE", object: bootstrapConfigMap(""),
			wantReason: policy.ReasonBootstrapClusterAdded, wantPatch: []string{"gateway_proxy_sds", mutate.BootstrapClusterAnnotation},
		},
		"an update is mutated too": {
			ns: enabledNamespaces(nil), kind: "ConfigMap", op: "UPDATE", object: bootstrapConfigMap(""),
			wantReason: policy.ReasonBootstrapClusterAdded, wantPatch: []string{"gateway_proxy_sds"},
		},
		"a namespace that has not opted in is left alone": {
			ns: StaticNamespaces{}, kind: "ConfigMap", op: "CREATE", object: bootstrapConfigMap(""),
			wantReason: policy.ReasonNamespaceNotEnabled,
		},
		"a bootstrap too large to read is allowed unchanged, with a warning": {
			ns: enabledNamespaces(nil), kind: "ConfigMap", op: "CREATE",
			object:     strings.Replace(bootstrapConfigMap(""), `node:\n`, `node:\n# `+strings.Repeat("x", mutate.MaxBootstrapBytes)+`\n`, 1),
			wantReason: policy.ReasonBootstrapTooLarge, wantWarning: "larger than 256 KiB",
		},
		"another kind passes": {
			ns: enabledNamespaces(nil), kind: "Secret", op: "CREATE", object: `{}`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp := post(t, h(tc.ns), review(tc.kind, tc.op, tc.object))
			if !resp.Allowed {
				t.Fatalf("refused: %+v", resp.Result)
			}
			if got := policy.Reason(resp.AuditAnnotations[AuditAnnotation]); got != tc.wantReason {
				t.Errorf("reason = %q, want %q", got, tc.wantReason)
			}
			if tc.wantWarning != "" && (len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], tc.wantWarning)) {
				t.Errorf("warnings %q, want one with %q", resp.Warnings, tc.wantWarning)
			}
			if len(tc.wantPatch) == 0 && len(resp.Patch) > 0 {
				t.Errorf("unexpected patch %s", resp.Patch)
			}
			for _, w := range tc.wantPatch {
				if !strings.Contains(string(resp.Patch), w) {
					t.Errorf("patch lacks %q: %s", w, resp.Patch)
				}
			}
		})
	}
}
