package mutate

import (
	"encoding/json"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/util/validation"
)

// FuzzPodPatch feeds arbitrary JSON to the pod mutator. It must never panic;
// a patch it returns must apply to the input and give the pod the library
// path gives (the oracle); and mutating the patched pod again must yield an
// empty patch.
func FuzzPodPatch(f *testing.F) {
	for _, in := range goldenPodInputs(f) {
		f.Add(in.json, "")
		f.Add(in.json, "1-28")
	}
	f.Add([]byte(`{"metadata":{"labels":{"gloo":"gateway-proxy"}}}`), "")
	f.Add([]byte(`null`), "")
	// kgateway's deployer's sidecars, env before name (as sorted keys put
	// it), with a PROXY_CONFIG in block YAML and an annotation to merge.
	f.Add([]byte(`{"metadata":{"annotations":{"gatemesh.io/adjusted":"{\"container\":\"istio-proxy\",\"env\":{\"CA_ADDR\":{\"from\":\"a:1\",\"to\":\"b:1\"}}}"},`+
		`"labels":{"kgateway":"kube-gateway"}},"spec":{"containers":[{"name":"sds"},{"env":[{"name":"CA_ADDR","value":"b:1"},`+
		`{"name":"PROXY_CONFIG","value":"# x\ndiscoveryAddress: 'a:1'\n"},{"name":"ISTIO_META_MESH_ID"},{"name":"DISABLE_ENVOY","value":"true"}],"name":"istio-proxy"}]}}`), "1-28")
	pol := defaultPolicy(f)
	f.Fuzz(func(t *testing.T, raw []byte, rev string) {
		if len(validation.IsValidLabelValue(rev)) > 0 {
			return // a namespace's istio.io/rev is a label value: the API server refuses others
		}
		ns := testNamespaces{"istio.io/rev": rev}.Namespace("ns")
		ops, reason, err := patchPod(raw, pol, ns, nil)
		if err != nil {
			return
		}
		if len(ops) > 0 != reason.Changes() {
			t.Fatalf("reason %q with %d patch operations", reason, len(ops))
		}
		patched, err := strictApply(raw, ops)
		if err != nil {
			t.Fatalf("patch does not apply to its input: %v\ninput: %s\npatch: %v", err, raw, ops)
		}
		oraclePod(t, raw, pol, ns)
		again, reason2, err := patchPod(patched, pol, ns, nil)
		if err != nil {
			t.Fatalf("patched pod does not decode: %v", err)
		}
		if len(again) != 0 {
			t.Fatalf("second pass (reason %q) is not empty: %v\nfirst reason %q", reason2, again, reason)
		}
	})
}

// strictApply applies ops to doc with a strict RFC 6902 implementation, as
// the API server does.
func strictApply(doc []byte, ops []jsonpatch.Operation) ([]byte, error) {
	if len(ops) == 0 {
		return doc, nil
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatchapply.DecodePatch(raw)
	if err != nil {
		return nil, err
	}
	return p.Apply(doc)
}
