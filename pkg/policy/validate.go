package policy

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	proxyLogLevels = sets.New("trace", "debug", "info", "warning", "error", "critical", "off")
	sdsLogLevels   = sets.New("debug", "info", "warn", "error")
	flavours       = sets.New(FlavourGloo, FlavourKgateway)
)

// Validate reports every problem in a defaulted Config, each naming its field.
func (c *Config) Validate() field.ErrorList {
	var errs field.ErrorList
	if c.APIVersion != APIVersion {
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), c.APIVersion, []string{APIVersion}))
	}
	if c.Kind != Kind {
		errs = append(errs, field.NotSupported(field.NewPath("kind"), c.Kind, []string{Kind}))
	}
	errs = append(errs, c.Mesh.validate(field.NewPath("mesh"))...)
	errs = append(errs, c.IstioProxy.validate(field.NewPath("istioProxy"))...)
	errs = append(errs, c.SDS.validate(field.NewPath("sds"))...)
	errs = append(errs, c.Selection.validate(field.NewPath("selection"))...)
	errs = append(errs, c.Backends.validate(field.NewPath("backends"))...)
	return errs
}

func (m *MeshConfig) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m.DiscoveryAddress != "" {
		errs = append(errs, validateHostPort(p.Child("discoveryAddress"), m.DiscoveryAddress)...)
	}
	if m.CAAddress != "" {
		errs = append(errs, validateHostPort(p.Child("caAddress"), m.CAAddress)...)
	}
	for _, msg := range validation.IsDNS1123Label(m.IstiodNamespace) {
		errs = append(errs, field.Invalid(p.Child("istiodNamespace"), m.IstiodNamespace, msg))
	}
	errs = append(errs, validateLabelKey(p.Child("revisionLabel"), m.RevisionLabel)...)
	errs = append(errs, validateToken(p.Child("clusterID"), m.ClusterID)...)
	errs = append(errs, validateToken(p.Child("meshID"), m.MeshID)...)
	return errs
}

func (i *IstioProxyConfig) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateImage(p.Child("image"), i.Image)...)
	if !proxyLogLevels.Has(i.LogLevel) {
		errs = append(errs, field.NotSupported(p.Child("logLevel"), i.LogLevel, sets.List(proxyLogLevels)))
	}
	if len(i.ComponentLogLevel) > MaxComponentLogLevelLength {
		errs = append(errs, field.TooLong(p.Child("componentLogLevel"), "", MaxComponentLogLevelLength))
	}
	for _, part := range strings.Split(i.ComponentLogLevel, ",") {
		comp, level, ok := strings.Cut(part, ":")
		if !ok || !componentPattern.MatchString(comp) || !proxyLogLevels.Has(level) {
			errs = append(errs, field.Invalid(p.Child("componentLogLevel"), i.ComponentLogLevel,
				"must be component:level[,component:level] with level one of "+strings.Join(sets.List(proxyLogLevels), ", ")))
			break
		}
	}
	errs = append(errs, validateResources(p.Child("resources"), i.Resources)...)
	errs = append(errs, validateSecurityContext(p.Child("securityContext"), i.SecurityContext, i.AllowPrivileged)...)
	return errs
}

func (s *SDSConfig) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateImage(p.Child("glooImage"), s.GlooImage)...)
	errs = append(errs, validateImage(p.Child("kgatewayImage"), s.KgatewayImage)...)
	if !sdsLogLevels.Has(s.LogLevel) {
		errs = append(errs, field.NotSupported(p.Child("logLevel"), s.LogLevel, sets.List(sdsLogLevels)))
	}
	for _, msg := range validation.IsDNS1123Label(s.EnvoyConfigVolume) {
		errs = append(errs, field.Invalid(p.Child("envoyConfigVolume"), s.EnvoyConfigVolume, msg))
	}
	errs = append(errs, validateResources(p.Child("resources"), s.Resources)...)
	errs = append(errs, validateSecurityContext(p.Child("securityContext"), s.SecurityContext, s.AllowPrivileged)...)
	return errs
}

func (s *SelectionConfig) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateLabelKey(p.Child("namespaceLabel"), s.NamespaceLabel)...)
	errs = append(errs, validateLabelKey(p.Child("podOptOutLabel"), s.PodOptOutLabel)...)
	gp := p.Child("gatewayProxies")
	if len(s.GatewayProxies) == 0 {
		errs = append(errs, field.Required(gp, "at least one gateway proxy selector is needed"))
	}
	if len(s.GatewayProxies) > MaxListLength {
		errs = append(errs, field.TooMany(gp, len(s.GatewayProxies), MaxListLength))
	}
	for i, g := range s.GatewayProxies {
		ip := gp.Index(i)
		if !flavours.Has(g.Flavour) {
			errs = append(errs, field.NotSupported(ip.Child("flavour"), g.Flavour, sets.List(flavours)))
		}
		sp := ip.Child("selector")
		if len(g.Selector.MatchLabels) == 0 && len(g.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Required(sp, "an empty selector would match every pod"))
			continue
		}
		if _, err := metav1.LabelSelectorAsSelector(&g.Selector); err != nil {
			errs = append(errs, field.Invalid(sp, g.Selector.String(), err.Error()))
		}
	}
	return errs
}

func validateResources(p *field.Path, r corev1.ResourceRequirements) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedNames(r.Requests) {
		req := r.Requests[name]
		if req.Sign() < 0 {
			errs = append(errs, field.Invalid(p.Child("requests").Key(string(name)), req.String(), "must not be negative"))
		}
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(p.Child("requests").Key(string(name)), req.String(),
				"must be less than or equal to the limit "+lim.String()))
		}
	}
	for _, name := range sortedNames(r.Limits) {
		lim := r.Limits[name]
		if lim.Sign() < 0 {
			errs = append(errs, field.Invalid(p.Child("limits").Key(string(name)), lim.String(), "must not be negative"))
		}
	}
	return errs
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
