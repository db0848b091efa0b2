package policy

import (
	"flag"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// TestDefaultsGolden pins every default: a change to one shows up as a diff
// of testdata/defaults.golden.yaml.
func TestDefaultsGolden(t *testing.T) {
	got, err := yaml.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "defaults.golden.yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("run with -update to create it: %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("defaults changed (-want,+got):\n%s", diff)
	}
}

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if errs := c.Validate(); len(errs) > 0 {
		t.Fatalf("defaults do not validate: %v", errs.ToAggregate())
	}
	// The golden defaults file must load as a policy file too.
	data, err := os.ReadFile(filepath.Join("testdata", "defaults.golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(parsed); err != nil {
		t.Fatal(err)
	}
}

func TestParseIsStrict(t *testing.T) {
	cases := map[string]struct {
		in      string
		wantErr string
	}{
		"an unknown field is rejected": {
			in: "mesh:\n  clusterId: typo\n", wantErr: `unknown field "mesh.clusterId"`,
		},
		"a duplicate field is rejected": {
			in: "mesh:\n  meshID: a\n  meshID: b\n", wantErr: "already set",
		},
		"a wrong type is rejected": {
			in: "selection:\n  gatewayProxies: yes\n", wantErr: "cannot unmarshal",
		},
		"a valid file parses": {
			in: "apiVersion: gatemesh.io/v1alpha1\nkind: Config\nmesh:\n  clusterID: c1\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Parse() error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Parse() error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		edit func(*Config)
		want []string // each error's field path
	}{
		"the defaults are valid": {edit: func(*Config) {}},
		"a discovery address without a port": {
			edit: func(c *Config) { c.Mesh.DiscoveryAddress = "istiod.istio-system.svc" },
			want: []string{"mesh.discoveryAddress"},
		},
		"a discovery address with a bad port": {
			edit: func(c *Config) { c.Mesh.DiscoveryAddress = "istiod:99999" },
			want: []string{"mesh.discoveryAddress"},
		},
		"a cluster ID with a quote": {
			edit: func(c *Config) { c.Mesh.ClusterID = `a"b` },
			want: []string{"mesh.clusterID"},
		},
		"an unknown proxy log level": {
			edit: func(c *Config) { c.IstioProxy.LogLevel = "verbose" },
			want: []string{"istioProxy.logLevel"},
		},
		"a malformed component log level": {
			edit: func(c *Config) { c.IstioProxy.ComponentLogLevel = "misc" },
			want: []string{"istioProxy.componentLogLevel"},
		},
		"an image with a space": {
			edit: func(c *Config) { c.SDS.GlooImage = "quay.io/solo-io/sds 1.0" },
			want: []string{"sds.glooImage"},
		},
		"an unknown sds log level": {
			edit: func(c *Config) { c.SDS.LogLevel = "warning" },
			want: []string{"sds.logLevel"},
		},
		"a request above its limit": {
			edit: func(c *Config) {
				c.SDS.Resources.Requests["memory"] = c.SDS.Resources.Limits["memory"]
				c.SDS.Resources.Requests["cpu"] = c.IstioProxy.Resources.Limits["cpu"]
			},
			want: []string{"sds.resources.requests[cpu]"},
		},
		"an invalid label key": {
			edit: func(c *Config) { c.Selection.NamespaceLabel = "not a key" },
			want: []string{"selection.namespaceLabel"},
		},
		"an empty gateway proxy list": {
			edit: func(c *Config) { c.Selection.GatewayProxies = []GatewayProxySelector{} },
			want: []string{"selection.gatewayProxies"},
		},
		"an empty selector and an unknown flavour": {
			edit: func(c *Config) {
				c.Selection.GatewayProxies = []GatewayProxySelector{{Flavour: "envoy-gateway"}}
			},
			want: []string{"selection.gatewayProxies[0].flavour", "selection.gatewayProxies[0].selector"},
		},
		"a wrong apiVersion": {
			edit: func(c *Config) { c.APIVersion = "gatemesh.io/v1" },
			want: []string{"apiVersion"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			var got []string
			for _, e := range c.Validate() {
				got = append(got, e.Field)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("invalid fields (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestNewReportsFieldNames(t *testing.T) {
	_, err := New(Config{Mesh: MeshConfig{DiscoveryAddress: "nope"}, IstioProxy: IstioProxyConfig{LogLevel: "loud"}})
	if err == nil {
		t.Fatal("New() accepted an invalid config")
	}
	for _, want := range []string{"mesh.discoveryAddress", "istioProxy.logLevel"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestPodPlan(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	on := map[string]string{DefaultNamespaceLabel: "enabled"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{DefaultNamespaceLabel: "enabled"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := map[string]struct {
		pod, ns     map[string]string
		wantReason  Reason
		wantFlavour Flavour
		wantAddr    string
	}{
		"Gloo Edge proxy": {
			pod: map[string]string{"gloo": "gateway-proxy"}, ns: on,
			wantFlavour: FlavourGloo, wantAddr: "istiod.istio-system.svc:15012",
		},
		"Gloo kube-gateway proxy": {
			pod: map[string]string{"gloo": "kube-gateway"}, ns: on,
			wantFlavour: FlavourGloo, wantAddr: "istiod.istio-system.svc:15012",
		},
		"kgateway proxy in a revisioned namespace": {
			pod: map[string]string{"kgateway": "kube-gateway"}, ns: with(map[string]string{"istio.io/rev": "1-28"}),
			wantFlavour: FlavourKgateway, wantAddr: "istiod-1-28.istio-system.svc:15012",
		},
		"the default revision tag uses istiod": {
			pod: map[string]string{"gloo": "gateway-proxy"}, ns: with(map[string]string{"istio.io/rev": "default"}),
			wantFlavour: FlavourGloo, wantAddr: "istiod.istio-system.svc:15012",
		},
		"namespace not opted in": {
			pod: map[string]string{"gloo": "gateway-proxy"}, ns: nil, wantReason: ReasonNamespaceNotEnabled,
		},
		"pod opted out": {
			pod: map[string]string{"gloo": "gateway-proxy", DefaultPodOptOutLabel: "false"}, ns: on, wantReason: ReasonPodOptedOut,
		},
		"not a gateway": {
			pod: map[string]string{"app": "httpbin"}, ns: on, wantReason: ReasonNotGatewayProxy,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			plan, reason := p.PodPlan(tc.pod, Namespace{Name: "ns", Labels: tc.ns})
			if reason != tc.wantReason {
				t.Fatalf("reason = %q, want %q", reason, tc.wantReason)
			}
			if tc.wantReason != "" {
				if plan != nil {
					t.Fatalf("a skipped pod got a plan")
				}
				return
			}
			if plan.Flavour != tc.wantFlavour || plan.DiscoveryAddress != tc.wantAddr {
				t.Errorf("flavour, address = %q, %q; want %q, %q", plan.Flavour, plan.DiscoveryAddress, tc.wantFlavour, tc.wantAddr)
			}
		})
	}
}

func TestPodPlanSharesNoMemory(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := p.PodPlan(map[string]string{"gloo": "gateway-proxy"}, Namespace{Labels: map[string]string{DefaultNamespaceLabel: "enabled"}})
	*plan.ProxySecurity.RunAsUser = 0
	plan.ProxyResources.Limits["cpu"] = plan.ProxyResources.Requests["cpu"]
	again, _ := p.PodPlan(map[string]string{"gloo": "gateway-proxy"}, Namespace{Labels: map[string]string{DefaultNamespaceLabel: "enabled"}})
	if *again.ProxySecurity.RunAsUser != 1337 || again.ProxyResources.Limits.Cpu().String() != "2" {
		t.Errorf("a plan's edit leaked into the policy")
	}
}

// TestPodPlanKey checks that plans of one policy have equal keys exactly
// when they are equal, over pods and namespaces that vary every input a
// plan reads.
func TestPodPlanKey(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	pods := []map[string]string{
		{"gloo": "gateway-proxy"},
		{"gloo": "kube-gateway", "app": "x"},
		{"kgateway": "kube-gateway"},
		{"gateway.networking.k8s.io/gateway-name": "http", "kgateway": "kube-gateway"},
	}
	namespaces := []Namespace{
		{Name: "a", Labels: map[string]string{DefaultNamespaceLabel: "enabled"}},
		{Name: "b", Labels: map[string]string{DefaultNamespaceLabel: "enabled", "istio.io/rev": "1-28"}},
		{Name: "c", Labels: map[string]string{DefaultNamespaceLabel: "enabled", "istio.io/rev": "default"}},
		{Name: "d", Labels: map[string]string{DefaultNamespaceLabel: "enabled", "istio.io/rev": "canary", "team": "x"}},
	}
	pods = append(pods, map[string]string{"app": "httpbin"}, map[string]string{"gloo": "gateway-proxy", DefaultPodOptOutLabel: "false"})
	namespaces = append(namespaces, Namespace{Name: "off"})
	var plans []*PodPlan
	for _, pod := range pods {
		for _, ns := range namespaces {
			plan, reason := p.PodPlan(pod, ns)
			key, keyReason := p.PodPlanKey(pod, ns)
			if reason != keyReason || (plan == nil) != (key == "") || (plan != nil && plan.Key() != key) {
				t.Errorf("pod %v in %s: PodPlan gives %v, %q; PodPlanKey gives %q, %q", pod, ns.Name, plan, reason, key, keyReason)
			}
			if plan != nil {
				plans = append(plans, plan)
			}
		}
	}
	if len(plans) < 8 {
		t.Fatalf("only %d plans", len(plans))
	}
	for i, a := range plans {
		for _, b := range plans[i+1:] {
			sameKey, same := a.Key() == b.Key(), apiequality.Semantic.DeepEqual(a, b)
			if sameKey != same {
				t.Errorf("keys %q and %q: equal keys %v, equal plans %v", a.Key(), b.Key(), sameKey, same)
			}
		}
	}
}
