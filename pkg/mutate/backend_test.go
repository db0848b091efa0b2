package mutate

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
	runStampCases(t, map[string]stampCase{
		"the older shape with disableIstioAutoMtls gets kgateway's annotation": {
			in: b().kube("httpbin").set(true, "spec", "disableIstioAutoMtls").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "disable_istio_auto_mtls", markerDisabledTrue),
		},
		"a Backend in Gloo's kube shape is left alone": {
			in: b().kube("httpbin").obj(), mesh: inMesh, reason: policy.ReasonNotKgatewayShape,
		},
		"a Backend in Gloo's kube shape that gatemesh stamped before is unstamped": {
			in: b().kube("legacy").annotation(KgatewayDisableAutoMtlsAnnotation, "true").
				annotation(MtlsAnnotation, "disabled").annotation(MtlsReasonAnnotation, "target_namespace_not_in_mesh").
				annotation(MtlsHashAnnotation, markerDisabledTrue).obj(),
			mesh: inMesh, reason: policy.ReasonUnstamped, want: &stampView{},
		},
		"a static Backend to an outside host is stamped disabled": {
			in: b().static("api.example.com").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "target_external", markerDisabledTrue),
		},
		"a static Backend to an in-cluster name in the mesh is stamped disabled: kgateway sends it plaintext": {
			in: b().static("httpbin.httpbin.svc").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "static_backend_plaintext", markerDisabledTrue),
		},
		"a static Backend that opts in is stamped disabled, and the opt-in stays the user's": {
			in: b().static("api.example.com").annotation(MtlsAnnotation, "istio").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: disabledStamp("istio", "static_backend_plaintext", markerUserMtlsTrue),
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
		"moving into the mesh keeps the annotation: kgateway still sends a static Backend plaintext": {
			in:   stampedDisabled().set([]any{map[string]any{"host": "httpbin.httpbin.svc", "port": int64(80)}}, "spec", "static", "hosts").obj(),
			mesh: inMesh, reason: policy.ReasonStamped,
			want: disabledStamp("disabled", "static_backend_plaintext", markerDisabledTrue),
		},
		"the user's kgateway annotation is left alone": {
			in: b().static("api.example.com").annotation(KgatewayDisableAutoMtlsAnnotation, "true").obj(), reason: policy.ReasonUserAnnotation,
		},
		"the user's kgateway annotation that kgateway cannot parse is left alone, saying why": {
			in: b().static("api.example.com").annotation(KgatewayDisableAutoMtlsAnnotation, "yes").obj(), reason: policy.ReasonUserAnnotationInvalid,
		},
		"the user's kgateway annotation in any form strconv.ParseBool reads is the user's": {
			in: b().static("api.example.com").annotation(KgatewayDisableAutoMtlsAnnotation, "F").obj(), reason: policy.ReasonUserAnnotation,
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
	runMalformed(t, map[string]malformedCase{
		"static is a list":      {b().set([]any{}, "spec", "static").obj(), "/spec/static: must be an object, not an array"},
		"a host is a bool":      {b().set(map[string]any{"hosts": []any{map[string]any{"host": true}}}, "spec", "static").obj(), "/spec/static/hosts/0/host: must be a string, not a boolean"},
		"disable flag is a map": {b().kube("x").set(map[string]any{}, "spec", "disableIstioAutoMtls").obj(), "/spec/disableIstioAutoMtls: must not be an object"},
		"the kgateway annotation is a bool": {
			b().set(map[string]any{KgatewayDisableAutoMtlsAnnotation: true}, "metadata", "annotations").obj(),
			"/metadata/annotations/kgateway.dev~1disable-istio-auto-mtls: must be a string, not a boolean",
		},
	})
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
		"a kube Upstream without serviceNamespace targets its own namespace": {
			raw:  `{"kind":"Upstream","spec":{"kube":{"serviceNamespace":null}},"apiVersion":"gloo.solo.io/v1","metadata":{"namespace":"gloo-system"}}`,
			want: policy.Target{Kind: policy.TargetServices, Namespaces: []string{"gloo-system"}},
		},
		"static hosts give their namespaces, sorted and once": {
			raw:  `{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"Backend","metadata":{"name":"b"},"spec":{"static":{"hosts":[{"host":"b.ns2.svc"},{"host":"a.ns1.svc.cluster.local"},{"host":"c.ns2.svc"}]}}}`,
			want: policy.Target{Kind: policy.TargetServices, Namespaces: []string{"ns1", "ns2"}},
		},
		"an Upstream reads addr, not host": {
			raw:  `{"apiVersion":"gloo.solo.io/v1","kind":"Upstream","spec":{"static":{"hosts":[{"addr":"a.ns1.svc","host":7}]}}}`,
			want: policy.Target{Kind: policy.TargetServices, Namespaces: []string{"ns1"}},
		},
		"more static hosts than the cap are too many": {
			raw:  `{"apiVersion":"gloo.solo.io/v1","kind":"Upstream","spec":{"static":{"hosts":[` + strings.Repeat(`{"addr":"a.b.svc"},`, policy.MaxBackendTargets) + `"not even read"]}}}`,
			want: policy.Target{Kind: policy.TargetTooMany},
		},
		"an Upstream's dynamicForwardProxy is not a type gatemesh knows": {
			raw:  `{"apiVersion":"gloo.solo.io/v1","kind":"Upstream","spec":{"dynamicForwardProxy":{}}}`,
			want: policy.Target{Kind: policy.TargetUnknown},
		},
		"a null outside type is absent": {
			raw:  `{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"Backend","spec":{"aws":null}}`,
			want: policy.Target{Kind: policy.TargetUnknown},
		},
		"not JSON": {raw: `{"apiVersion":`, wantErr: "/apiVersion: invalid JSON at byte 14"},
		"another kind": {
			raw:     `{"apiVersion":"gloo.solo.io/v1","kind":"VirtualService","metadata":{"name":"v"}}`,
			wantErr: `apiVersion "gloo.solo.io/v1" and kind "VirtualService" are not a kind gatemesh stamps`,
		},
		"a repeated member that stamping reads is malformed": {
			raw:     `{"apiVersion":"gloo.solo.io/v1","kind":"Upstream","metadata":{"annotations":{},"annotations":{}}}`,
			wantErr: "/metadata/annotations: appears twice",
		},
		"a repeated annotation is malformed": {
			raw:     `{"apiVersion":"gloo.solo.io/v1","kind":"Upstream","metadata":{"annotations":{"a":"1","a":"2"}}}`,
			wantErr: "/metadata/annotations/a: invalid JSON at byte 85: duplicate object member name",
		},
		"a repeated member that stamping does not read is skipped": {
			raw:  `{"apiVersion":"gloo.solo.io/v1","kind":"Upstream","status":1,"status":2,"spec":{"x":{},"x":[],"kube":{}}}`,
			want: policy.Target{Kind: policy.TargetServices, Namespaces: []string{"default"}},
		},
		"invalid UTF-8 is malformed": {
			raw:     "{\"apiVersion\":\"gloo.solo.io/v1\",\"kind\":\"Upstream\",\"x\":\"\xff\"}",
			wantErr: "/x: invalid JSON",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseBackendObject([]byte(tc.raw))
			if tc.wantErr != "" {
				if !IsInputError(err) || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want an input error starting %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Facts(pol).Target); diff != "" {
				t.Errorf("target mismatch (-want,+got):\n%s", diff)
			}
		})
	}
}

// recordingTB is a testing.TB that records a failure instead of failing.
type recordingTB struct {
	testing.TB
	failed bool
}

func (r *recordingTB) Helper()               {}
func (r *recordingTB) Errorf(string, ...any) { r.failed = true }
func (r *recordingTB) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }

// TestBackendOracleCatchesADroppedEdit proves the oracle can fail: a patch
// that forgets any one of the stamp's edits gives another object than the
// library path.
func TestBackendOracleCatchesADroppedEdit(t *testing.T) {
	pol := backendPolicy(t, true)
	raw, err := makeUpstream("u", "gloo-system").kube("default").annotation("a", "b").obj().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBackendObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	facts := b.Facts(pol)
	facts.TargetInMesh = true
	plan := pol.DecideBackend(facts)
	ops, _, err := b.Patch(plan)
	if err != nil {
		t.Fatal(err)
	}
	library := referenceStamp(t, raw, plan)
	checkOracle(t, raw, ops, library)
	if len(ops) < 2 {
		t.Fatalf("want a patch of several edits, got %v", ops)
	}
	for i := range ops {
		dropped := append(slices.Clone(ops[:i]), ops[i+1:]...)
		rec := &recordingTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			checkOracle(rec, raw, dropped, library)
		}()
		<-done
		if !rec.failed {
			t.Errorf("the oracle passed a patch without %s %s", ops[i].Operation, ops[i].Path)
		}
	}
}

// TestBackendPatchRefusesAPlanOverTheUsersBlock: Patch carries out a plan,
// but never one that would overwrite or remove a block gatemesh does not
// own; such a plan is gatemesh's own error, not the user's.
func TestBackendPatchRefusesAPlanOverTheUsersBlock(t *testing.T) {
	raw, err := makeUpstream("u", "gloo-system").kube("default").set(map[string]any{"sni": "mine"}, "spec", "sslConfig").obj().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBackendObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range [][]byte{nil, []byte(`{"sni":"gatemesh"}`)} {
		_, _, err := b.Patch(policy.BackendPlan{Action: policy.BackendStamp, Mode: policy.MtlsIstio, Reason: policy.ReasonTargetInMesh, Block: block})
		if err == nil || IsInputError(err) || !strings.HasPrefix(err.Error(), "internal error:") {
			t.Errorf("block %s: error = %v, want an internal error", block, err)
		}
	}
}
