package mutate

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

var enabledNS = policy.Namespace{Name: "gloo-system", Labels: map[string]string{policy.DefaultNamespaceLabel: "enabled"}}

func TestPodReasons(t *testing.T) {
	pol := defaultPolicy(t)
	cases := map[string]struct {
		pod  *corev1.Pod
		ns   policy.Namespace
		want policy.Reason
	}{
		"a gateway proxy in an opted-in namespace is injected": {
			pod: glooPod().obj(), ns: enabledNS, want: policy.ReasonInjected,
		},
		"a namespace without the opt-in label is skipped": {
			pod: glooPod().obj(), ns: policy.Namespace{Name: "gloo-system"}, want: policy.ReasonNamespaceNotEnabled,
		},
		"a namespace label other than enabled is skipped": {
			pod:  glooPod().obj(),
			ns:   policy.Namespace{Name: "x", Labels: map[string]string{policy.DefaultNamespaceLabel: "disabled"}},
			want: policy.ReasonNamespaceNotEnabled,
		},
		"a pod labelled gatemesh.io/inject=false is skipped": {
			pod: glooPod().label("gatemesh.io/inject", "false").obj(), ns: enabledNS, want: policy.ReasonPodOptedOut,
		},
		"a pod that is not a gateway proxy is skipped": {
			pod: makePod("app", "default").label("app", "httpbin").obj(), ns: enabledNS, want: policy.ReasonNotGatewayProxy,
		},
		"a gloo label with another value is not a gateway proxy": {
			pod: makePod("gloo", "gloo-system").label("gloo", "gloo").obj(), ns: enabledNS, want: policy.ReasonNotGatewayProxy,
		},
		"a pod with someone else's istio-proxy is skipped": {
			pod: glooPod().container("istio-proxy", "proxyv2").obj(), ns: enabledNS, want: policy.ReasonIstioProxyExists,
		},
		"a pod with a chart's sds container is skipped": {
			pod: glooPod().container("sds", "sds").obj(), ns: enabledNS, want: policy.ReasonSDSExists,
		},
		"a pod with a volume named like gatemesh's is skipped": {
			pod: glooPod().volume("istio-certs").obj(), ns: enabledNS, want: policy.ReasonVolumeConflict,
		},
		"a corrupt status annotation claims nothing": {
			pod:  glooPod().annotation(StatusAnnotation, "{not json").container("istio-proxy", "x").obj(),
			ns:   enabledNS,
			want: policy.ReasonIstioProxyExists,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := tc.pod.DeepCopy()
			got, reason := injectTyped(tc.pod, pol, tc.ns)
			if reason != tc.want {
				t.Errorf("reason = %q, want %q", reason, tc.want)
			}
			if diff := cmp.Diff(before, tc.pod); diff != "" {
				t.Errorf("input was modified (-before,+after):\n%s", diff)
			}
			if !reason.Changes() && got != tc.pod {
				t.Errorf("a skipped pod must be returned as is")
			}
		})
	}
}

func TestPodInjection(t *testing.T) {
	pol := defaultPolicy(t)
	got, reason := injectTyped(glooPod().volume("envoy-config").obj(), pol, enabledNS)
	if reason != policy.ReasonInjected {
		t.Fatalf("reason = %q", reason)
	}
	var names []string
	for _, c := range got.Spec.Containers {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"gateway-proxy", "istio-proxy", "sds"}, names); diff != "" {
		t.Errorf("containers (-want,+got):\n%s", diff)
	}
	if got.Annotations[IstioInjectAnnotation] != "false" {
		t.Errorf("%s = %q, want \"false\"", IstioInjectAnnotation, got.Annotations[IstioInjectAnnotation])
	}
	status, ok := ParseStatus(got.Annotations)
	if !ok {
		t.Fatalf("no valid status annotation: %q", got.Annotations[StatusAnnotation])
	}
	wantStatus := Status{
		Version:    1,
		Containers: []string{"istio-proxy", "sds"},
		Volumes: []string{"istio-certs", "istiod-ca-cert", "istio-envoy", "istio-token",
			"credential-socket", "workload-socket", "workload-certs"},
		Annotations: []string{IstioInjectAnnotation},
	}
	if diff := cmp.Diff(wantStatus, status); diff != "" {
		t.Errorf("status (-want,+got):\n%s", diff)
	}

	env := map[string]string{}
	for _, e := range got.Spec.Containers[1].Env {
		env[e.Name] = e.Value
	}
	var proxyConfig map[string]string
	if err := json.Unmarshal([]byte(env["PROXY_CONFIG"]), &proxyConfig); err != nil {
		t.Fatalf("PROXY_CONFIG is not JSON: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"discoveryAddress": "istiod.istio-system.svc:15012"}, proxyConfig); diff != "" {
		t.Errorf("PROXY_CONFIG (-want,+got):\n%s", diff)
	}
	if env["CA_ADDR"] != "istiod.istio-system.svc:15012" || env["DISABLE_ENVOY"] != "true" {
		t.Errorf("CA_ADDR = %q, DISABLE_ENVOY = %q", env["CA_ADDR"], env["DISABLE_ENVOY"])
	}
	sds := got.Spec.Containers[2]
	if diff := cmp.Diff([]corev1.VolumeMount{
		{Name: "istio-certs", MountPath: "/etc/istio-certs/"},
		{Name: "envoy-config", MountPath: "/etc/envoy"},
	}, sds.VolumeMounts); diff != "" {
		t.Errorf("sds mounts (-want,+got):\n%s", diff)
	}
	if sds.Image != policy.DefaultGlooSDSImage {
		t.Errorf("sds image = %q, want %q", sds.Image, policy.DefaultGlooSDSImage)
	}
}

func TestPodEnsuresStaleInjection(t *testing.T) {
	old, err := policy.New(policy.Config{IstioProxy: policy.IstioProxyConfig{Image: "docker.io/istio/proxyv2:1.27.0"}})
	if err != nil {
		t.Fatal(err)
	}
	injected, _ := injectTyped(glooPod().obj(), old, enabledNS)
	pol := defaultPolicy(t)
	got, reason := injectTyped(injected, pol, enabledNS)
	if reason != policy.ReasonInjected {
		t.Fatalf("reason = %q, want %q", reason, policy.ReasonInjected)
	}
	if n := len(got.Spec.Containers); n != 3 {
		t.Fatalf("%d containers, want 3 (updated in place)", n)
	}
	if img := got.Spec.Containers[1].Image; img != policy.DefaultIstioProxyImage {
		t.Errorf("istio-proxy image = %q, want %q", img, policy.DefaultIstioProxyImage)
	}
	if _, reason := injectTyped(got, pol, enabledNS); reason != policy.ReasonAlreadyInjected {
		t.Errorf("third pass reason = %q, want %q", reason, policy.ReasonAlreadyInjected)
	}
}

func TestPodFlavourAndDiscovery(t *testing.T) {
	// Distinct sds images per flavour, so the image tells the flavour (the
	// defaults are one image for both).
	const glooSDS, kgwSDS = "registry.example/gloo-sds:1", "registry.example/kgateway-sds:1"
	sds := policy.SDSConfig{GlooImage: glooSDS, KgatewayImage: kgwSDS}
	pinned, err := policy.New(policy.Config{Mesh: policy.MeshConfig{DiscoveryAddress: "istiod.mesh.example:15012"}, SDS: sds})
	if err != nil {
		t.Fatal(err)
	}
	flavoured, err := policy.New(policy.Config{SDS: sds})
	if err != nil {
		t.Fatal(err)
	}
	revNS := policy.Namespace{Name: "gw", Labels: map[string]string{policy.DefaultNamespaceLabel: "enabled", "istio.io/rev": "1-28"}}
	cases := map[string]struct {
		pol           *policy.Policy
		pod           *corev1.Pod
		ns            policy.Namespace
		wantSDS, want string
	}{
		"kgateway pods get the kgateway sds image": {
			pol: flavoured, pod: makePod("p", "gw").label("kgateway", "kube-gateway").obj(), ns: enabledNS,
			wantSDS: kgwSDS, want: "istiod.istio-system.svc:15012",
		},
		"a pod with only the gateway-name label is Gloo 1.17's kube-gateway": {
			pol: flavoured, pod: makePod("p", "gw").label("gateway.networking.k8s.io/gateway-name", "http").obj(), ns: enabledNS,
			wantSDS: glooSDS, want: "istiod.istio-system.svc:15012",
		},
		"Gloo's kube-gateway pods are gloo even with a gateway name": {
			pol: flavoured,
			pod: makePod("p", "gw").label("gloo", "kube-gateway").label("gateway.networking.k8s.io/gateway-name", "http").obj(),
			ns:  enabledNS, wantSDS: glooSDS, want: "istiod.istio-system.svc:15012",
		},
		"a revision label picks the revision's istiod": {
			pol: flavoured, pod: glooPod().obj(), ns: revNS,
			wantSDS: glooSDS, want: "istiod-1-28.istio-system.svc:15012",
		},
		"a configured discovery address wins over the revision": {
			pol: pinned, pod: glooPod().obj(), ns: revNS,
			wantSDS: glooSDS, want: "istiod.mesh.example:15012",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, reason := injectTyped(tc.pod, tc.pol, tc.ns)
			if reason != policy.ReasonInjected {
				t.Fatalf("reason = %q", reason)
			}
			proxy, sds := got.Spec.Containers[1], got.Spec.Containers[2]
			if sds.Image != tc.wantSDS {
				t.Errorf("sds image = %q, want %q", sds.Image, tc.wantSDS)
			}
			for _, e := range proxy.Env {
				if e.Name == "CA_ADDR" && e.Value != tc.want {
					t.Errorf("CA_ADDR = %q, want %q", e.Value, tc.want)
				}
			}
		})
	}
}

func TestPullPolicy(t *testing.T) {
	cases := map[string]corev1.PullPolicy{
		"docker.io/istio/proxyv2:1.28.0":  corev1.PullIfNotPresent,
		"docker.io/istio/proxyv2":         corev1.PullAlways,
		"docker.io/istio/proxyv2:latest":  corev1.PullAlways,
		"registry:5000/istio/proxyv2":     corev1.PullAlways,
		"registry:5000/istio/proxyv2:1.2": corev1.PullIfNotPresent,
		"istio/proxyv2@sha256:abcd":       corev1.PullIfNotPresent,
	}
	for image, want := range cases {
		if got := pullPolicy(image); got != want {
			t.Errorf("pullPolicy(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestVolumesAreTheInjectedOnes(t *testing.T) {
	var names []string
	for _, v := range volumes() {
		names = append(names, v.Name)
	}
	want := policy.InjectedVolumes()
	if diff := cmp.Diff(want[:], names); diff != "" {
		t.Errorf("volumes() (-policy.InjectedVolumes,+volumes):\n%s", diff)
	}
}

// TestStatusListsOnlyWhatGatemeshSet: a pod that already carries
// sidecar.istio.io/inject: "false" keeps it as its own (the status does not
// claim it, so undoing the injection leaves it), and a second pass, with or
// without the cache, changes nothing.
func TestStatusListsOnlyWhatGatemeshSet(t *testing.T) {
	pol := defaultPolicy(t)
	for name, pod := range map[string]*corev1.Pod{
		"the user's own false": glooPod().annotation(IstioInjectAnnotation, "false").obj(),
		"none":                 glooPod().obj(),
	} {
		t.Run(name, func(t *testing.T) {
			_, userHad := pod.Annotations[IstioInjectAnnotation]
			raw, err := json.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			for _, cache := range []*SidecarCache{nil, {}} {
				ops, _, err := patchPod(raw, pol, enabledNS, cache)
				if err != nil {
					t.Fatal(err)
				}
				injected, err := strictApply(raw, ops)
				if err != nil {
					t.Fatal(err)
				}
				var got corev1.Pod
				if err := json.Unmarshal(injected, &got); err != nil {
					t.Fatal(err)
				}
				status, ok := ParseStatus(got.Annotations)
				if !ok {
					t.Fatal("no status")
				}
				if claims := slices.Contains(status.Annotations, IstioInjectAnnotation); claims == userHad {
					t.Errorf("status claims %s: %v, want %v", IstioInjectAnnotation, claims, !userHad)
				}
				if again, _, _ := patchPod(injected, pol, enabledNS, cache); len(again) != 0 {
					t.Errorf("second pass: %v", again)
				}
			}
		})
	}
}
