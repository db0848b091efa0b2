package mutate

import (
	"encoding/json"
	"strings"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"
	"gomodules.xyz/jsonpatch/v2"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// chartPlan is the plan of the default policy: the cluster Gloo's chart
// writes for its Istio integration.
func chartPlan() *policy.BootstrapPlan {
	return &policy.BootstrapPlan{ClusterName: "gateway_proxy_sds", Address: "127.0.0.1", Port: 8234, ConnectTimeout: "0.25s"}
}

// chartCluster is the cluster as the Gloo 1.17.38 chart writes it, indented.
func chartCluster(indent, eol string) string {
	lines := []string{
		"- name: gateway_proxy_sds",
		"  connect_timeout: 0.25s",
		"  http2_protocol_options: {}",
		"  load_assignment:",
		"    cluster_name: gateway_proxy_sds",
		"    endpoints:",
		"    - lb_endpoints:",
		"      - endpoint:",
		"          address:",
		"            socket_address:",
		"              address: 127.0.0.1",
		"              port_value: 8234",
	}
	return indent + strings.Join(lines, eol+indent) + eol
}

const chartFlow = `{"name": "gateway_proxy_sds", "connect_timeout": "0.25s", "http2_protocol_options": {}, ` +
	`"load_assignment": {"cluster_name": "gateway_proxy_sds", "endpoints": [{"lb_endpoints": [{"endpoint": ` +
	`{"address": {"socket_address": {"address": "127.0.0.1", "port_value": 8234}}}}]}]}}`

// configMap is the JSON of a ConfigMap with the bootstrap text (none when
// nil) and gatemesh's mark (none when empty).
func configMap(t testing.TB, text *string, mark string) []byte {
	t.Helper()
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "gateway-proxy-envoy-config", "namespace": "gloo-system"}}
	if mark != "" {
		cm["metadata"].(map[string]any)["annotations"] = map[string]any{BootstrapClusterAnnotation: mark}
	}
	if text != nil {
		cm["data"] = map[string]any{BootstrapKey: *text}
	}
	b, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// applyStrict applies ops to raw as the API server does, failing on any
// operation whose path does not exist as the operation requires.
func applyStrict(t testing.TB, raw []byte, ops []jsonpatch.Operation) []byte {
	t.Helper()
	if len(ops) == 0 {
		return raw
	}
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch5.DecodePatch(b)
	if err != nil {
		t.Fatalf("failed to decode patch: %v", err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("failed to apply patch %s: %v", b, err)
	}
	return out
}

// bootstrapOf reads the bootstrap text and the mark of a ConfigMap's JSON.
func bootstrapOf(t testing.TB, raw []byte) (text, mark string) {
	t.Helper()
	var cm configMapHead
	if err := json.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Metadata != nil {
		mark = cm.Metadata.Annotations[BootstrapClusterAnnotation]
	}
	return cm.Data[BootstrapKey], mark
}

func ptrTo[T any](v T) *T { return &v }

func TestBootstrapPatch(t *testing.T) {
	plan := chartPlan()
	markOf := func(p *policy.BootstrapPlan) string {
		c, err := newSDSCluster(p)
		if err != nil {
			t.Fatal(err)
		}
		return c.hash
	}
	mark := markOf(plan)
	moved := &policy.BootstrapPlan{ClusterName: "gateway_proxy_sds", Address: "127.0.0.1", Port: 9234, ConnectTimeout: "0.25s"}
	other := "  - name: admin_port_cluster\n    connect_timeout: 5.000s # the admin port\n"
	block := "node: {id: x}\nstatic_resources:\n  clusters:\n" + other + "admin: {}\n"
	added := "node: {id: x}\nstatic_resources:\n  clusters:\n" + chartCluster("  ", "\n") + other + "admin: {}\n"
	glooctl := "node: {id: x}\nstatic_resources:\n  clusters:\n" + other + chartCluster("  ", "\n")

	tests := map[string]struct {
		text       *string
		mark       string
		plan       *policy.BootstrapPlan
		wantText   string // the bootstrap after the patch; the input when empty
		wantMark   string
		wantReason policy.Reason
		wantErr    string
	}{
		"adds the chart's cluster first in a block list": {
			text: &block, plan: plan, wantText: added, wantMark: mark, wantReason: policy.ReasonBootstrapClusterAdded,
		},
		"already added: no change": {
			text: &added, mark: mark, plan: plan, wantMark: mark, wantReason: policy.ReasonBootstrapClusterPresent,
		},
		"helm upgrade dropped the cluster but kept the mark: added again": {
			text: &block, mark: mark, plan: plan, wantText: added, wantMark: mark, wantReason: policy.ReasonBootstrapClusterAdded,
		},
		"the cluster without gatemesh's mark is another writer's": {
			text: &added, plan: plan, wantMark: "", wantReason: policy.ReasonBootstrapClusterForeign,
		},
		"policy moved the port: gatemesh's cluster is replaced": {
			text: &added, mark: mark, plan: moved, wantText: strings.Replace(added, "8234", "9234", 1),
			wantMark: markOf(moved), wantReason: policy.ReasonBootstrapClusterUpdated,
		},
		"glooctl's cluster of that name is left alone": {
			text: &glooctl, plan: plan, wantReason: policy.ReasonBootstrapClusterForeign,
		},
		"gatemesh's cluster edited since is the user's": {
			text: ptrTo(strings.Replace(added, "0.25s", "1s", 1)), mark: mark, plan: plan, wantMark: mark,
			wantReason: policy.ReasonBootstrapClusterForeign,
		},
		"opt-out removes gatemesh's cluster and mark, byte for byte": {
			text: &added, mark: mark, wantText: block, wantReason: policy.ReasonBootstrapClusterRemoved,
		},
		"opt-out leaves glooctl's cluster": {
			text: &glooctl, wantReason: policy.ReasonNamespaceNotEnabled,
		},
		"opt-out with a mark but no cluster drops the mark": {
			text: &block, mark: mark, wantReason: policy.ReasonBootstrapClusterRemoved,
		},
		"opt-out never removes an edited cluster": {
			text: ptrTo(strings.Replace(added, "0.25s", "1s", 1)), mark: mark,
			wantReason: policy.ReasonBootstrapClusterRemoved,
		},
		"opt-out that cannot cut the cluster keeps the mark": {
			text: ptrTo("base: &b {admin: {}}\n<<: *b\nstatic_resources:\n  clusters:\n" + chartCluster("  ", "\n")), mark: mark,
			wantMark: mark, wantReason: policy.ReasonBootstrapUnsupported,
		},
		"a merge key at the top is not spliced into": {
			text: ptrTo("base: &b {admin: {}}\n<<: *b\nstatic_resources:\n  clusters: []\n"), plan: plan,
			wantReason: policy.ReasonBootstrapUnsupported,
		},
		"nesting deeper than the parser goes": {
			text: ptrTo("static_resources: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000)), plan: plan,
			wantErr: "/data/envoy.yaml: is not valid YAML: exceeded max depth",
		},
		"an alias bomb": {
			text: ptrTo("node: {}\n" + aliasBomb() + "static_resources:\n  clusters: []\n"), plan: plan,
			wantErr: "/data/envoy.yaml: is not valid YAML: document contains excessive aliasing",
		},
		"clusters that are an alias": {
			text: ptrTo("node: {}\nx: &x []\nstatic_resources:\n  clusters: *x\n"), plan: plan,
			wantReason: policy.ReasonBootstrapUnsupported,
		},
		"CRLF lines stay CRLF": {
			text: ptrTo("node: {}\r\nstatic_resources:\r\n  clusters:\r\n  - name: a\r\n"), plan: plan,
			wantText: "node: {}\r\nstatic_resources:\r\n  clusters:\r\n" + chartCluster("  ", "\r\n") + "  - name: a\r\n",
			wantMark: mark, wantReason: policy.ReasonBootstrapClusterAdded,
		},
		"JSON bootstrap stays JSON": {
			text: ptrTo(`{"node": {}, "static_resources": {"clusters": [{"name": "a"}]}}`), plan: plan,
			wantText: `{"node": {}, "static_resources": {"clusters": [` + chartFlow + `, {"name": "a"}]}}`,
			wantMark: mark, wantReason: policy.ReasonBootstrapClusterAdded,
		},
		"no clusters list: created": {
			text: ptrTo("static_resources:\n  listeners: []\nnode: {}\n"), plan: plan,
			wantText: "static_resources:\n  clusters:\n" + chartCluster("  ", "\n") + "  listeners: []\nnode: {}\n",
			wantMark: mark + "+clusters", wantReason: policy.ReasonBootstrapClusterAdded,
		},
		"no static_resources: created": {
			text: ptrTo("# dynamic only\nnode: {}\n"), plan: plan,
			wantText: "# dynamic only\nstatic_resources:\n  clusters:\n" + chartCluster("  ", "\n") + "node: {}\n",
			wantMark: mark + "+static_resources", wantReason: policy.ReasonBootstrapClusterAdded,
		},
		"empty flow list": {
			text: ptrTo("static_resources: {clusters: []} # flow\n"), plan: plan,
			wantText: "static_resources: {clusters: [" + chartFlow + "]} # flow\n",
			wantMark: mark, wantReason: policy.ReasonBootstrapClusterAdded,
		},
		"null clusters": {
			text: ptrTo("static_resources:\n  clusters: ~\n"), plan: plan,
			wantText: "static_resources:\n  clusters: [" + chartFlow + "]\n",
			wantMark: mark, wantReason: policy.ReasonBootstrapClusterAdded,
		},
		"clusters that is not a list": {
			text: ptrTo("static_resources:\n  clusters: none\n"), plan: plan, wantReason: policy.ReasonBootstrapUnsupported,
		},
		"no data": {
			plan: plan, wantReason: policy.ReasonNotBootstrap,
		},
		"envoy.yaml that is not a mapping": {
			text: ptrTo("just words"), plan: plan, wantReason: policy.ReasonNotBootstrap,
		},
		"a mapping that is no bootstrap": {
			text: ptrTo("replicas: 3\n"), plan: plan, wantReason: policy.ReasonNotBootstrap,
		},
		"envoy.yaml that is not YAML": {
			text: ptrTo("static_resources: [\n"), plan: plan, wantErr: "/data/envoy.yaml: is not valid YAML",
		},
		"repeated keys": {
			text: ptrTo("node: {}\nnode: {}\n"), plan: plan, wantErr: "/data/envoy.yaml: is not valid YAML",
		},
		"larger than 256 KiB": {
			text: ptrTo("node: {}\n#" + strings.Repeat("x", MaxBootstrapBytes)), plan: plan,
			wantReason: policy.ReasonBootstrapTooLarge, wantErr: "/data/envoy.yaml: is larger than 262144 bytes",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			raw := configMap(t, tc.text, tc.mark)
			ops, reason, err := BootstrapPatch(raw, tc.plan)
			if reason != tc.wantReason {
				t.Errorf("reason = %q, want %q", reason, tc.wantReason)
			}
			if tc.wantErr != "" {
				if err == nil || !IsInputError(err) || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want an InputError starting %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if reason.Changes() != (len(ops) > 0) {
				t.Errorf("reason %q with %d operations", reason, len(ops))
			}
			gotText, gotMark := bootstrapOf(t, applyStrict(t, raw, ops))
			wantText := tc.wantText
			if wantText == "" && tc.text != nil {
				wantText = *tc.text
			}
			if diff := cmp.Diff(wantText, gotText); diff != "" {
				t.Errorf("bootstrap mismatch (-want,+got):\n%s", diff)
			}
			if gotMark != tc.wantMark {
				t.Errorf("mark = %q, want %q", gotMark, tc.wantMark)
			}
			// Idempotent: the patched ConfigMap needs no further patch.
			again, _, err := BootstrapPatch(applyStrict(t, raw, ops), tc.plan)
			if err != nil || len(again) > 0 {
				t.Errorf("second patch = %v, %v; want none", again, err)
			}
		})
	}
}

// aliasBomb is "billion laughs" in YAML: ten levels of nine aliases each.
func aliasBomb() string {
	s := "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	for i := 'b'; i <= 'j'; i++ {
		prev := "*" + string(i-1)
		s += string(i) + ": &" + string(i) + " [" + strings.Repeat(prev+", ", 8) + prev + "]\n"
	}
	return s
}

func TestBootstrapPatchMetadata(t *testing.T) {
	text := "static_resources: {clusters: []}"
	tests := map[string]string{
		"no metadata":        `{"data":{"envoy.yaml":"static_resources: {clusters: []}"}}`,
		"null annotations":   `{"metadata":{"annotations":null},"data":{"envoy.yaml":"static_resources: {clusters: []}"}}`,
		"other annotations":  `{"metadata":{"annotations":{"a":"b"}},"data":{"envoy.yaml":"static_resources: {clusters: []}"}}`,
		"no annotations key": `{"metadata":{"name":"x"},"data":{"envoy.yaml":"static_resources: {clusters: []}"}}`,
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			ops, reason, err := BootstrapPatch([]byte(raw), chartPlan())
			if err != nil || reason != policy.ReasonBootstrapClusterAdded {
				t.Fatalf("BootstrapPatch = %v, %v", reason, err)
			}
			gotText, gotMark := bootstrapOf(t, applyStrict(t, []byte(raw), ops))
			if want := "static_resources: {clusters: [" + chartFlow + "]}"; gotText != want || gotMark == "" {
				t.Errorf("got %q with mark %q, want %q with a mark; from %q", gotText, gotMark, want, text)
			}
		})
	}
}

func TestBootstrapPatchMalformed(t *testing.T) {
	tests := map[string]string{
		"data is a list":          `{"data":["envoy.yaml"]}`,
		"envoy.yaml is a number":  `{"data":{"envoy.yaml":1}}`,
		"annotations is a string": `{"metadata":{"annotations":"x"},"data":{}}`,
		"not JSON":                `{"data":`,
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := BootstrapPatch([]byte(raw), chartPlan())
			if !IsInputError(err) {
				t.Errorf("error = %v, want an InputError", err)
			}
		})
	}
}

// Both renderings of the cluster, block and flow, have the same value, and
// a name or address that YAML would read as something else is quoted.
func TestSDSClusterRenderings(t *testing.T) {
	plans := map[string]*policy.BootstrapPlan{
		"chart":          chartPlan(),
		"IPv6 address":   {ClusterName: "sds", Address: "::1", Port: 1, ConnectTimeout: "0.25s"},
		"numeric name":   {ClusterName: "123", Address: "sds.local", Port: 65535, ConnectTimeout: "1s"},
		"name like null": {ClusterName: "null", Address: "true", Port: 8234, ConnectTimeout: "0.25s"},
		"name with hash": {ClusterName: "a#b:c", Address: "localhost", Port: 8234, ConnectTimeout: "0.25s"},
	}
	for name, plan := range plans {
		t.Run(name, func(t *testing.T) {
			c, err := newSDSCluster(plan)
			if err != nil {
				t.Fatal(err)
			}
			var flow any
			if err := json.Unmarshal([]byte(c.flow), &flow); err != nil {
				t.Fatal(err)
			}
			fromFlow, _ := clusterHash(flow)
			if fromFlow != c.hash {
				t.Errorf("flow and block renderings differ:\n%s\n%v", c.flow, c.value)
			}
			var block []any
			if err := yaml.Unmarshal([]byte(strings.Join(c.block, "\n")), &block); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]any{c.value}, block); diff != "" {
				t.Errorf("block rendering does not read back as the value (-value,+block):\n%s", diff)
			}
			got, _ := clusterName(c.value)
			if got != plan.ClusterName {
				t.Errorf("name reads back as %q, want %q", got, plan.ClusterName)
			}
		})
	}
}

func TestBootstrapHasCluster(t *testing.T) {
	added := "static_resources:\n  clusters:\n" + chartCluster("  ", "\n")
	tests := map[string]struct {
		text    string
		want    bool
		wantErr bool
	}{
		"gatemesh's or glooctl's cluster": {text: added, want: true},
		"other clusters only":             {text: "static_resources:\n  clusters:\n  - name: xds\n"},
		"no static_resources":             {text: "node: {}\n"},
		"not a bootstrap":                 {text: "words"},
		"not YAML":                        {text: "node: [", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := BootstrapHasCluster(tc.text, "gateway_proxy_sds")
			if got != tc.want || (err != nil) != tc.wantErr || (err != nil && !IsInputError(err)) {
				t.Errorf("BootstrapHasCluster = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestBootstrapOptOutRemovesWhatGatemeshCreated: where gatemesh had to
// create the cluster list, or static_resources, to hold its cluster,
// removing the cluster removes them too, and the bootstrap is as it was.
func TestBootstrapOptOutRemovesWhatGatemeshCreated(t *testing.T) {
	// Two layouts come back equal in value only: a null list gatemesh
	// filled stays an empty list, and a list gatemesh created inside a flow
	// mapping stays there, empty.
	valueOnly := map[string]string{
		"static_resources:\n  clusters:\nnode: {}\n":    "static_resources:\n  clusters: []\nnode: {}\n",
		"static_resources: {listeners: []}\nnode: {}\n": "static_resources: {\"clusters\": [], listeners: []}\nnode: {}\n",
	}
	for name, text := range map[string]string{
		"no clusters list":     "node: {id: gw}\nstatic_resources:\n  # listeners only\n  listeners: []\ndynamic_resources: {}\n",
		"no static_resources":  "# dynamic only\nnode: {}\n",
		"an empty list, kept":  "static_resources:\n  clusters: []\nnode: {}\n",
		"a null list":          "static_resources:\n  clusters:\nnode: {}\n",
		"CRLF, no list":        "node: {}\r\nstatic_resources:\r\n  listeners: []\r\n",
		"flow static, no list": "static_resources: {listeners: []}\nnode: {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			added, mark, reason, err := EditBootstrap(text, "", chartPlan())
			if err != nil || reason != policy.ReasonBootstrapClusterAdded {
				t.Fatalf("add: %q, %v", reason, err)
			}
			back, mark, reason, err := EditBootstrap(added, mark, nil)
			if err != nil || reason != policy.ReasonBootstrapClusterRemoved || mark != "" {
				t.Fatalf("remove: %q, mark %q, %v", reason, mark, err)
			}
			want := text
			if v, ok := valueOnly[text]; ok {
				want = v
			}
			if diff := cmp.Diff(want, back); diff != "" {
				t.Errorf("opt-out does not give the bootstrap back (-want,+got):\n%s", diff)
			}
		})
	}
}
