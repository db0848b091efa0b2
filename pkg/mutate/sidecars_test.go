package mutate

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// TestIstioProxyAddresses checks where the injected Istio agent fetches its
// configuration (PROXY_CONFIG's discoveryAddress) and its certificates
// (CA_ADDR): both istiod by default, the CA's own address when the policy
// sets mesh.caAddress.
func TestIstioProxyAddresses(t *testing.T) {
	const istiod, csr = "istiod-1-28.istio-system.svc:15012", "cert-manager-istio-csr.cert-manager.svc:443"
	cases := map[string]struct {
		plan             policy.PodPlan
		wantCA, wantDisc string
	}{
		"the CA defaults to the discovery address": {
			plan: policy.PodPlan{DiscoveryAddress: istiod}, wantCA: istiod, wantDisc: `{"discoveryAddress":"` + istiod + `"}`,
		},
		"a CA address of its own": {
			plan: policy.PodPlan{DiscoveryAddress: istiod, CAAddress: csr}, wantCA: csr, wantDisc: `{"discoveryAddress":"` + istiod + `"}`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.plan.Sidecars = &policy.SidecarSettings{}
			got := map[string]string{}
			for _, e := range istioProxyContainer(tc.plan).Env {
				if e.Name == "CA_ADDR" || e.Name == "PROXY_CONFIG" {
					got[e.Name] = e.Value
				}
			}
			if diff := cmp.Diff(map[string]string{"CA_ADDR": tc.wantCA, "PROXY_CONFIG": tc.wantDisc}, got); diff != "" {
				t.Errorf("istio-proxy env (-want,+got):\n%s", diff)
			}
		})
	}
}
