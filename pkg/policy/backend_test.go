package policy

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"
)

func mustPolicy(t *testing.T, c Config) *Policy {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBackendDefaults(t *testing.T) {
	want := BackendConfig{
		AutoMtls:      ptr.To(true),
		ClusterDomain: "cluster.local",
		UpstreamSSLConfig: UpstreamSSLConfig{
			AlpnProtocols: []string{"istio"},
			SDS: UpstreamSDSConfig{
				TargetURI:              "127.0.0.1:8234",
				CertificatesSecretName: "istio_server_cert",
				ValidationContextName:  "istio_validation_context",
				ClusterName:            "gateway_proxy_sds",
			},
		},
	}
	if diff := cmp.Diff(want, Default().Backends); diff != "" {
		t.Errorf("defaults mismatch (-want,+got):\n%s", diff)
	}
}

func TestBackendParse(t *testing.T) {
	c, err := Parse([]byte("backends:\n  autoMtls: false\n  upstreamSslConfig:\n    alpnProtocols: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := mustPolicy(t, c)
	if p.AutoMtls() {
		t.Error("autoMtls: false parsed as on")
	}
	if _, ok := p.UpstreamSSLConfig()["alpnProtocols"]; ok {
		t.Error("an explicit empty alpnProtocols was defaulted")
	}
	if _, err := Parse([]byte("backends:\n  autoMTLS: false\n")); err == nil {
		t.Error("a misspelt field was accepted")
	}
}

func TestBackendValidate(t *testing.T) {
	cases := map[string]struct {
		cfg  BackendConfig
		want []string
	}{
		"the defaults are valid": {},
		"a bad cluster domain": {
			cfg:  BackendConfig{ClusterDomain: "Cluster_Local"},
			want: []string{"backends.clusterDomain: Invalid value"},
		},
		"a trailing dot on the cluster domain is fine": {cfg: BackendConfig{ClusterDomain: "cluster.local."}},
		"a bad sds address and names": {
			cfg: BackendConfig{UpstreamSSLConfig: UpstreamSSLConfig{
				AlpnProtocols: []string{"istio", "h 2"},
				SDS:           UpstreamSDSConfig{TargetURI: "127.0.0.1", ClusterName: `a"b`},
			}},
			want: []string{
				"backends.upstreamSslConfig.alpnProtocols[1]: Invalid value",
				"backends.upstreamSslConfig.sds.targetUri: Invalid value",
				"backends.upstreamSslConfig.sds.clusterName: Invalid value",
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Config{Backends: tc.cfg}
			SetDefaults(&c)
			var got []string
			for _, e := range c.Validate() {
				got = append(got, e.Error())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("errors = %q, want %d: %q", got, len(tc.want), tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d = %q, want it to start %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestServiceNamespace(t *testing.T) {
	p := mustPolicy(t, Config{Backends: BackendConfig{ClusterDomain: "corp.internal"}})
	cases := map[string]struct {
		host   string
		wantNS string
		wantOK bool
	}{
		"<svc>.<ns>.svc":                      {"httpbin.web.svc", "web", true},
		"<svc>.<ns>.svc.<clusterDomain>":      {"httpbin.web.svc.corp.internal", "web", true},
		"a trailing dot and upper case":       {"HTTPBIN.Web.svc.corp.internal.", "web", true},
		"another cluster domain":              {"httpbin.web.svc.cluster.local", "", false},
		"<svc>.<ns> looks like a public name": {"httpbin.org", "", false},
		"a bare service name":                 {"httpbin", "", false},
		"an IP address":                       {"10.0.0.1", "", false},
		"a pod DNS name":                      {"10-0-0-1.web.pod.corp.internal", "", false},
		"an invalid namespace":                {"a.b_c.svc", "", false},
		"an empty host":                       {"", "", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ns, ok := p.ServiceNamespace(tc.host)
			if ns != tc.wantNS || ok != tc.wantOK {
				t.Errorf("ServiceNamespace(%q) = %q, %v; want %q, %v", tc.host, ns, ok, tc.wantNS, tc.wantOK)
			}
		})
	}
}

func TestInMesh(t *testing.T) {
	p := mustPolicy(t, Config{})
	cases := map[string]struct {
		labels map[string]string
		want   bool
	}{
		"istio-injection=enabled":                   {map[string]string{"istio-injection": "enabled"}, true},
		"a revision label":                          {map[string]string{"istio.io/rev": "1-28"}, true},
		"istio-injection=disabled beats a revision": {map[string]string{"istio-injection": "disabled", "istio.io/rev": "1-28"}, false},
		"an empty revision":                         {map[string]string{"istio.io/rev": ""}, false},
		"no labels":                                 {nil, false},
		"gatemesh's own opt-in is not Istio's":      {map[string]string{"gatemesh.io/injection": "enabled"}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := p.InMesh(Namespace{Name: "ns", Labels: tc.labels}); got != tc.want {
				t.Errorf("InMesh(%v) = %v, want %v", tc.labels, got, tc.want)
			}
		})
	}
}

func TestDecideBackendMode(t *testing.T) {
	auto := mustPolicy(t, Config{})
	manual := mustPolicy(t, Config{Backends: BackendConfig{AutoMtls: ptr.To(false)}})
	svc := ServicesTarget("a", "b")
	cases := map[string]struct {
		manual     bool
		facts      BackendFacts
		wantMode   MtlsMode
		wantReason Reason
	}{
		"services all in the mesh":          {facts: BackendFacts{Target: svc, TargetInMesh: true}, wantMode: MtlsIstio, wantReason: ReasonTargetInMesh},
		"a service namespace outside":       {facts: BackendFacts{Target: svc}, wantMode: MtlsDisabled, wantReason: ReasonTargetNamespaceNotInMesh},
		"outside hosts":                     {facts: BackendFacts{Target: Target{Kind: TargetHosts}}, wantMode: MtlsDisabled, wantReason: ReasonTargetExternal},
		"a cloud service":                   {facts: BackendFacts{Target: Target{Kind: TargetOutside}}, wantMode: MtlsDisabled, wantReason: ReasonTargetExternal},
		"an unknown target":                 {facts: BackendFacts{Target: Target{Kind: TargetUnknown}}, wantMode: MtlsHandsOff, wantReason: ReasonTargetUnknown},
		"services without namespaces":       {facts: BackendFacts{Target: Target{Kind: TargetServices}, TargetInMesh: true}, wantMode: MtlsHandsOff, wantReason: ReasonTargetUnknown},
		"disableIstioAutoMtls beats opt-in": {facts: BackendFacts{UserMtls: "istio", DisableIstioAutoMtls: true, Target: svc, TargetInMesh: true}, wantMode: MtlsDisabled, wantReason: ReasonDisableIstioAutoMtls},
		"an opt-out":                        {facts: BackendFacts{UserMtls: "disabled", Target: svc, TargetInMesh: true}, wantMode: MtlsDisabled, wantReason: ReasonOptedOut},
		"an opt-in overrides namespaces":    {facts: BackendFacts{UserMtls: "istio", Target: svc}, wantMode: MtlsIstio, wantReason: ReasonOptedIn},
		"an opt-in overrides outside hosts": {facts: BackendFacts{UserMtls: "istio", Target: Target{Kind: TargetHosts}}, wantMode: MtlsIstio, wantReason: ReasonOptedIn},
		"an opt-in does not move a cloud service into the mesh": {
			facts: BackendFacts{UserMtls: "istio", Target: Target{Kind: TargetOutside}}, wantMode: MtlsDisabled, wantReason: ReasonTargetExternal,
		},
		"an unknown annotation value is no opinion": {facts: BackendFacts{UserMtls: "on", Target: svc, TargetInMesh: true}, wantMode: MtlsIstio, wantReason: ReasonTargetInMesh},
		"autoMtls off without opt-in":               {manual: true, facts: BackendFacts{Target: svc, TargetInMesh: true}, wantMode: MtlsHandsOff, wantReason: ReasonAutoMtlsOff},
		"autoMtls off with an opt-out":              {manual: true, facts: BackendFacts{UserMtls: "disabled", Target: Target{Kind: TargetOutside}}, wantMode: MtlsHandsOff, wantReason: ReasonAutoMtlsOff},
		"autoMtls off with an opt-in":               {manual: true, facts: BackendFacts{UserMtls: "istio", Target: svc}, wantMode: MtlsIstio, wantReason: ReasonOptedIn},
		"a static Backend to mesh services is sent plaintext by kgateway": {
			facts: BackendFacts{Target: svc, TargetInMesh: true, Static: true}, wantMode: MtlsDisabled, wantReason: ReasonStaticBackendPlaintext,
		},
		"a static Backend that opts in is still sent plaintext": {
			facts: BackendFacts{UserMtls: "istio", Target: Target{Kind: TargetHosts}, Static: true}, wantMode: MtlsDisabled, wantReason: ReasonStaticBackendPlaintext,
		},
		"a static Backend to services outside the mesh": {
			facts: BackendFacts{Target: svc, Static: true}, wantMode: MtlsDisabled, wantReason: ReasonTargetNamespaceNotInMesh,
		},
		"a static Backend to outside hosts": {
			facts: BackendFacts{Target: Target{Kind: TargetHosts}, Static: true}, wantMode: MtlsDisabled, wantReason: ReasonTargetExternal,
		},
		"a Backend in Gloo's shape is left alone": {
			facts: BackendFacts{Target: Target{Kind: TargetNotKgateway}}, wantMode: MtlsHandsOff, wantReason: ReasonNotKgatewayShape,
		},
		"a Backend in Gloo's shape still honours disableIstioAutoMtls": {
			facts: BackendFacts{Target: Target{Kind: TargetNotKgateway}, DisableIstioAutoMtls: true}, wantMode: MtlsDisabled, wantReason: ReasonDisableIstioAutoMtls,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := auto
			if tc.manual {
				p = manual
			}
			tc.facts.Kind, tc.facts.Block = KindBackend, BlockAbsent
			got := p.DecideBackend(tc.facts)
			if got.Mode != tc.wantMode || got.Reason != tc.wantReason {
				t.Errorf("DecideBackend() = %q, %q; want %q, %q", got.Mode, got.Reason, tc.wantMode, tc.wantReason)
			}
			if want := map[bool]BackendAction{true: BackendLeave, false: BackendStamp}[tc.wantMode == MtlsHandsOff]; got.Action != want {
				t.Errorf("action = %q, want %q", got.Action, want)
			}
		})
	}
}

func TestDecideBackendPlan(t *testing.T) {
	p := mustPolicy(t, Config{})
	ssl := `{"alpnProtocols":["istio"],"sds":{"certificatesSecretName":"istio_server_cert","clusterName":"gateway_proxy_sds",` +
		`"targetUri":"127.0.0.1:8234","validationContextName":"istio_validation_context"}}`
	inMesh := BackendFacts{Kind: KindUpstream, Target: ServicesTarget("a"), TargetInMesh: true, Block: BlockAbsent}
	with := func(f BackendFacts, edit func(*BackendFacts)) BackendFacts { edit(&f); return f }
	cases := map[string]struct {
		facts BackendFacts
		want  BackendPlan
	}{
		"an Upstream in the mesh gets the sslConfig": {
			facts: inMesh,
			want:  BackendPlan{Action: BackendStamp, Mode: MtlsIstio, Reason: ReasonTargetInMesh, Block: []byte(ssl)},
		},
		"an Upstream outside the mesh gets no block": {
			facts: with(inMesh, func(f *BackendFacts) { f.TargetInMesh = false }),
			want:  BackendPlan{Action: BackendStamp, Mode: MtlsDisabled, Reason: ReasonTargetNamespaceNotInMesh},
		},
		"a Backend outside the mesh gets kgateway's annotation": {
			facts: with(inMesh, func(f *BackendFacts) { f.Kind, f.TargetInMesh = KindBackend, false }),
			want:  BackendPlan{Action: BackendStamp, Mode: MtlsDisabled, Reason: ReasonTargetNamespaceNotInMesh, Block: []byte(`"true"`)},
		},
		"a Backend in the mesh gets no block": {
			facts: with(inMesh, func(f *BackendFacts) { f.Kind = KindBackend }),
			want:  BackendPlan{Action: BackendStamp, Mode: MtlsIstio, Reason: ReasonTargetInMesh},
		},
		"gatemesh's own block is restamped": {
			facts: with(inMesh, func(f *BackendFacts) { f.Stamped, f.Block = true, BlockOurs }),
			want:  BackendPlan{Action: BackendStamp, Mode: MtlsIstio, Reason: ReasonTargetInMesh, Block: []byte(ssl)},
		},
		"an edited stamp is the user's": {
			facts: with(inMesh, func(f *BackendFacts) { f.Stamped, f.Block = true, BlockEdited }),
			want:  BackendPlan{Action: BackendLeave, Mode: MtlsIstio, Reason: ReasonStampEdited},
		},
		"the user's sslConfig is left alone": {
			facts: with(inMesh, func(f *BackendFacts) { f.Block = BlockUser }),
			want:  BackendPlan{Action: BackendLeave, Mode: MtlsIstio, Reason: ReasonUserTLS},
		},
		"the user's kgateway annotation is left alone": {
			facts: with(inMesh, func(f *BackendFacts) { f.Kind, f.Block = KindBackend, BlockUser }),
			want:  BackendPlan{Action: BackendLeave, Mode: MtlsIstio, Reason: ReasonUserAnnotation},
		},
		"the user's kgateway annotation that is not a boolean is left alone, saying why": {
			facts: with(inMesh, func(f *BackendFacts) { f.Kind, f.Block, f.UserBlockInvalid = KindBackend, BlockUser, true }),
			want:  BackendPlan{Action: BackendLeave, Mode: MtlsIstio, Reason: ReasonUserAnnotationInvalid},
		},
		"a static Backend in the mesh gets kgateway's annotation, as kgateway sends it plaintext": {
			facts: with(inMesh, func(f *BackendFacts) { f.Kind, f.Static = KindBackend, true }),
			want:  BackendPlan{Action: BackendStamp, Mode: MtlsDisabled, Reason: ReasonStaticBackendPlaintext, Block: []byte(`"true"`)},
		},
		"an unknown target that gatemesh stamped is unstamped": {
			facts: with(inMesh, func(f *BackendFacts) { f.Target, f.Stamped, f.Block = Target{Kind: TargetUnknown}, true, BlockOurs }),
			want:  BackendPlan{Action: BackendUnstamp, Reason: ReasonTargetUnknown},
		},
		"an unknown target never stamped is left alone": {
			facts: with(inMesh, func(f *BackendFacts) { f.Target = Target{Kind: TargetUnknown} }),
			want:  BackendPlan{Action: BackendLeave, Reason: ReasonTargetUnknown},
		},
		"too many targets leave even a stamped object alone": {
			facts: with(inMesh, func(f *BackendFacts) { f.Target, f.Stamped, f.Block = Target{Kind: TargetTooMany}, true, BlockOurs }),
			want:  BackendPlan{Action: BackendLeave, Reason: ReasonTooManyTargets},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, p.DecideBackend(tc.facts)); diff != "" {
				t.Errorf("DecideBackend() mismatch (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestHostsTarget(t *testing.T) {
	p := mustPolicy(t, Config{})
	many := func(n int, host string) []string {
		hosts := make([]string, n)
		for i := range hosts {
			hosts[i] = host
		}
		return hosts
	}
	cases := map[string]struct {
		hosts []string
		want  Target
	}{
		"no hosts":                           {nil, Target{Kind: TargetUnknown}},
		"service names, namespaces once":     {[]string{"a.y.svc", "b.x.svc", "c.y.svc"}, ServicesTarget("x", "y")},
		"one outside host":                   {[]string{"a.y.svc", "example.com"}, Target{Kind: TargetHosts}},
		"the cap is allowed":                 {many(MaxBackendTargets, "a.y.svc"), ServicesTarget("y")},
		"one host past the cap is too many":  {many(MaxBackendTargets+1, "a.y.svc"), Target{Kind: TargetTooMany}},
		"too many even when all are outside": {many(MaxBackendTargets+1, "example.com"), Target{Kind: TargetTooMany}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, p.HostsTarget(tc.hosts)); diff != "" {
				t.Errorf("HostsTarget() mismatch (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestBackendReasonsHaveSentences(t *testing.T) {
	for _, r := range []Reason{
		ReasonStamped, ReasonAlreadyStamped, ReasonUnstamped, ReasonAutoMtlsOff, ReasonDisableIstioAutoMtls,
		ReasonOptedOut, ReasonOptedIn, ReasonTargetInMesh, ReasonTargetNamespaceNotInMesh, ReasonTargetExternal,
		ReasonTargetUnknown, ReasonUserTLS, ReasonUserAnnotation, ReasonStampEdited, ReasonUnsupportedKind, ReasonTooManyTargets,
		ReasonUserAnnotationInvalid, ReasonStaticBackendPlaintext, ReasonNotKgatewayShape,
	} {
		if r.Sentence() == string(r) {
			t.Errorf("reason %q has no sentence", r)
		}
		if want := r == ReasonStamped || r == ReasonUnstamped; r.Changes() != want {
			t.Errorf("%q.Changes() = %v, want %v", r, r.Changes(), want)
		}
	}
}

func TestTooManyTargetsSentenceGivesTheCap(t *testing.T) {
	if s, n := ReasonTooManyTargets.Sentence(), strconv.Itoa(MaxBackendTargets); !strings.Contains(strings.ReplaceAll(s, ",", ""), n) {
		t.Errorf("sentence %q does not give the cap %s", s, n)
	}
}
