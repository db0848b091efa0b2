// Package policy holds gatemesh's configuration: its documented defaults,
// strict loading, validation, and the per-object decision of whether to
// mutate and with which resolved values.
package policy

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Config is the policy file gatemesh reads at startup (--config). Every field
// is optional; SetDefaults fills what is left empty, and the comment on each
// field states that default. Unknown fields are rejected when the file is
// loaded, so a typo fails startup instead of being silently ignored.
type Config struct {
	// APIVersion, when set, must be gatemesh.io/v1alpha1.
	APIVersion string `json:"apiVersion"`
	// Kind, when set, must be Config.
	Kind string `json:"kind"`

	// Mesh describes the Istio control plane the gateway joins.
	Mesh MeshConfig `json:"mesh"`
	// IstioProxy is the Istio agent container injected into gateway pods.
	IstioProxy IstioProxyConfig `json:"istioProxy"`
	// SDS is the container that serves the mesh certificates to the
	// gateway's Envoy.
	SDS SDSConfig `json:"sds"`
	// Selection decides which namespaces and pods gatemesh touches.
	Selection SelectionConfig `json:"selection"`
	// Backends decides how Istio mTLS is stamped onto gateway backend
	// objects: Gloo Upstreams and kgateway Backends. Default: autoMtls on,
	// with the sslConfig that glooctl istio enable-mtls writes.
	Backends BackendConfig `json:"backends"`
}

// MeshConfig describes the Istio control plane.
type MeshConfig struct {
	// DiscoveryAddress is istiod's address as host:port. When empty (the
	// default) it is derived per namespace: istiod-<rev>.<istiodNamespace>.svc:15012
	// when the namespace carries the revision label, and
	// istiod.<istiodNamespace>.svc:15012 otherwise. Setting it pins every
	// gateway to one istiod whatever its namespace's revision.
	DiscoveryAddress string `json:"discoveryAddress"`
	// CAAddress is the certificate authority's address as host:port, sent
	// as CA_ADDR. When empty (the default) it is the discovery address, as
	// in Gloo's chart: istiod signs the mesh certificates. Set it when
	// another CA does, such as istio-csr (cert-manager) or an external CA.
	CAAddress string `json:"caAddress"`
	// IstiodNamespace is where istiod runs. Default: istio-system.
	IstiodNamespace string `json:"istiodNamespace"`
	// RevisionLabel is the namespace label naming an Istio revision.
	// Default: istio.io/rev.
	RevisionLabel string `json:"revisionLabel"`
	// ClusterID is sent as ISTIO_META_CLUSTER_ID. Default: Kubernetes, which
	// is also istiod's default cluster name.
	ClusterID string `json:"clusterID"`
	// MeshID is sent as ISTIO_META_MESH_ID. Default: cluster.local, Istio's
	// default mesh ID (its trust domain).
	MeshID string `json:"meshID"`
}

// IstioProxyConfig is the injected Istio agent. It runs with
// DISABLE_ENVOY=true: it only fetches and rotates the mesh certificates.
type IstioProxyConfig struct {
	// Image is the istio/proxyv2 image. Default: DefaultIstioProxyImage.
	// Set it to the tag of your istiod.
	Image string `json:"image"`
	// LogLevel is --proxyLogLevel: trace, debug, info, warning, error,
	// critical or off. Default: warning.
	LogLevel string `json:"logLevel"`
	// ComponentLogLevel is --proxyComponentLogLevel, as
	// component:level[,component:level]. Default: misc:error.
	ComponentLogLevel string `json:"componentLogLevel"`
	// Resources of the container. Default: requests cpu 100m, memory 128Mi;
	// limits cpu 2, memory 1Gi (Istio's sidecar defaults). Setting any
	// request or limit replaces the whole default.
	Resources corev1.ResourceRequirements `json:"resources"`
	// SecurityContext of the container. Default: user and group 1337 (the
	// Istio proxy user), non-root, read-only root filesystem, no privilege
	// escalation, all capabilities dropped.
	SecurityContext *corev1.SecurityContext `json:"securityContext"`
	// AllowPrivileged allows a SecurityContext that runs the container
	// privileged, with allowPrivilegeEscalation, as root (runAsUser 0 or
	// runAsNonRoot false) or with added capabilities. Default: false, and
	// such a securityContext is refused at startup.
	AllowPrivileged bool `json:"allowPrivileged"`
}

// SDSConfig is the injected sds container, which serves the certificates the
// Istio agent writes to the gateway's Envoy on port 8234.
type SDSConfig struct {
	// GlooImage is used for Gloo Gateway pods. Default: DefaultGlooSDSImage.
	GlooImage string `json:"glooImage"`
	// KgatewayImage is used for kgateway pods. Default: DefaultKgatewaySDSImage.
	KgatewayImage string `json:"kgatewayImage"`
	// LogLevel is the LOG_LEVEL env: debug, info, warn or error. Default: info.
	LogLevel string `json:"logLevel"`
	// EnvoyConfigVolume is the pod volume holding the gateway's Envoy
	// bootstrap; sds mounts it at /etc/envoy when the pod has it.
	// Default: envoy-config (the name both Gloo and kgateway use).
	EnvoyConfigVolume string `json:"envoyConfigVolume"`
	// Resources of the container. Default: requests cpu 10m, memory 32Mi;
	// limits cpu 500m, memory 128Mi. Setting any request or limit replaces
	// the whole default.
	Resources corev1.ResourceRequirements `json:"resources"`
	// SecurityContext of the container. Default: non-root (user 10101),
	// read-only root filesystem, no privilege escalation, all capabilities
	// dropped.
	SecurityContext *corev1.SecurityContext `json:"securityContext"`
	// AllowPrivileged is istioProxy.allowPrivileged for the sds container.
	// Default: false.
	AllowPrivileged bool `json:"allowPrivileged"`
}

// SelectionConfig decides which namespaces and pods are injected.
type SelectionConfig struct {
	// NamespaceLabel opts a namespace in when set to "enabled".
	// Default: gatemesh.io/injection.
	NamespaceLabel string `json:"namespaceLabel"`
	// PodOptOutLabel opts a pod out when set to "false".
	// Default: gatemesh.io/inject.
	PodOptOutLabel string `json:"podOptOutLabel"`
	// GatewayProxies selects gateway proxy pods by their labels. The first
	// entry that matches decides the pod's flavour, which picks the sds
	// image. Default: DefaultGatewayProxies.
	GatewayProxies []GatewayProxySelector `json:"gatewayProxies"`
	// AdjustKgatewaySidecars: when kgateway's own Istio integration has
	// already given a kgateway pod istio-proxy and sds (its deployer's,
	// with DISABLE_ENVOY=true), gatemesh adjusts that istio-proxy's
	// discovery address, CA address, cluster ID and mesh ID to the policy's
	// at pod creation, recording the deployer's values in the pod's
	// gatemesh.io/adjusted annotation (docs/kgateway.md). False leaves such
	// pods alone (istio_proxy_exists), for users who set those values per
	// Gateway with a GatewayParameters. Default: true; it is a pointer so
	// that leaving it out of the file means true.
	AdjustKgatewaySidecars *bool `json:"adjustKgatewaySidecars"`
}

// Flavour is the gateway implementation a proxy pod belongs to.
type Flavour string

const (
	// FlavourGloo is Gloo Gateway (Gloo Edge proxies and Gloo's kube-gateway).
	FlavourGloo Flavour = "gloo"
	// FlavourKgateway is kgateway.
	FlavourKgateway Flavour = "kgateway"
)

// GatewayProxySelector matches gateway proxy pods of one flavour.
type GatewayProxySelector struct {
	// Flavour is gloo or kgateway.
	Flavour Flavour `json:"flavour"`
	// Selector is a label selector on the pod. It must not be empty: an empty
	// selector would match every pod in an opted-in namespace.
	Selector metav1.LabelSelector `json:"selector"`
}
