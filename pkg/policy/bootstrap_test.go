package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecideBootstrap(t *testing.T) {
	enabled := map[string]string{DefaultNamespaceLabel: "enabled"}
	custom := Default()
	custom.Backends.UpstreamSSLConfig.SDS.ClusterName = "mesh_sds"
	custom.Backends.UpstreamSSLConfig.SDS.TargetURI = "[::1]:9000"
	custom.Selection.NamespaceLabel = "example.com/mesh"

	tests := map[string]struct {
		cfg        Config
		labels     map[string]string
		want       *BootstrapPlan
		wantReason Reason
	}{
		"opted-in namespace gets the chart's cluster": {
			cfg: Default(), labels: enabled,
			want:       &BootstrapPlan{ClusterName: "gateway_proxy_sds", Address: "127.0.0.1", Port: 8234, ConnectTimeout: "0.25s"},
			wantReason: ReasonBootstrapWanted,
		},
		"namespace without the label": {
			cfg: Default(), labels: nil, wantReason: ReasonNamespaceNotEnabled,
		},
		"label with another value": {
			cfg: Default(), labels: map[string]string{DefaultNamespaceLabel: "disabled"}, wantReason: ReasonNamespaceNotEnabled,
		},
		"cluster and target follow the backend policy": {
			cfg: custom, labels: map[string]string{"example.com/mesh": "enabled"},
			want:       &BootstrapPlan{ClusterName: "mesh_sds", Address: "::1", Port: 9000, ConnectTimeout: "0.25s"},
			wantReason: ReasonBootstrapWanted,
		},
		"the configured label, not the default one, opts in": {
			cfg: custom, labels: enabled, wantReason: ReasonNamespaceNotEnabled,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := mustPolicy(t, tc.cfg)
			got, reason := p.DecideBootstrap(Namespace{Name: "gloo-system", Labels: tc.labels})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("plan mismatch (-want,+got):\n%s", diff)
			}
			if reason != tc.wantReason {
				t.Errorf("reason = %q, want %q", reason, tc.wantReason)
			}
		})
	}
}

func TestBootstrapReasons(t *testing.T) {
	changes := map[Reason]bool{
		ReasonBootstrapWanted:         false,
		ReasonBootstrapClusterAdded:   true,
		ReasonBootstrapClusterUpdated: true,
		ReasonBootstrapClusterPresent: false,
		ReasonBootstrapClusterRemoved: true,
		ReasonBootstrapClusterForeign: false,
		ReasonNotBootstrap:            false,
		ReasonBootstrapTooLarge:       false,
		ReasonBootstrapUnsupported:    false,
	}
	for r, want := range changes {
		if got := r.Changes(); got != want {
			t.Errorf("%s.Changes() = %v, want %v", r, got, want)
		}
		if r.Sentence() == string(r) {
			t.Errorf("%s has no sentence", r)
		}
	}
}
