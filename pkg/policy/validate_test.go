package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// fieldError is what a test checks of a field.Error: its type and path.
type fieldError struct {
	Type  field.ErrorType
	Field string
}

func fieldErrors(errs field.ErrorList) []fieldError {
	var out []fieldError
	for _, e := range errs {
		out = append(out, fieldError{e.Type, e.Field})
	}
	return out
}

func TestValidateImages(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	cases := map[string]struct {
		image string
		want  []fieldError
	}{
		"a registry, a path and a tag":        {image: "docker.io/istio/proxyv2:1.28.0"},
		"a registry with a port":              {image: "localhost:5000/istio/proxyv2:1.28.0"},
		"a digest":                            {image: "docker.io/istio/proxyv2@" + digest},
		"a tag and a digest":                  {image: "docker.io/istio/proxyv2:1.28.0@" + digest},
		"a Docker Hub short name, no tag":     {image: "proxyv2"},
		"a space":                             {image: "docker.io/istio/proxyv2 1.28.0", want: []fieldError{{field.ErrorTypeInvalid, "istioProxy.image"}}},
		"an uppercase path":                   {image: "docker.io/Istio/proxyv2:1.28.0", want: []fieldError{{field.ErrorTypeInvalid, "istioProxy.image"}}},
		"two tags":                            {image: "istio/proxyv2:1.28.0:extra", want: []fieldError{{field.ErrorTypeInvalid, "istioProxy.image"}}},
		"an empty tag":                        {image: "istio/proxyv2:", want: []fieldError{{field.ErrorTypeInvalid, "istioProxy.image"}}},
		"a digest of the wrong length":        {image: "istio/proxyv2@sha256:abc", want: []fieldError{{field.ErrorTypeInvalid, "istioProxy.image"}}},
		"a tag of 129 characters":             {image: "istio/proxyv2:" + strings.Repeat("t", 129), want: []fieldError{{field.ErrorTypeInvalid, "istioProxy.image"}}},
		"a repository name of 256 characters": {image: "istio/" + strings.Repeat("p", 250), want: []fieldError{{field.ErrorTypeInvalid, "istioProxy.image"}}},
		"longer than MaxImageLength":          {image: "istio/proxyv2:" + strings.Repeat("t", MaxImageLength), want: []fieldError{{field.ErrorTypeTooLong, "istioProxy.image"}}},
		"a URL":                               {image: "https://docker.io/istio/proxyv2:1.28.0", want: []fieldError{{field.ErrorTypeInvalid, "istioProxy.image"}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.IstioProxy.Image = tc.image
			if diff := cmp.Diff(tc.want, fieldErrors(c.Validate())); diff != "" {
				t.Errorf("errors (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestValidateSecurityContexts(t *testing.T) {
	forbidden := func(paths ...string) []fieldError {
		var out []fieldError
		for _, p := range paths {
			out = append(out, fieldError{field.ErrorTypeForbidden, p})
		}
		return out
	}
	cases := map[string]struct {
		edit func(*Config)
		want []fieldError
	}{
		"the defaults": {edit: func(*Config) {}},
		"privileged": {
			edit: func(c *Config) { c.IstioProxy.SecurityContext.Privileged = ptr.To(true) },
			want: forbidden("istioProxy.securityContext.privileged"),
		},
		"privilege escalation": {
			edit: func(c *Config) { c.SDS.SecurityContext.AllowPrivilegeEscalation = ptr.To(true) },
			want: forbidden("sds.securityContext.allowPrivilegeEscalation"),
		},
		"user 0": {
			edit: func(c *Config) {
				c.SDS.SecurityContext.RunAsUser = ptr.To[int64](0)
				c.SDS.SecurityContext.RunAsNonRoot = nil
			},
			want: forbidden("sds.securityContext.runAsUser"),
		},
		"runAsNonRoot false": {
			edit: func(c *Config) { c.IstioProxy.SecurityContext.RunAsNonRoot = ptr.To(false) },
			want: forbidden("istioProxy.securityContext.runAsNonRoot"),
		},
		"an added capability": {
			edit: func(c *Config) { c.IstioProxy.SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"} },
			want: forbidden("istioProxy.securityContext.capabilities.add"),
		},
		"everything at once, in both sidecars": {
			edit: func(c *Config) {
				for _, sc := range []*corev1.SecurityContext{c.IstioProxy.SecurityContext, c.SDS.SecurityContext} {
					sc.Privileged, sc.AllowPrivilegeEscalation = ptr.To(true), ptr.To(true)
					sc.RunAsUser, sc.RunAsNonRoot = ptr.To[int64](0), ptr.To(false)
				}
			},
			want: forbidden(
				"istioProxy.securityContext.privileged", "istioProxy.securityContext.allowPrivilegeEscalation",
				"istioProxy.securityContext.runAsUser", "istioProxy.securityContext.runAsNonRoot",
				"sds.securityContext.privileged", "sds.securityContext.allowPrivilegeEscalation",
				"sds.securityContext.runAsUser", "sds.securityContext.runAsNonRoot",
			),
		},
		"allowPrivileged allows it, for its own sidecar only": {
			edit: func(c *Config) {
				c.IstioProxy.AllowPrivileged = true
				c.IstioProxy.SecurityContext.Privileged = ptr.To(true)
				c.IstioProxy.SecurityContext.RunAsUser = ptr.To[int64](0)
				c.SDS.SecurityContext.Privileged = ptr.To(true)
			},
			want: forbidden("sds.securityContext.privileged"),
		},
		"fields left unset are the pod's and the image's": {
			edit: func(c *Config) { c.IstioProxy.SecurityContext = &corev1.SecurityContext{} },
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			if diff := cmp.Diff(tc.want, fieldErrors(c.Validate())); diff != "" {
				t.Errorf("errors (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestValidateStringBounds(t *testing.T) {
	long := strings.Repeat("a", MaxTokenLength+1)
	invalid := func(path string) []fieldError { return []fieldError{{field.ErrorTypeInvalid, path}} }
	cases := map[string]struct {
		edit func(*Config)
		want []fieldError
	}{
		"an IPv6 discovery address": {edit: func(c *Config) { c.Mesh.DiscoveryAddress = "[fd00::1]:15012" }},
		"a fully qualified discovery address, in capitals": {
			edit: func(c *Config) { c.Mesh.DiscoveryAddress = "ISTIOD.istio-system.svc.cluster.local.:15012" },
		},
		"a discovery host with an underscore": {
			edit: func(c *Config) { c.Mesh.DiscoveryAddress = "istiod_1.istio-system:15012" }, want: invalid("mesh.discoveryAddress"),
		},
		"a discovery host longer than a DNS name": {
			edit: func(c *Config) { c.Mesh.DiscoveryAddress = strings.Repeat("a.", 127) + "b:15012" }, want: invalid("mesh.discoveryAddress"),
		},
		"a CA address with a path": {
			edit: func(c *Config) { c.Mesh.CAAddress = "istiod/x:15012" }, want: invalid("mesh.caAddress"),
		},
		"a cluster ID too long": {
			edit: func(c *Config) { c.Mesh.ClusterID = long }, want: []fieldError{{field.ErrorTypeTooLong, "mesh.clusterID"}},
		},
		"a cluster ID of MaxTokenLength": {edit: func(c *Config) { c.Mesh.ClusterID = long[1:] }},
		"a mesh ID with a space":         {edit: func(c *Config) { c.Mesh.MeshID = "my mesh" }, want: invalid("mesh.meshID")},
		"a mesh ID starting with a dash": {edit: func(c *Config) { c.Mesh.MeshID = "-mesh" }, want: invalid("mesh.meshID")},
		"a mesh ID with a newline":       {edit: func(c *Config) { c.Mesh.MeshID = "mesh\nX: y" }, want: invalid("mesh.meshID")},
		"a component log level with capitals": {
			edit: func(c *Config) { c.IstioProxy.ComponentLogLevel = "Misc:error" }, want: invalid("istioProxy.componentLogLevel"),
		},
		"several component log levels": {edit: func(c *Config) { c.IstioProxy.ComponentLogLevel = "misc:error,ext_authz:debug,http2:off" }},
		"a component log level too long": {
			edit: func(c *Config) {
				c.IstioProxy.ComponentLogLevel = strings.Repeat("misc:error,", MaxComponentLogLevelLength/11+1) + "misc:error"
			},
			want: []fieldError{{field.ErrorTypeTooLong, "istioProxy.componentLogLevel"}},
		},
		"an SDS secret name with a space": {
			edit: func(c *Config) { c.Backends.UpstreamSSLConfig.SDS.CertificatesSecretName = "istio cert" },
			want: invalid("backends.upstreamSslConfig.sds.certificatesSecretName"),
		},
		"an SDS cluster name too long": {
			edit: func(c *Config) { c.Backends.UpstreamSSLConfig.SDS.ClusterName = long },
			want: []fieldError{{field.ErrorTypeTooLong, "backends.upstreamSslConfig.sds.clusterName"}},
		},
		"an SDS target that is not host:port": {
			edit: func(c *Config) { c.Backends.UpstreamSSLConfig.SDS.TargetURI = "unix:///var/run/sds" },
			want: invalid("backends.upstreamSslConfig.sds.targetUri"),
		},
		"ALPN protocols with a slash": {edit: func(c *Config) { c.Backends.UpstreamSSLConfig.AlpnProtocols = []string{"istio", "http/1.1", "h2"} }},
		"an ALPN protocol with a space": {
			edit: func(c *Config) { c.Backends.UpstreamSSLConfig.AlpnProtocols = []string{"istio", "h 2"} },
			want: invalid("backends.upstreamSslConfig.alpnProtocols[1]"),
		},
		"too many ALPN protocols": {
			edit: func(c *Config) {
				c.Backends.UpstreamSSLConfig.AlpnProtocols = strings.Split(strings.Repeat("istio,", MaxListLength)+"h2", ",")
			},
			want: []fieldError{{field.ErrorTypeTooMany, "backends.upstreamSslConfig.alpnProtocols"}},
		},
		"too many gateway proxy selectors": {
			edit: func(c *Config) {
				for len(c.Selection.GatewayProxies) <= MaxListLength {
					c.Selection.GatewayProxies = append(c.Selection.GatewayProxies, DefaultGatewayProxies()[0])
				}
			},
			want: []fieldError{{field.ErrorTypeTooMany, "selection.gatewayProxies"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			if diff := cmp.Diff(tc.want, fieldErrors(c.Validate())); diff != "" {
				t.Errorf("errors (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestNewNamesTheImageField: a malformed reference stops startup with its
// field path.
func TestNewNamesTheImageField(t *testing.T) {
	_, err := New(Config{SDS: SDSConfig{KgatewayImage: "quay.io/solo-io/SDS:1.20"}})
	if err == nil || !strings.Contains(err.Error(), "sds.kgatewayImage") || !strings.Contains(err.Error(), "must be lowercase") {
		t.Errorf("error %v, want one naming sds.kgatewayImage and why", err)
	}
}
