package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"
)

// TestDecidePodAdjustsKgatewaysSidecars: a kgateway pod that carries its
// deployer's istio-proxy and sds is adjusted, with the namespace's
// revision-aware addresses and the policy's IDs; anything else that carries
// an istio-proxy is still skipped, and so is every such pod with the switch
// off.
func TestDecidePodAdjustsKgatewaysSidecars(t *testing.T) {
	kgw := map[string]string{"kgateway": "kube-gateway"}
	deployers := PodFacts{Labels: kgw, Containers: []string{"kgateway-proxy", SDSContainer, IstioProxyContainer},
		Volumes: []string{"istio-certs", "istio-token"}, DeployerSidecars: true}
	on := Namespace{Name: "gw", Labels: map[string]string{DefaultNamespaceLabel: "enabled", "istio.io/rev": "1-28"}}
	csr := "cert-manager-istio-csr.cert-manager.svc:443"
	cases := map[string]struct {
		cfg  Config
		pod  PodFacts
		ns   Namespace
		want PodPlan
	}{
		"the deployer's sidecars are adjusted to the revision's istiod": {
			pod: deployers, ns: on,
			want: PodPlan{Adjust: true, Flavour: FlavourKgateway, DiscoveryAddress: "istiod-1-28.istio-system.svc:15012", CAAddress: "istiod-1-28.istio-system.svc:15012"},
		},
		"with a separate CA": {
			cfg: Config{Mesh: MeshConfig{CAAddress: csr}}, pod: deployers, ns: on,
			want: PodPlan{Adjust: true, Flavour: FlavourKgateway, DiscoveryAddress: "istiod-1-28.istio-system.svc:15012", CAAddress: csr},
		},
		"the switch off keeps the skip": {
			cfg: Config{Selection: SelectionConfig{AdjustKgatewaySidecars: ptr.To(false)}}, pod: deployers, ns: on,
			want: PodPlan{Skip: ReasonIstioProxyExists},
		},
		"a namespace that has not opted in": {
			pod: deployers, ns: Namespace{Name: "gw"}, want: PodPlan{Skip: ReasonNamespaceNotEnabled},
		},
		"a Gloo pod with the same sidecars is not kgateway's": {
			pod: PodFacts{Labels: map[string]string{"gloo": "gateway-proxy"}, Containers: deployers.Containers, DeployerSidecars: true}, ns: on,
			want: PodPlan{Skip: ReasonIstioProxyExists},
		},
		"a kgateway pod with Istio's own sidecar": {
			pod: PodFacts{Labels: kgw, Containers: []string{"kgateway-proxy", IstioProxyContainer}}, ns: on,
			want: PodPlan{Skip: ReasonIstioProxyExists},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := mustPolicy(t, tc.cfg)
			got := p.DecidePod(tc.pod, tc.ns)
			if got.Adjust {
				if got.Sidecars == nil || got.Sidecars.ClusterID != DefaultClusterID || got.Sidecars.MeshID != DefaultMeshID {
					t.Errorf("an adjusting plan's sidecar settings = %+v, want the policy's cluster and mesh IDs", got.Sidecars)
				}
				got.Sidecars = nil
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("plan (-want,+got):\n%s", diff)
			}
			if got.Inject() {
				t.Errorf("plan %+v injects", got)
			}
		})
	}
}

// TestAdjustingPlanIsItsOwnKey: two adjusted pods get equal plans exactly
// when they get the same values.
func TestAdjustingPlanIsItsOwnKey(t *testing.T) {
	p := mustPolicy(t, Config{})
	f := PodFacts{Labels: map[string]string{"kgateway": "kube-gateway"}, Containers: []string{IstioProxyContainer, SDSContainer}, DeployerSidecars: true}
	on := map[string]string{DefaultNamespaceLabel: "enabled"}
	a := p.DecidePod(f, Namespace{Name: "a", Labels: on})
	b := p.DecidePod(f, Namespace{Name: "b", Labels: on})
	c := p.DecidePod(f, Namespace{Name: "c", Labels: map[string]string{DefaultNamespaceLabel: "enabled", "istio.io/rev": "1-28"}})
	if a != b || a == c {
		t.Errorf("plans: a == b %v (want true), a == c %v (want false)", a == b, a == c)
	}
}
