package mutate

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

func TestWithDiscoveryAddress(t *testing.T) {
	const to = "istiod-1-28.istio-system.svc:15012"
	cases := map[string]struct {
		in, want string
		ok       bool
	}{
		"kgateway v2.2.0's flow mapping with a plain scalar": {
			in:   "{\"discoveryAddress\": istiod.istio-system.svc:15012 }\n",
			want: "{\"discoveryAddress\": " + to + " }\n", ok: true,
		},
		"gatemesh's JSON": {
			in: `{"discoveryAddress":"istiod.istio-system.svc:15012"}`, want: `{"discoveryAddress":"` + to + `"}`, ok: true,
		},
		"block YAML keeps its comments, order and other fields": {
			in:   "# east\nconcurrency: 2\ndiscoveryAddress: istiod.istio-system.svc:15012 # pinned\nproxyMetadata: {A: \"1\"}\n",
			want: "# east\nconcurrency: 2\ndiscoveryAddress: " + to + " # pinned\nproxyMetadata: {A: \"1\"}\n", ok: true,
		},
		"single-quoted stays single-quoted": {
			in: "discoveryAddress: 'it''s:1'\n", want: "discoveryAddress: '" + to + "'\n", ok: true,
		},
		"double-quoted with an escape": {
			in: `{"discoveryAddress": "istiod\u002eistio-system.svc:15012", "x": 1}`, want: `{"discoveryAddress": "` + to + `", "x": 1}`, ok: true,
		},
		"a key after it on the same line": {
			in: "{discoveryAddress: a:1, b: c}", want: "{discoveryAddress: " + to + ", b: c}", ok: true,
		},
		"non-ASCII before it on the line": {
			in: "{\"é\": \"ü\", \"discoveryAddress\": a:1}", want: "{\"é\": \"ü\", \"discoveryAddress\": " + to + "}", ok: true,
		},
		"already the address": {in: "discoveryAddress: " + to + "\n", want: "discoveryAddress: " + to + "\n", ok: true},
		"an address a plain scalar cannot hold is quoted": {
			in: "discoveryAddress: a:1\n", want: "discoveryAddress: \"x: #y\"\n", ok: true,
		},
		"no discoveryAddress":               {in: `{"concurrency": 2}`},
		"not a mapping":                     {in: `[1, 2]`},
		"not YAML":                          {in: `{"discoveryAddress": `},
		"empty":                             {in: ``},
		"a block scalar":                    {in: "discoveryAddress: |\n  a:1\n"},
		"a multi-line plain scalar":         {in: "discoveryAddress: a\n  b\n"},
		"an alias":                          {in: "x: &a a:1\ndiscoveryAddress: *a\n"},
		"an anchor":                         {in: "discoveryAddress: &a a:1\n"},
		"a tag":                             {in: "discoveryAddress: !!str a:1\n"},
		"not a string":                      {in: "discoveryAddress: 15012\n"},
		"twice":                             {in: "discoveryAddress: a:1\ndiscoveryAddress: b:1\n"},
		"carriage returns are left alone":   {in: "discoveryAddress: a:1\r\n"},
		"nested only":                       {in: "meshConfig:\n  discoveryAddress: a:1\n"},
		"a mapping as the address":          {in: "discoveryAddress: {host: a}\n"},
		"a null address":                    {in: "discoveryAddress: null\n"},
		"the first of two documents only":   {in: "discoveryAddress: a:1\n---\nx: 1\n", want: "discoveryAddress: " + to + "\n---\nx: 1\n", ok: true},
		"keys that are not strings survive": {in: "1: one\ndiscoveryAddress: a:1\n", want: "1: one\ndiscoveryAddress: " + to + "\n", ok: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			addr := to
			if name == "an address a plain scalar cannot hold is quoted" {
				addr = "x: #y"
			}
			got, ok := withDiscoveryAddress(tc.in, addr)
			if diff := cmp.Diff(struct {
				Out string
				OK  bool
			}{tc.want, tc.ok}, struct {
				Out string
				OK  bool
			}{got, ok}); diff != "" {
				t.Errorf("(-want,+got):\n%s", diff)
			}
		})
	}
}

// kgatewayIstioPod is a kgateway proxy pod with its deployer's istio-proxy
// and sds, whose istio-proxy env is env.
func kgatewayIstioPod(env ...corev1.EnvVar) *podBuilder {
	b := makePod("gw", "kgw").label("kgateway", "kube-gateway").container(SDSName, "sds:1").container(IstioProxyName, "proxyv2:1")
	c := &b.pod.Spec.Containers[len(b.pod.Spec.Containers)-1]
	c.Env = append(env, corev1.EnvVar{Name: disableEnvoyEnv, Value: "true"})
	return b
}

func env(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

// TestAdjustPod runs adjusting plans through the webhook's flow on JSON and
// holds each patch to the typed path (the oracle), checks what it records
// and that a second pass changes nothing.
func TestAdjustPod(t *testing.T) {
	const (
		chart = "istiod.istio-system.svc:15012"
		rev   = "istiod-1-28.istio-system.svc:15012"
	)
	revNS := testNamespaces{"istio.io/rev": "1-28"}.Namespace("kgw")
	chartEnv := []corev1.EnvVar{env(caAddrEnv, chart), env(meshIDEnv, "cluster.local"), env(clusterIDEnv, "Kubernetes"),
		env(proxyConfigEnv, `{"discoveryAddress": `+chart+` }`)}
	prior := Adjusted{Container: IstioProxyName, Env: map[string]EnvChange{caAddrEnv: {From: "ca.example:1", To: chart}}}
	cases := map[string]struct {
		pod        *corev1.Pod
		ns         policy.Namespace
		wantReason policy.Reason
		wantEnv    map[string]string
		wantRecord map[string]EnvChange
	}{
		"the chart's values, in a revisioned namespace": {
			pod: kgatewayIstioPod(chartEnv...).obj(), ns: revNS, wantReason: policy.ReasonAdjusted,
			wantEnv: map[string]string{caAddrEnv: rev, proxyConfigEnv: `{"discoveryAddress": ` + rev + ` }`},
			wantRecord: map[string]EnvChange{
				caAddrEnv:      {From: chart, To: rev},
				proxyConfigEnv: {From: `{"discoveryAddress": ` + chart + ` }`, To: `{"discoveryAddress": ` + rev + ` }`},
			},
		},
		"the chart's values are the policy's already": {
			pod: kgatewayIstioPod(chartEnv...).obj(), ns: testNamespaces{}.Namespace("kgw"), wantReason: policy.ReasonAlreadyAdjusted,
		},
		"other IDs, an empty CA address and no metadata annotations": {
			pod:        kgatewayIstioPod(env(caAddrEnv, ""), env(meshIDEnv, "m"), env(clusterIDEnv, "c")).obj(),
			ns:         testNamespaces{}.Namespace("kgw"),
			wantReason: policy.ReasonAdjusted,
			wantEnv:    map[string]string{caAddrEnv: chart, meshIDEnv: "cluster.local", clusterIDEnv: "Kubernetes"},
			wantRecord: map[string]EnvChange{caAddrEnv: {From: "", To: chart}, meshIDEnv: {From: "m", To: "cluster.local"}, clusterIDEnv: {From: "c", To: "Kubernetes"}},
		},
		"an env var set twice, or from valueFrom, is the user's": {
			pod: kgatewayIstioPod(env(meshIDEnv, "a"), env(meshIDEnv, "b"),
				corev1.EnvVar{Name: clusterIDEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}).obj(),
			ns: revNS, wantReason: policy.ReasonAlreadyAdjusted,
		},
		"a record from the pod template keeps the deployer's value": {
			pod:        kgatewayIstioPod(env(caAddrEnv, chart)).annotation(AdjustedAnnotation, prior.String()).obj(),
			ns:         revNS,
			wantReason: policy.ReasonAdjusted,
			wantEnv:    map[string]string{caAddrEnv: rev},
			wantRecord: map[string]EnvChange{caAddrEnv: {From: "ca.example:1", To: rev}},
		},
		"back at the deployer's value, the record goes": {
			pod:        kgatewayIstioPod(env(caAddrEnv, chart)).annotation(AdjustedAnnotation, (Adjusted{Container: IstioProxyName, Env: map[string]EnvChange{caAddrEnv: {From: rev, To: chart}}}).String()).obj(),
			ns:         revNS,
			wantReason: policy.ReasonAdjusted,
			wantEnv:    map[string]string{caAddrEnv: rev},
		},
	}
	pol := defaultPolicy(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			raw, err := json.Marshal(tc.pod)
			if err != nil {
				t.Fatal(err)
			}
			if !oraclePod(t, raw, pol, tc.ns) {
				t.Fatal("the oracle refused the pod")
			}
			ops, reason, err := patchPod(raw, pol, tc.ns, nil)
			if err != nil {
				t.Fatal(err)
			}
			if reason != tc.wantReason || (len(ops) > 0) != reason.Changes() {
				t.Fatalf("reason %q with %d operations, want %q", reason, len(ops), tc.wantReason)
			}
			out, err := strictApply(raw, ops)
			if err != nil {
				t.Fatal(err)
			}
			var pod corev1.Pod
			if err := json.Unmarshal(out, &pod); err != nil {
				t.Fatal(err)
			}
			gotEnv := map[string]string{}
			wantEnv := map[string]string{}
			for i, e := range pod.Spec.Containers[2].Env {
				if before := tc.pod.Spec.Containers[2].Env[i]; before.Value != e.Value {
					gotEnv[e.Name] = e.Value
				}
			}
			if tc.wantEnv != nil {
				wantEnv = tc.wantEnv
			}
			if diff := cmp.Diff(wantEnv, gotEnv); diff != "" {
				t.Errorf("env values changed (-want,+got):\n%s", diff)
			}
			rec, _ := ParseAdjusted(pod.Annotations)
			if diff := cmp.Diff(tc.wantRecord, rec.Env); diff != "" {
				t.Errorf("record (-want,+got):\n%s", diff)
			}
			if !oraclePod(t, out, pol, tc.ns) {
				t.Fatal("the oracle refused the adjusted pod")
			}
			if again, reason, _ := patchPod(out, pol, tc.ns, nil); len(again) != 0 || reason != policy.ReasonAlreadyAdjusted {
				t.Errorf("second pass: %q with %v, want already_adjusted and no patch", reason, again)
			}
		})
	}
}

// FuzzWithDiscoveryAddress: editing PROXY_CONFIG never panics; an edit
// reads back as the address, and is an ensure (a second edit changes
// nothing). That nothing else changes is checked inside, by value.
func FuzzWithDiscoveryAddress(f *testing.F) {
	f.Add("{\"discoveryAddress\": istiod.istio-system.svc:15012 }\n", "istiod-1-28.istio-system.svc:15012")
	f.Add(`{"discoveryAddress":"a:1","x":[1,2]}`, "b:2")
	f.Add("# c\ndiscoveryAddress: 'a:1' # d\ny: {z: 1}\n", "x: #y")
	f.Add("discoveryAddress: \"a\\\"b\"\n", "'")
	f.Fuzz(func(t *testing.T, text, addr string) {
		out, ok := withDiscoveryAddress(text, addr)
		if !ok {
			return
		}
		m, err := decodeProxyConfig(out)
		if err != nil || m[discoveryAddressKey] != addr {
			t.Fatalf("%q -> %q reads back %v (%v), want %q", text, out, m[discoveryAddressKey], err, addr)
		}
		again, ok := withDiscoveryAddress(out, addr)
		if !ok || again != out {
			t.Fatalf("second edit of %q: %q, %v", out, again, ok)
		}
	})
}
