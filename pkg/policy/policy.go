package policy

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Namespace is what gatemesh knows about the namespace an object lives in.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Policy is a validated Config, compiled for per-object decisions. It is
// immutable and safe for concurrent use.
type Policy struct {
	cfg       Config
	selectors []compiledSelector
}

type compiledSelector struct {
	flavour  Flavour
	selector labels.Selector
}

// New defaults, validates and compiles cfg. The error lists every invalid
// field.
func New(cfg Config) (*Policy, error) {
	SetDefaults(&cfg)
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("invalid policy: %w", errs.ToAggregate())
	}
	p := &Policy{cfg: cfg}
	for _, g := range cfg.Selection.GatewayProxies {
		sel, err := metav1.LabelSelectorAsSelector(&g.Selector)
		if err != nil {
			return nil, fmt.Errorf("internal error: validated selector does not compile: %w", err)
		}
		p.selectors = append(p.selectors, compiledSelector{flavour: g.Flavour, selector: sel})
	}
	return p, nil
}

// Config returns the defaulted configuration the policy was built from.
func (p *Policy) Config() Config { return p.cfg }

// PodPlan holds every value injected into one pod, resolved for its
// namespace.
type PodPlan struct {
	Flavour           Flavour
	DiscoveryAddress  string
	ClusterID         string
	MeshID            string
	ProxyImage        string
	ProxyLogLevel     string
	ComponentLogLevel string
	ProxyResources    corev1.ResourceRequirements
	ProxySecurity     *corev1.SecurityContext
	SDSImage          string
	SDSLogLevel       string
	SDSResources      corev1.ResourceRequirements
	SDSSecurity       *corev1.SecurityContext
	EnvoyConfigVolume string
}

// Key identifies the plan among the plans of the Policy that resolved it:
// two plans of one Policy have equal keys exactly when they are equal, so a
// caller may keep what it builds from a plan by key. Everything in a plan
// but its flavour and istiod address comes from the Policy's configuration;
// a field added to PodPlan that varies from pod to pod must join the key
// (TestPodPlanKey checks this).
func (p *PodPlan) Key() string { return planKey(p.Flavour, p.DiscoveryAddress) }

func planKey(f Flavour, discoveryAddress string) string {
	return string(f) + "\x00" + discoveryAddress
}

// PodPlanKey decides as PodPlan does, and returns the key of the plan that
// PodPlan would return without building it, or "" and the reason the pod is
// skipped.
func (p *Policy) PodPlanKey(podLabels map[string]string, ns Namespace) (string, Reason) {
	flavour, skip := p.decide(podLabels, ns)
	if skip != "" {
		return "", skip
	}
	return planKey(flavour, p.DiscoveryAddress(ns)), ""
}

// EnvoyConfigVolume is the name of the gateway pod's volume that holds
// Envoy's bootstrap config, which sds mounts when the pod has it.
func (p *Policy) EnvoyConfigVolume() string { return p.cfg.SDS.EnvoyConfigVolume }

// decide returns the flavour of a gateway proxy pod that gatemesh injects,
// or the reason it is skipped.
func (p *Policy) decide(podLabels map[string]string, ns Namespace) (Flavour, Reason) {
	sel := p.cfg.Selection
	if ns.Labels[sel.NamespaceLabel] != namespaceEnabledValue {
		return "", ReasonNamespaceNotEnabled
	}
	if podLabels[sel.PodOptOutLabel] == podOptOutValue {
		return "", ReasonPodOptedOut
	}
	flavour, ok := p.flavour(podLabels)
	if !ok {
		return "", ReasonNotGatewayProxy
	}
	return flavour, ""
}

// PodPlan decides whether a pod with podLabels in ns is a gateway proxy that
// gatemesh injects. It returns the resolved plan, or nil and the reason it is
// skipped. The returned plan shares no memory with the policy.
func (p *Policy) PodPlan(podLabels map[string]string, ns Namespace) (*PodPlan, Reason) {
	flavour, skip := p.decide(podLabels, ns)
	if skip != "" {
		return nil, skip
	}
	sdsImage := p.cfg.SDS.GlooImage
	if flavour == FlavourKgateway {
		sdsImage = p.cfg.SDS.KgatewayImage
	}
	return &PodPlan{
		Flavour:           flavour,
		DiscoveryAddress:  p.DiscoveryAddress(ns),
		ClusterID:         p.cfg.Mesh.ClusterID,
		MeshID:            p.cfg.Mesh.MeshID,
		ProxyImage:        p.cfg.IstioProxy.Image,
		ProxyLogLevel:     p.cfg.IstioProxy.LogLevel,
		ComponentLogLevel: p.cfg.IstioProxy.ComponentLogLevel,
		ProxyResources:    *p.cfg.IstioProxy.Resources.DeepCopy(),
		ProxySecurity:     p.cfg.IstioProxy.SecurityContext.DeepCopy(),
		SDSImage:          sdsImage,
		SDSLogLevel:       p.cfg.SDS.LogLevel,
		SDSResources:      *p.cfg.SDS.Resources.DeepCopy(),
		SDSSecurity:       p.cfg.SDS.SecurityContext.DeepCopy(),
		EnvoyConfigVolume: p.cfg.SDS.EnvoyConfigVolume,
	}, ""
}

// DiscoveryAddress is istiod's address for gateways in ns: the configured
// address when set, else the revision's istiod service, else istiod's.
func (p *Policy) DiscoveryAddress(ns Namespace) string {
	m := p.cfg.Mesh
	if m.DiscoveryAddress != "" {
		return m.DiscoveryAddress
	}
	svc := "istiod"
	if rev := ns.Labels[m.RevisionLabel]; rev != "" && rev != "default" {
		svc += "-" + rev
	}
	return svc + "." + m.IstiodNamespace + ".svc:" + istiodPort
}

func (p *Policy) flavour(podLabels map[string]string) (Flavour, bool) {
	set := labels.Set(podLabels)
	for _, s := range p.selectors {
		if s.selector.Matches(set) {
			return s.flavour, true
		}
	}
	return "", false
}

// NamespaceLabels returns the labels that opt a namespace in, for callers
// that assume the opt-in, such as the offline mutate command.
func (p *Policy) NamespaceLabels() map[string]string {
	return map[string]string{p.cfg.Selection.NamespaceLabel: namespaceEnabledValue}
}
