package mutate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// disabledStamp is a Backend stamp that carries kgateway's annotation.
func disabledStamp(mtls, reason, marker string) *stampView {
	v := stamped(mtls, reason, marker, nil)
	v.Annotations[KgatewayDisableAutoMtlsAnnotation] = "true"
	return v
}

func TestBackendStamp(t *testing.T) {
	inMesh := sets.New("httpbin")
	b := func() *objBuilder { return makeBackend("b", "default") }
	stampedDisabled := func() *objBuilder {
		return b().static("httpbin.org").
			annotation(KgatewayDisableAutoMtlsAnnotation, "true").
			annotation(MtlsAnnotation, "disabled").
			annotation(MtlsReasonAnnotation, "target_external").
			annotation(MtlsHashAnnotation, markerDisabledTrue)
	}
	runStampCases(t, Backend, map[string]stampCase{
		"the older shape with disableIstioAutoMtls gets kgateway's annotation": {
			in: b().kube("httpbin").set(true, "spec", "disableIstioAutoMtls").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "disable_istio_auto_mtls", markerDisabledTrue),
		},
		"an older-shape kube Backend in the mesh is stamped istio": {
			in: b().kube("httpbin").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("istio", "target_in_mesh", markerIstioNone, nil),
		},
		"an older-shape kube Backend outside the mesh is stamped disabled": {
			in: b().kube("legacy").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "target_namespace_not_in_mesh", markerDisabledTrue),
		},
		"a static Backend to an outside host is stamped disabled": {
			in: b().static("api.example.com").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "target_external", markerDisabledTrue),
		},
		"a static Backend to an in-cluster name in the mesh is stamped istio": {
			in: b().static("httpbin.httpbin.svc").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("istio", "target_in_mesh", markerIstioNone, nil),
		},
		"an AWS Backend is outside the mesh": {
			in: b().set(map[string]any{"lambda": map[string]any{"functionName": "f"}}, "spec", "aws").obj(), reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "target_external", markerDisabledTrue),
		},
		"a GCP Backend is outside the mesh": {
			in: b().set(map[string]any{"host": "x.run.app"}, "spec", "gcp").obj(), reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "target_external", markerDisabledTrue),
		},
		"a dynamic forward proxy Backend is outside the mesh": {
			in: b().set(map[string]any{}, "spec", "dynamicForwardProxy").obj(), reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "target_external", markerDisabledTrue),
		},
		"an AI Backend is left alone": {
			in: b().set(map[string]any{"llm": map[string]any{}}, "spec", "ai").obj(), reason: policy.ReasonTargetUnknown,
		},
		"an opted-out Backend gets the annotation, and its opt-out stays the user's": {
			in: b().static("httpbin.httpbin.svc").annotation(MtlsAnnotation, "disabled").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "opted_out", markerUserMtlsTrue),
		},
		"an already stamped Backend is unchanged": {
			in: stampedDisabled().obj(), reason: policy.ReasonAlreadyStamped,
		},
		"moving into the mesh removes the annotation gatemesh stamped": {
			in:   stampedDisabled().set([]any{map[string]any{"host": "httpbin.httpbin.svc", "port": int64(80)}}, "spec", "static", "hosts").obj(),
			mesh: inMesh, reason: policy.ReasonUnstamped,
			want: stamped("istio", "target_in_mesh", markerIstioNone, nil),
		},
		"the user's kgateway annotation is left alone": {
			in: b().static("api.example.com").annotation(KgatewayDisableAutoMtlsAnnotation, "true").obj(), reason: policy.ReasonUserAnnotation,
		},
		"a kgateway annotation added after an istio stamp is the user's": {
			in: b().static("httpbin.httpbin.svc").annotation(KgatewayDisableAutoMtlsAnnotation, "true").
				annotation(MtlsAnnotation, "istio").annotation(MtlsHashAnnotation, markerIstioNone).obj(),
			mesh: inMesh, reason: policy.ReasonUserAnnotation,
		},
		"a stamped annotation edited by the user is left alone": {
			in: stampedDisabled().annotation(KgatewayDisableAutoMtlsAnnotation, "false").obj(), reason: policy.ReasonStampEdited,
		},
		"with autoMtls off an external Backend that does not opt in is left alone": {
			in: b().static("api.example.com").obj(), manual: true, reason: policy.ReasonAutoMtlsOff,
		},
		"with autoMtls off gatemesh removes everything it stamped": {
			in: stampedDisabled().annotation("example.com/keep", "x").obj(), manual: true, reason: policy.ReasonUnstamped,
			want: &stampView{},
		},
	})
}

func TestBackendMalformed(t *testing.T) {
	b := func() *objBuilder { return makeBackend("b", "default") }
	cases := map[string]struct {
		in   *unstructured.Unstructured
		want string
	}{
		"metadata is a string":  {b().set("x", "metadata").obj(), "metadata must be an object, not a string"},
		"static is a list":      {b().set([]any{}, "spec", "static").obj(), "spec.static must be an object, not a list"},
		"a host is a bool":      {b().set(map[string]any{"hosts": []any{map[string]any{"host": true}}}, "spec", "static").obj(), "spec.static.hosts[0].host must be a string, not a boolean"},
		"disable flag is a map": {b().kube("x").set(map[string]any{}, "spec", "disableIstioAutoMtls").obj(), "spec.disableIstioAutoMtls must be a boolean, not an object"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := Backend(tc.in, backendPolicy(t, true), nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseBackendObject(t *testing.T) {
	pol := backendPolicy(t, true)
	cases := map[string]struct {
		raw     string
		want    policy.Target
		wantErr string
	}{
		"a kube Upstream targets its service namespace": {
			raw:  `{"apiVersion":"gloo.solo.io/v1","kind":"Upstream","metadata":{"name":"u","namespace":"gloo-system"},"spec":{"kube":{"serviceNamespace":"default"}}}`,
			want: policy.Target{Kind: policy.TargetServices, Namespaces: []string{"default"}},
		},
		"static hosts give their namespaces, sorted and once": {
			raw:  `{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"Backend","metadata":{"name":"b"},"spec":{"static":{"hosts":[{"host":"b.ns2.svc"},{"host":"a.ns1.svc.cluster.local"},{"host":"c.ns2.svc"}]}}}`,
			want: policy.Target{Kind: policy.TargetServices, Namespaces: []string{"ns1", "ns2"}},
		},
		"not JSON": {raw: `{"apiVersion":`, wantErr: "failed to decode object"},
		"another kind": {
			raw:     `{"apiVersion":"gloo.solo.io/v1","kind":"VirtualService","metadata":{"name":"v"}}`,
			wantErr: "gloo.solo.io/v1, Kind=VirtualService is not a kind gatemesh stamps",
		},
		"a malformed field names the kind and the field": {
			raw:     `{"apiVersion":"gloo.solo.io/v1","kind":"Upstream","metadata":{"name":"u","annotations":{"a":1}},"spec":{}}`,
			wantErr: `invalid Upstream: metadata.annotations["a"] must be a string, not a number`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseBackendObject([]byte(tc.raw), pol)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one starting %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Target()); diff != "" {
				t.Errorf("Target() mismatch (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestDiffObjects(t *testing.T) {
	obj := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	cases := map[string]struct {
		before, after string
		want          []jsonpatch.Operation
		ok            bool
	}{
		"equal objects give no patch": {
			before: `{"a":{"b":[1,2]},"c":"d"}`, after: `{"a":{"b":[1,2]},"c":"d"}`, ok: true,
		},
		"adds, replaces and removes at depth, keys escaped and sorted": {
			before: `{"metadata":{"annotations":{"a/b":"1","z~":"2"}},"spec":{"x":1,"ssl":"s"}}`,
			after:  `{"metadata":{"annotations":{"a/b":"1","new":"3"}},"spec":{"x":1,"ssl":{"sds":{}}},"t":true}`,
			want: []jsonpatch.Operation{
				jsonpatch.NewOperation("remove", "/metadata/annotations/z~0", nil),
				jsonpatch.NewOperation("add", "/metadata/annotations/new", "3"),
				jsonpatch.NewOperation("replace", "/spec/ssl", map[string]any{"sds": map[string]any{}}),
				jsonpatch.NewOperation("add", "/t", true),
			},
			ok: true,
		},
		"a changed list is not diffed": {
			before: `{"spec":{"hosts":[{"port":1}]}}`, after: `{"spec":{"hosts":[{"port":2}]}}`,
		},
		"a list replaced by an object is not diffed": {
			before: `{"spec":{"hosts":[1]}}`, after: `{"spec":{"hosts":{}}}`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := diffObjects(nil, "", obj(tc.before), obj(tc.after))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("patch (-want,+got):\n%s", diff)
			}
		})
	}
}
