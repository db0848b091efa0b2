package policy

import (
	"fmt"

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
	// sidecars is what every pod plan of this policy shares.
	sidecars SidecarSettings
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
	// The settings are copies, so nothing the caller keeps of cfg can
	// change them.
	p.sidecars = SidecarSettings{
		ClusterID:         cfg.Mesh.ClusterID,
		MeshID:            cfg.Mesh.MeshID,
		ProxyImage:        cfg.IstioProxy.Image,
		ProxyLogLevel:     cfg.IstioProxy.LogLevel,
		ComponentLogLevel: cfg.IstioProxy.ComponentLogLevel,
		ProxyResources:    *cfg.IstioProxy.Resources.DeepCopy(),
		ProxySecurity:     cfg.IstioProxy.SecurityContext.DeepCopy(),
		SDSLogLevel:       cfg.SDS.LogLevel,
		SDSResources:      *cfg.SDS.Resources.DeepCopy(),
		SDSSecurity:       cfg.SDS.SecurityContext.DeepCopy(),
		EnvoyConfigVolume: cfg.SDS.EnvoyConfigVolume,
	}
	return p, nil
}

// Config returns the defaulted configuration the policy was built from.
func (p *Policy) Config() Config { return p.cfg }

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

// CAAddress is the certificate authority's address for gateways in ns: the
// configured mesh.caAddress when set, else DiscoveryAddress(ns).
func (p *Policy) CAAddress(ns Namespace) string {
	if a := p.cfg.Mesh.CAAddress; a != "" {
		return a
	}
	return p.DiscoveryAddress(ns)
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

// NamespaceEnabled reports whether ns opted in to gatemesh: its pods are
// injected and its gateways' bootstraps carry the SDS cluster.
func (p *Policy) NamespaceEnabled(ns Namespace) bool {
	return ns.Labels[p.cfg.Selection.NamespaceLabel] == namespaceEnabledValue
}
