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

	DefaultIstioProxyImage = "docker.io/istio/proxyv2:1.28.0"
	// DefaultGlooSDSImage is Gloo's sds 1.20.22: releases before 1.20.14
	// (1.21.4, 1.22.0) reload between writing the key and the certificate,
	// so during a rotation they serve a key that does not match its
	// certificate. test/mesh runs this release against the real agent.
	DefaultGlooSDSImage = "quay.io/solo-io/sds:1.20.22"
	// DefaultKgatewaySDSImage is the same server for kgateway pods:
	// kgateway v2.2.0's own sds (the newest on the module proxy) has that
	// defect (test/mesh saw 5 of 19 pushes mismatched over 8 rotations);
	// Gloo's reads the same files, serves the same secrets on the same port
	// and runs as the same user, which test/mesh proves on a kgateway pod.
	DefaultKgatewaySDSImage = "quay.io/solo-io/sds:1.20.22"

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

// Pod labels the default gateway proxy selectors read.
const (
	glooLabel             = "gloo"
	kgatewayLabel         = "kgateway"
	gatewayNameLabel      = "gateway.networking.k8s.io/gateway-name"
	gatewayClassNameLabel = "gateway.networking.k8s.io/gateway-class-name"
)

// DefaultGatewayProxies is the default gateway proxy selection, derived from
// the pods the gateways render, first match wins:
//   - gloo: Gloo's gateway-proxy pods (gloo: gateway-proxy, Gloo 1.17's
//     chart), and kube-gateway pods that carry gloo: kube-gateway (later
//     Gloo charts add it to the pod through their GatewayParameters);
//   - kgateway: kgateway's Envoy proxies, which its deployer labels
//     kgateway: kube-gateway (every Envoy golden of kgateway v2.2.0's
//     deployer). Its agentgateway pods do not carry that label;
//   - gloo: Gloo 1.17's kube-gateway pods, which carry gloo: kube-gateway
//     only on their Deployment: a pod with the Gateway API gateway-name
//     label but neither gateway-class-name (kgateway's deployer sets it on
//     agentgateway and Envoy pods alike) nor kgateway.
//
// Other Gateway API implementations' pods are not matched when they carry
// the gateway-class-name label, as Istio's and kgateway's do; those that
// carry gateway-name alone are, and a pod with its own istio-proxy (Istio's
// gateways) is then skipped as istio_proxy_exists.
func DefaultGatewayProxies() []GatewayProxySelector {
	return []GatewayProxySelector{
		{Flavour: FlavourGloo, Selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: glooLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{"gateway-proxy", "kube-gateway"}},
		}}},
		{Flavour: FlavourKgateway, Selector: metav1.LabelSelector{MatchLabels: map[string]string{kgatewayLabel: "kube-gateway"}}},
		{Flavour: FlavourGloo, Selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: gatewayNameLabel, Operator: metav1.LabelSelectorOpExists},
			{Key: gatewayClassNameLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
			{Key: kgatewayLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
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
	if c.Selection.AdjustKgatewaySidecars == nil {
		c.Selection.AdjustKgatewaySidecars = ptr.To(true)
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
