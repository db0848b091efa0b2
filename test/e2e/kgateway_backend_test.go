package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// TestKgatewayBackends creates Backends on the API server with kgateway
// v2.2.0's own CRD installed: the shapes it refuses, and what gatemesh
// records on those it accepts.
func TestKgatewayBackends(t *testing.T) {
	mesh := namespace(t, "kgw-mesh", map[string]string{revisionLabel: SeedRevision})
	ns := namespace(t, "kgw-backends", nil)
	cases := map[string]struct {
		spec, annotations string
		// refused is part of the API server's message, when it refuses.
		refused string
		// want are gatemesh's and kgateway's annotations as stored.
		want map[string]string
	}{
		"Gloo's kube shape is refused: the schema has neither field": {
			spec:    "kube: {serviceName: httpbin, serviceNamespace: httpbin, servicePort: 8000}\ndisableIstioAutoMtls: true",
			refused: "field not declared in schema",
		},
		"a Backend with no kind of target is refused": {
			spec:    "type: Static",
			refused: "exactly one of the fields in [aws static dynamicForwardProxy] must be set",
		},
		"a static Backend without the deprecated type is refused by v2.2.0's rules": {
			spec:    "static: {hosts: [{host: api.example.com, port: 443}]}",
			refused: "no such key: type",
		},
		"a static Backend to a mesh service is recorded plaintext, as kgateway sends it": {
			spec: "type: Static\nstatic: {hosts: [{host: httpbin." + mesh + ".svc.cluster.local, port: 8000}]}",
			want: map[string]string{mtlsAnnotation: "disabled", mtlsReasonAnnot: string(policy.ReasonStaticBackendPlaintext), kgatewayAutoMtls: "true"},
		},
		"a static Backend to an outside host is recorded external": {
			spec: "type: Static\nstatic: {hosts: [{host: api.example.com, port: 443}]}",
			want: map[string]string{mtlsAnnotation: "disabled", mtlsReasonAnnot: string(policy.ReasonTargetExternal), kgatewayAutoMtls: "true"},
		},
		"a dynamic forward proxy is external": {
			spec: "type: DynamicForwardProxy\ndynamicForwardProxy: {}",
			want: map[string]string{mtlsAnnotation: "disabled", mtlsReasonAnnot: string(policy.ReasonTargetExternal), kgatewayAutoMtls: "true"},
		},
		"the user's kgateway annotation that kgateway cannot parse is left alone": {
			spec:        "type: Static\nstatic: {hosts: [{host: api.example.com, port: 443}]}",
			annotations: kgatewayAutoMtls + `: "yes"`,
			want:        map[string]string{mtlsAnnotation: "", mtlsReasonAnnot: "", kgatewayAutoMtls: "yes"},
		},
	}
	i := 0
	for name, tc := range cases {
		i++
		t.Run(name, func(t *testing.T) {
			obj := &unstructured.Unstructured{}
			doc := "apiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata:\n  name: " + fmt.Sprintf("b%d", i) +
				"\n  namespace: " + ns + "\n  annotations: {" + tc.annotations + "}\nspec:\n  " + strings.ReplaceAll(tc.spec, "\n", "\n  ") + "\n"
			if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
				t.Fatalf("failed to decode %q: %v", doc, err)
			}
			_, err := Apply(testCtx(t), suite.cp.Client, obj)
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("apply error = %v, want one saying %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ann := getObject(t, backendGVK, ns, obj.GetName()).GetAnnotations()
			got := map[string]string{}
			for k := range tc.want {
				got[k] = ann[k]
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stored annotations (-want,+got):\n%s", diff)
			}
		})
	}
}
