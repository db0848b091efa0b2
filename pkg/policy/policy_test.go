package policy

import (
	"flag"
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
		"a CA address without a port": {
			edit: func(c *Config) { c.Mesh.CAAddress = "cert-manager-istio-csr.cert-manager.svc" },
			want: []string{"mesh.caAddress"},
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

func TestDecidePod(t *testing.T) {
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
	gloo := map[string]string{"gloo": "gateway-proxy"}
	cases := map[string]struct {
		pod         PodFacts
		ns          map[string]string
		wantSkip    Reason
		wantFlavour Flavour
		wantAddr    string
		wantMount   bool
	}{
		"Gloo Edge proxy": {
			pod: PodFacts{Labels: gloo, Volumes: []string{"envoy-config"}}, ns: on,
			wantFlavour: FlavourGloo, wantAddr: "istiod.istio-system.svc:15012", wantMount: true,
		},
		"Gloo kube-gateway proxy": {
			pod: PodFacts{Labels: map[string]string{"gloo": "kube-gateway"}}, ns: on,
			wantFlavour: FlavourGloo, wantAddr: "istiod.istio-system.svc:15012",
		},
		"kgateway proxy in a revisioned namespace": {
			pod: PodFacts{Labels: map[string]string{"kgateway": "kube-gateway"}}, ns: with(map[string]string{"istio.io/rev": "1-28"}),
			wantFlavour: FlavourKgateway, wantAddr: "istiod-1-28.istio-system.svc:15012",
		},
		"the default revision tag uses istiod": {
			pod: PodFacts{Labels: gloo}, ns: with(map[string]string{"istio.io/rev": "default"}),
			wantFlavour: FlavourGloo, wantAddr: "istiod.istio-system.svc:15012",
		},
		"gatemesh's own sidecars do not stop it": {
			pod: PodFacts{Labels: gloo, Containers: []string{"gateway-proxy", IstioProxyContainer, SDSContainer}, Volumes: []string{"istio-certs"},
				OwnedContainers: []string{IstioProxyContainer, SDSContainer}, OwnedVolumes: []string{"istio-certs"}},
			ns: on, wantFlavour: FlavourGloo, wantAddr: "istiod.istio-system.svc:15012",
		},
		"namespace not opted in": {pod: PodFacts{Labels: gloo}, wantSkip: ReasonNamespaceNotEnabled},
		"pod opted out": {
			pod: PodFacts{Labels: map[string]string{"gloo": "gateway-proxy", DefaultPodOptOutLabel: "false"}}, ns: on, wantSkip: ReasonPodOptedOut,
		},
		"not a gateway": {pod: PodFacts{Labels: map[string]string{"app": "httpbin"}}, ns: on, wantSkip: ReasonNotGatewayProxy},
		"Gloo 1.17 kube-gateway pod, gloo: kube-gateway only on its Deployment": {
			pod: PodFacts{Labels: map[string]string{
				"app.kubernetes.io/name": "gloo-proxy-http", "app.kubernetes.io/instance": "http", "gateway.networking.k8s.io/gateway-name": "http",
			}},
			ns: on, wantFlavour: FlavourGloo, wantAddr: "istiod.istio-system.svc:15012",
		},
		"kgateway's Envoy proxy, with its Gateway API labels": {
			pod: PodFacts{Labels: map[string]string{
				"kgateway": "kube-gateway", "gateway.networking.k8s.io/gateway-name": "gw", "gateway.networking.k8s.io/gateway-class-name": "kgateway",
			}},
			ns: on, wantFlavour: FlavourKgateway, wantAddr: "istiod.istio-system.svc:15012",
		},
		"kgateway's agentgateway pod": {
			pod: PodFacts{Labels: map[string]string{
				"gateway.networking.k8s.io/gateway-name": "gw", "gateway.networking.k8s.io/gateway-class-name": "agentgateway",
			}},
			ns: on, wantSkip: ReasonNotGatewayProxy,
		},
		"Istio's own sidecar": {
			pod: PodFacts{Labels: gloo, Containers: []string{IstioProxyContainer}}, ns: on, wantSkip: ReasonIstioProxyExists,
		},
		"a chart's sds container": {
			pod: PodFacts{Labels: gloo, Containers: []string{SDSContainer}, OwnedContainers: []string{IstioProxyContainer}}, ns: on, wantSkip: ReasonSDSExists,
		},
		"a volume named like gatemesh's": {
			pod: PodFacts{Labels: gloo, Volumes: []string{"istio-token"}}, ns: on, wantSkip: ReasonVolumeConflict,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			plan := p.DecidePod(tc.pod, Namespace{Name: "ns", Labels: tc.ns})
			if plan.Skip != tc.wantSkip || plan.Inject() != (tc.wantSkip == "") {
				t.Fatalf("skip = %q, want %q", plan.Skip, tc.wantSkip)
			}
			if tc.wantSkip != "" {
				if diff := cmp.Diff(PodPlan{Skip: tc.wantSkip}, plan); diff != "" {
					t.Errorf("a skipped pod's plan carries more than its reason (-want,+got):\n%s", diff)
				}
				return
			}
			if plan.Flavour != tc.wantFlavour || plan.DiscoveryAddress != tc.wantAddr || plan.MountEnvoyConfig != tc.wantMount {
				t.Errorf("flavour, address, mount = %q, %q, %v; want %q, %q, %v", plan.Flavour, plan.DiscoveryAddress,
					plan.MountEnvoyConfig, tc.wantFlavour, tc.wantAddr, tc.wantMount)
			}
		})
	}
}

// TestPodPlanIsItsOwnKey checks that two pods with the same sidecars get
// equal plans, so a cache keyed by plan finds them.
func TestPodPlanIsItsOwnKey(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	on := Namespace{Name: "a", Labels: map[string]string{DefaultNamespaceLabel: "enabled", "team": "x"}}
	a := p.DecidePod(PodFacts{Labels: map[string]string{"gloo": "gateway-proxy"}}, on)
	b := p.DecidePod(PodFacts{Labels: map[string]string{"gloo": "kube-gateway", "app": "y"}, Containers: []string{"c"}}, Namespace{Name: "b", Labels: on.Labels})
	if a != b {
		t.Errorf("plans differ for pods with the same sidecars:\n%+v\n%+v", a, b)
	}
	c := p.DecidePod(PodFacts{Labels: map[string]string{"gloo": "gateway-proxy"}}, Namespace{Labels: map[string]string{DefaultNamespaceLabel: "enabled", "istio.io/rev": "1-28"}})
	if a == c {
		t.Errorf("plans for different istiods are equal")
	}
}

func TestCAAddress(t *testing.T) {
	csr := "cert-manager-istio-csr.cert-manager.svc:443"
	rev := Namespace{Labels: map[string]string{DefaultNamespaceLabel: "enabled", "istio.io/rev": "1-28"}}
	cases := map[string]struct {
		mesh MeshConfig
		want string
	}{
		"by default the revision's istiod, as the discovery address": {want: "istiod-1-28.istio-system.svc:15012"},
		"a pinned discovery address":                                 {mesh: MeshConfig{DiscoveryAddress: "istiod.mesh.example:15012"}, want: "istiod.mesh.example:15012"},
		"its own setting wins":                                       {mesh: MeshConfig{DiscoveryAddress: "istiod.mesh.example:15012", CAAddress: csr}, want: csr},
		"its own setting with a revision":                            {mesh: MeshConfig{CAAddress: csr}, want: csr},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := mustPolicy(t, Config{Mesh: tc.mesh})
			plan := p.DecidePod(PodFacts{Labels: map[string]string{"gloo": "gateway-proxy"}}, rev)
			if diff := cmp.Diff(tc.want, plan.CAAddress); diff != "" {
				t.Errorf("CAAddress (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestSidecarSettingsShareNoMemoryWithConfig(t *testing.T) {
	cfg := Default()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	*cfg.IstioProxy.SecurityContext.RunAsUser = 0
	cfg.IstioProxy.Resources.Limits["cpu"] = cfg.IstioProxy.Resources.Requests["cpu"]
	plan := p.DecidePod(PodFacts{Labels: map[string]string{"gloo": "gateway-proxy"}}, Namespace{Labels: map[string]string{DefaultNamespaceLabel: "enabled"}})
	if *plan.Sidecars.ProxySecurity.RunAsUser != 1337 || plan.Sidecars.ProxyResources.Limits.Cpu().String() != "2" {
		t.Errorf("an edit of the config leaked into the policy")
	}
}
