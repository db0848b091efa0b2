package policy

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// Backend defaults. The sslConfig values are exactly what
// `glooctl istio enable-mtls --upstream X` writes: they name the secrets that
// the sds sidecar serves to the gateway's Envoy on 127.0.0.1:8234.
const (
	DefaultClusterDomain          = "cluster.local"
	DefaultUpstreamALPN           = "istio"
	DefaultSDSTargetURI           = "127.0.0.1:8234"
	DefaultCertificatesSecretName = "istio_server_cert"
	DefaultValidationContextName  = "istio_validation_context"
	DefaultSDSClusterName         = "gateway_proxy_sds"
)

// BackendConfig decides how gatemesh stamps Istio mTLS onto gateway backend
// objects: Gloo Upstreams (gloo.solo.io/v1) and kgateway Backends
// (gateway.kgateway.dev/v1alpha1).
type BackendConfig struct {
	// AutoMtls stamps every backend object that does not opt out when true.
	// When false, gatemesh stamps only objects that opt in with the
	// annotation gatemesh.io/mtls: istio: the manual mode, equivalent to
	// running glooctl istio enable-mtls on each of them. Default: true; it is
	// a pointer so that leaving it out of the file means true.
	AutoMtls *bool `json:"autoMtls"`
	// ClusterDomain is the cluster's DNS domain. A static host counts as an
	// in-cluster service only when it is <svc>.<ns>.svc or
	// <svc>.<ns>.svc.<clusterDomain>. Default: cluster.local.
	ClusterDomain string `json:"clusterDomain"`
	// UpstreamSSLConfig is the spec.sslConfig gatemesh ensures on Gloo
	// Upstreams whose target is in the mesh. Default: what glooctl istio
	// enable-mtls writes.
	UpstreamSSLConfig UpstreamSSLConfig `json:"upstreamSslConfig"`
}

// UpstreamSSLConfig is the part of Gloo's UpstreamSslConfig gatemesh writes.
type UpstreamSSLConfig struct {
	// AlpnProtocols offered to the target's sidecar. Default: [istio], the
	// protocol Istio sidecars expect from mTLS peers. An explicit empty list
	// writes no alpnProtocols.
	AlpnProtocols []string `json:"alpnProtocols"`
	// SDS names where Envoy fetches the mesh certificates.
	SDS UpstreamSDSConfig `json:"sds"`
}

// UpstreamSDSConfig is Gloo's SDSConfig as gatemesh writes it.
type UpstreamSDSConfig struct {
	// TargetURI is the sds sidecar's address as host:port.
	// Default: 127.0.0.1:8234.
	TargetURI string `json:"targetUri"`
	// CertificatesSecretName is the SDS secret with the workload certificate.
	// Default: istio_server_cert.
	CertificatesSecretName string `json:"certificatesSecretName"`
	// ValidationContextName is the SDS secret with the mesh root
	// certificate. Default: istio_validation_context.
	ValidationContextName string `json:"validationContextName"`
	// ClusterName is the Envoy cluster that reaches the sds sidecar.
	// Default: gateway_proxy_sds.
	ClusterName string `json:"clusterName"`
}

func setBackendDefaults(b *BackendConfig) {
	if b.AutoMtls == nil {
		b.AutoMtls = ptr.To(true)
	}
	setString(&b.ClusterDomain, DefaultClusterDomain)
	u := &b.UpstreamSSLConfig
	if u.AlpnProtocols == nil {
		u.AlpnProtocols = []string{DefaultUpstreamALPN}
	}
	setString(&u.SDS.TargetURI, DefaultSDSTargetURI)
	setString(&u.SDS.CertificatesSecretName, DefaultCertificatesSecretName)
	setString(&u.SDS.ValidationContextName, DefaultValidationContextName)
	setString(&u.SDS.ClusterName, DefaultSDSClusterName)
}

func (b *BackendConfig) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if b.AutoMtls == nil {
		errs = append(errs, field.Required(p.Child("autoMtls"), "internal error: not defaulted"))
	}
	d := strings.TrimSuffix(b.ClusterDomain, ".")
	for _, msg := range validation.IsDNS1123Subdomain(d) {
		errs = append(errs, field.Invalid(p.Child("clusterDomain"), b.ClusterDomain, msg))
	}
	u := p.Child("upstreamSslConfig")
	alpn := u.Child("alpnProtocols")
	if n := len(b.UpstreamSSLConfig.AlpnProtocols); n > MaxListLength {
		errs = append(errs, field.TooMany(alpn, n, MaxListLength))
	}
	for i, a := range b.UpstreamSSLConfig.AlpnProtocols {
		errs = append(errs, validateALPN(alpn.Index(i), a)...)
	}
	s := u.Child("sds")
	sds := b.UpstreamSSLConfig.SDS
	errs = append(errs, validateHostPort(s.Child("targetUri"), sds.TargetURI)...)
	errs = append(errs, validateToken(s.Child("certificatesSecretName"), sds.CertificatesSecretName)...)
	errs = append(errs, validateToken(s.Child("validationContextName"), sds.ValidationContextName)...)
	errs = append(errs, validateToken(s.Child("clusterName"), sds.ClusterName)...)
	return errs
}
