package policy

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Defaults. The images are the versions gatemesh is tested against; set them
// to match the istiod and gateway you run.
const (
	// APIVersion is the only accepted apiVersion of a Config file.
	APIVersion = "gatemesh.io/v1alpha1"
	// Kind is the only accepted kind of a Config file.
	Kind = "Config"

	DefaultIstioProxyImage         = "docker.io/istio/proxyv2:1.28.0"
	DefaultGlooSDSImage            = "quay.io/solo-io/sds:1.20.0"
	DefaultKgatewaySDSImage        = "cr.kgateway.dev/kgateway-dev/sds:v2.1.0"
	DefaultIstiodNamespace         = "istio-system"
	DefaultRevisionLabel           = "istio.io/rev"
	DefaultClusterID               = "Kubernetes"
	DefaultMeshID                  = "cluster.local"
	DefaultProxyLogLevel           = "warning"
	DefaultComponentLogLevel       = "misc:error"
	DefaultSDSLogLevel             = "info"
	DefaultEnvoyConfigVolume       = "envoy-config"
	DefaultNamespaceLabel          = "gatemesh.io/injection"
	DefaultPodOptOutLabel          = "gatemesh.io/inject"
	istiodPort                     = "15012"
	namespaceEnabledValue          = "enabled"
	podOptOutValue                 = "false"
	istioProxyUID            int64 = 1337
	sdsUID                   int64 = 10101
)

// DefaultGatewayProxies is the default gateway proxy selection: Gloo's
// gateway-proxy and kube-gateway pods, kgateway's proxies, and any other pod
// labelled with the Gateway API gateway name (treated as kgateway).
func DefaultGatewayProxies() []GatewayProxySelector {
	return []GatewayProxySelector{
		{Flavour: FlavourGloo, Selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "gloo", Operator: metav1.LabelSelectorOpIn, Values: []string{"gateway-proxy", "kube-gateway"}},
		}}},
		{Flavour: FlavourKgateway, Selector: metav1.LabelSelector{MatchLabels: map[string]string{"kgateway": "kube-gateway"}}},
		{Flavour: FlavourKgateway, Selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "gateway.networking.k8s.io/gateway-name", Operator: metav1.LabelSelectorOpExists},
		}}},
	}
}

// Default returns a Config with every default filled in.
func Default() Config {
	var c Config
	SetDefaults(&c)
	return c
}

// SetDefaults fills every empty field of c with its documented default.
func SetDefaults(c *Config) {
	setString(&c.APIVersion, APIVersion)
	setString(&c.Kind, Kind)

	setString(&c.Mesh.IstiodNamespace, DefaultIstiodNamespace)
	setString(&c.Mesh.RevisionLabel, DefaultRevisionLabel)
	setString(&c.Mesh.ClusterID, DefaultClusterID)
	setString(&c.Mesh.MeshID, DefaultMeshID)

	p := &c.IstioProxy
	setString(&p.Image, DefaultIstioProxyImage)
	setString(&p.LogLevel, DefaultProxyLogLevel)
	setString(&p.ComponentLogLevel, DefaultComponentLogLevel)
	if len(p.Resources.Requests) == 0 && len(p.Resources.Limits) == 0 {
		p.Resources = resources("100m", "128Mi", "2", "1Gi")
	}
	if p.SecurityContext == nil {
		p.SecurityContext = restricted(istioProxyUID)
		p.SecurityContext.RunAsGroup = ptr.To(istioProxyUID)
	}

	s := &c.SDS
	setString(&s.GlooImage, DefaultGlooSDSImage)
	setString(&s.KgatewayImage, DefaultKgatewaySDSImage)
	setString(&s.LogLevel, DefaultSDSLogLevel)
	setString(&s.EnvoyConfigVolume, DefaultEnvoyConfigVolume)
	if len(s.Resources.Requests) == 0 && len(s.Resources.Limits) == 0 {
		s.Resources = resources("10m", "32Mi", "500m", "128Mi")
	}
	if s.SecurityContext == nil {
		s.SecurityContext = restricted(sdsUID)
	}

	setString(&c.Selection.NamespaceLabel, DefaultNamespaceLabel)
	setString(&c.Selection.PodOptOutLabel, DefaultPodOptOutLabel)
	if c.Selection.GatewayProxies == nil {
		c.Selection.GatewayProxies = DefaultGatewayProxies()
	}
	setBackendDefaults(&c.Backends)
}

func setString(field *string, def string) {
	if *field == "" {
		*field = def
	}
}

func resources(cpuReq, memReq, cpuLim, memLim string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpuReq),
			corev1.ResourceMemory: resource.MustParse(memReq),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpuLim),
			corev1.ResourceMemory: resource.MustParse(memLim),
		},
	}
}

func restricted(uid int64) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsUser:                ptr.To(uid),
		RunAsNonRoot:             ptr.To(true),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Privileged:               ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}
