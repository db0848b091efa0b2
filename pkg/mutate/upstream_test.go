package mutate

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// stampView is the part of an object that stamping may change.
type stampView struct {
	Annotations map[string]string
	SSLConfig   any
}

func viewOf(u *unstructured.Unstructured) stampView {
	v := stampView{}
	for k, val := range u.GetAnnotations() {
		if strings.HasPrefix(k, "gatemesh.io/") || k == KgatewayDisableAutoMtlsAnnotation {
			if v.Annotations == nil {
				v.Annotations = map[string]string{}
			}
			v.Annotations[k] = val
		}
	}
	v.SSLConfig, _, _ = unstructured.NestedFieldNoCopy(u.Object, "spec", "sslConfig")
	return v
}

// stampCase is one row of a stamping table. When want is nil the object
// must come back unchanged: an empty patch.
type stampCase struct {
	in     *unstructured.Unstructured
	mesh   sets.Set[string]
	manual bool
	reason policy.Reason
	want   *stampView
}

// stampPath runs one review's path on raw, as the webhook does: parse,
// facts, the target in the mesh when inMesh says so of all its namespaces,
// decide, patch. It checks the patch against the oracle.
func stampPath(t testing.TB, raw []byte, pol *policy.Policy, inMesh func(string) bool) ([]jsonpatch.Operation, policy.Reason, error) {
	t.Helper()
	b, err := ParseBackendObject(raw)
	if err != nil {
		return nil, "", err
	}
	facts := b.Facts(pol)
	facts.TargetInMesh = true
	for _, ns := range facts.Target.Namespaces {
		facts.TargetInMesh = facts.TargetInMesh && inMesh(ns)
	}
	plan := pol.DecideBackend(facts)
	ops, reason, err := b.Patch(plan)
	if err != nil {
		return nil, "", err
	}
	checkOracle(t, raw, ops, referenceStamp(t, raw, plan))
	return ops, reason, nil
}

// patchedObject is raw with ops applied strictly.
func patchedObject(t testing.TB, raw []byte, ops []jsonpatch.Operation) *unstructured.Unstructured {
	t.Helper()
	patched, err := strictApply(raw, ops)
	if err != nil {
		t.Fatal(err)
	}
	got := &unstructured.Unstructured{}
	if err := got.UnmarshalJSON(patched); err != nil {
		t.Fatal(err)
	}
	return got
}

func runStampCases(t *testing.T, cases map[string]stampCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			raw, err := tc.in.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			ops, reason, err := stampPath(t, raw, backendPolicy(t, !tc.manual), tc.mesh.Has)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if reason != tc.reason {
				t.Errorf("reason = %q, want %q", reason, tc.reason)
			}
			if tc.want == nil {
				if len(ops) != 0 {
					t.Errorf("patch = %v, want none", ops)
				}
				return
			}
			if len(ops) == 0 {
				t.Fatalf("empty patch, want a stamp")
			}
			if diff := cmp.Diff(*tc.want, viewOf(patchedObject(t, raw, ops))); diff != "" {
				t.Errorf("stamp mismatch (-want,+got):\n%s", diff)
			}
		})
	}
}

func stamped(mtls, reason, marker string, ssl any) *stampView {
	v := &stampView{Annotations: map[string]string{MtlsReasonAnnotation: reason, MtlsHashAnnotation: marker}, SSLConfig: ssl}
	if mtls != "" {
		v.Annotations[MtlsAnnotation] = mtls
	}
	return v
}

func TestUpstreamStamp(t *testing.T) {
	inMesh := sets.New("default", "gloo-system")
	u := func() *objBuilder { return makeUpstream("u", "gloo-system") }
	runStampCases(t, map[string]stampCase{
		"a kube Upstream in a mesh namespace gets the sslConfig": {
			in: u().kube("default").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("istio", "target_in_mesh", markerIstioSSL, istioSSL()),
		},
		"a kube Upstream whose namespace is not in the mesh is stamped disabled": {
			in: u().kube("httpbin").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("disabled", "target_namespace_not_in_mesh", markerDisabledNone, nil),
		},
		"an empty serviceNamespace means the Upstream's own namespace": {
			in: u().kube("").obj(), mesh: sets.New("gloo-system"), reason: policy.ReasonStamped,
			want: stamped("istio", "target_in_mesh", markerIstioSSL, istioSSL()),
		},
		"static in-cluster service names are in the mesh": {
			in: u().static("httpbin.default.svc.cluster.local", "HTTPBIN.default.svc.").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("istio", "target_in_mesh", markerIstioSSL, istioSSL()),
		},
		"a <svc>.<ns> static host is taken for an outside name": {
			in: u().static("httpbin.default").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("disabled", "target_external", markerDisabledNone, nil),
		},
		"an AWS Upstream is outside the mesh": {
			in: u().set(map[string]any{"region": "us-east-1"}, "spec", "aws").obj(), reason: policy.ReasonStamped,
			want: stamped("disabled", "target_external", markerDisabledNone, nil),
		},
		"a consul Upstream is left alone": {
			in: u().set(map[string]any{"serviceName": "x"}, "spec", "consul").obj(), reason: policy.ReasonTargetUnknown,
		},
		"disableIstioAutoMtls is stamped disabled": {
			in: u().kube("default").set(true, "spec", "disableIstioAutoMtls").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("disabled", "disable_istio_auto_mtls", markerDisabledNone, nil),
		},
		"an opt-out is recorded without claiming the user's annotation": {
			in: u().kube("default").annotation(MtlsAnnotation, "disabled").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("disabled", "opted_out", markerUserMtlsNone, nil),
		},
		"an opt-in overrides a namespace gatemesh thinks is outside the mesh": {
			in: u().kube("vms").annotation(MtlsAnnotation, "istio").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("istio", "opted_in", hashOf(istioSSL()), istioSSL()),
		},
		"an opt-in does not put an AWS Upstream in the mesh": {
			in: u().set(map[string]any{}, "spec", "awsEc2").annotation(MtlsAnnotation, "istio").obj(), reason: policy.ReasonStamped,
			want: stamped("istio", "target_external", markerUserMtlsNone, nil),
		},
		"an unknown gatemesh.io/mtls value is ignored and kept": {
			in: u().kube("default").annotation(MtlsAnnotation, "enabled").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("enabled", "target_in_mesh", hashOf(istioSSL()), istioSSL()),
		},
		"a null sslConfig is absent": {
			in: u().kube("default").set(nil, "spec", "sslConfig").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("istio", "target_in_mesh", markerIstioSSL, istioSSL()),
		},
		"the user's sslConfig is never clobbered": {
			in: u().kube("default").set(map[string]any{"sni": "x"}, "spec", "sslConfig").obj(), mesh: inMesh, reason: policy.ReasonUserTLS,
		},
		"a glooctl-written sslConfig is the user's, not gatemesh's": {
			in: u().kube("httpbin").set(istioSSL(), "spec", "sslConfig").obj(), mesh: inMesh, reason: policy.ReasonUserTLS,
		},
		"an already stamped Upstream is unchanged": {
			in: stampedUpstreamBase().obj(), mesh: inMesh, reason: policy.ReasonAlreadyStamped,
		},
		"opting out removes the stamped sslConfig": {
			in: stampedUpstreamBase().annotation(MtlsAnnotation, "disabled").obj(), mesh: inMesh, reason: policy.ReasonUnstamped,
			want: stamped("disabled", "opted_out", markerUserMtlsNone, nil),
		},
		"leaving the mesh removes the stamped sslConfig": {
			in: stampedUpstreamBase().obj(), mesh: sets.New[string](), reason: policy.ReasonUnstamped,
			want: stamped("disabled", "target_namespace_not_in_mesh", markerDisabledNone, nil),
		},
		"an edited sslConfig is left alone on opt-out": {
			in:   stampedUpstreamBase().set("mine", "spec", "sslConfig", "sni").annotation(MtlsAnnotation, "disabled").obj(),
			mesh: inMesh, reason: policy.ReasonStampEdited,
		},
		"an edited sslConfig is left alone in the mesh": {
			in: stampedUpstreamBase().set([]any{"h2"}, "spec", "sslConfig", "alpnProtocols").obj(), mesh: inMesh, reason: policy.ReasonStampEdited,
		},
		"a deleted stamped sslConfig is stamped again": {
			in: stampedUpstreamBase().set(nil, "spec", "sslConfig").obj(), mesh: inMesh, reason: policy.ReasonStamped,
			want: stamped("istio", "target_in_mesh", markerIstioSSL, istioSSL()),
		},
		"an sslConfig added after a disabled stamp is the user's": {
			in: u().kube("httpbin").set(map[string]any{"sni": "x"}, "spec", "sslConfig").
				annotation(MtlsAnnotation, "disabled").annotation(MtlsHashAnnotation, markerDisabledNone).obj(),
			mesh: inMesh, reason: policy.ReasonUserTLS,
		},
		"a corrupt marker claims nothing": {
			in: stampedUpstreamBase().annotation(MtlsHashAnnotation, "istio/sha256:nothex").obj(), mesh: inMesh, reason: policy.ReasonUserTLS,
		},
		"with autoMtls off an Upstream that does not opt in is left alone": {
			in: u().kube("default").obj(), mesh: inMesh, manual: true, reason: policy.ReasonAutoMtlsOff,
		},
		"with autoMtls off an opted-out Upstream is left alone": {
			in: u().kube("default").annotation(MtlsAnnotation, "disabled").obj(), mesh: inMesh, manual: true, reason: policy.ReasonAutoMtlsOff,
		},
		"with autoMtls off gatemesh's own istio is no opt-in: the stamp is removed": {
			in: stampedUpstreamBase().obj(), mesh: inMesh, manual: true, reason: policy.ReasonUnstamped,
			want: &stampView{},
		},
		"with autoMtls off the user's opt-in is stamped": {
			in: u().kube("default").annotation(MtlsAnnotation, "istio").obj(), mesh: inMesh, manual: true, reason: policy.ReasonStamped,
			want: stamped("istio", "opted_in", hashOf(istioSSL()), istioSSL()),
		},
	})
}

func TestUpstreamStampFollowsPolicy(t *testing.T) {
	pol, err := policy.New(policy.Config{Backends: policy.BackendConfig{
		UpstreamSSLConfig: policy.UpstreamSSLConfig{
			AlpnProtocols: []string{},
			SDS:           policy.UpstreamSDSConfig{TargetURI: "127.0.0.1:9000", ClusterName: "my_sds"},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// An Upstream stamped with the default block is restamped with the new
	// one: the old block is still gatemesh's.
	raw, err := stampedUpstreamBase().obj().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	ops, reason, err := stampPath(t, raw, pol, sets.New("default").Has)
	if err != nil {
		t.Fatal(err)
	}
	got := patchedObject(t, raw, ops)
	wantSSL := map[string]any{"sds": map[string]any{
		"targetUri":              "127.0.0.1:9000",
		"certificatesSecretName": "istio_server_cert",
		"validationContextName":  "istio_validation_context",
		"clusterName":            "my_sds",
	}}
	want := *stamped("istio", "target_in_mesh", "istio/"+hashOf(wantSSL), wantSSL)
	if reason != policy.ReasonStamped {
		t.Errorf("reason = %q, want %q", reason, policy.ReasonStamped)
	}
	if diff := cmp.Diff(want, viewOf(got)); diff != "" {
		t.Errorf("stamp mismatch (-want,+got):\n%s", diff)
	}
}

func TestUpstreamMalformed(t *testing.T) {
	u := func() *objBuilder { return makeUpstream("u", "gloo-system") }
	runMalformed(t, map[string]malformedCase{
		"spec.kube is a string":      {u().set("httpbin", "spec", "kube").obj(), "/spec/kube: must not be a string"},
		"spec is a list":             {u().set([]any{}, "spec").obj(), "/spec: must be an object, not an array"},
		"serviceNamespace is number": {u().kube("x").set(int64(1), "spec", "kube", "serviceNamespace").obj(), "/spec/kube/serviceNamespace: must not be a number"},
		"disableIstioAutoMtls text":  {u().kube("x").set("yes", "spec", "disableIstioAutoMtls").obj(), "/spec/disableIstioAutoMtls: must not be a string"},
		"hosts is an object":         {u().set(map[string]any{"hosts": map[string]any{}}, "spec", "static").obj(), "/spec/static/hosts: must be an array, not an object"},
		"a host is a string":         {u().set(map[string]any{"hosts": []any{"a"}}, "spec", "static").obj(), "/spec/static/hosts/0: must be an object, not a string"},
		"a host is null":             {u().set(map[string]any{"hosts": []any{map[string]any{}, nil}}, "spec", "static").obj(), "/spec/static/hosts/1: must be an object, not null"},
		"an addr is a number": {
			u().set(map[string]any{"hosts": []any{map[string]any{"addr": 1.5}}}, "spec", "static").obj(),
			"/spec/static/hosts/0/addr: must be a string, not a number",
		},
		"an annotation is a number": {
			u().kube("x").set(map[string]any{"a/b": int64(1)}, "metadata", "annotations").obj(),
			"/metadata/annotations/a~1b: must be a string, not a number",
		},
		"an annotation is null": {
			u().kube("x").set(map[string]any{"a": "b", "c": nil}, "metadata", "annotations").obj(),
			"/metadata/annotations/c: must be a string, not null",
		},
		"annotations are a list": {u().kube("x").set([]any{"a"}, "metadata", "annotations").obj(), "/metadata/annotations: must be an object, not an array"},
		"metadata is a string":   {u().set("x", "metadata").obj(), "/metadata: must be an object, not a string"},
	})
}

type malformedCase struct {
	in   *unstructured.Unstructured
	want string
}

// runMalformed checks that each object is refused with an *InputError
// naming the field and the problem.
func runMalformed(t *testing.T, cases map[string]malformedCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			raw, err := tc.in.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseBackendObject(raw)
			if !IsInputError(err) || err.Error() != tc.want {
				t.Errorf("error = %v, want the input error %q", err, tc.want)
			}
		})
	}
}
