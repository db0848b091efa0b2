package policy

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Names of the containers gatemesh injects into gateway proxy pods.
const (
	// IstioProxyContainer is the Istio agent, which fetches and rotates the
	// mesh certificate.
	IstioProxyContainer = "istio-proxy"
	// SDSContainer serves that certificate to the gateway's Envoy.
	SDSContainer = "sds"
)

// InjectedVolumes names the pod volumes gatemesh adds, in the order it adds
// them. It is an array, so callers get their own copy.
func InjectedVolumes() [7]string {
	return [7]string{"istio-certs", "istiod-ca-cert", "istio-envoy", "istio-token",
		"credential-socket", "workload-socket", "workload-certs"}
}

// PodFacts is what the pod decision reads from a pod or pod template.
type PodFacts struct {
	// Labels of the pod.
	Labels map[string]string
	// Containers and Volumes name the pod's containers and volumes.
	Containers, Volumes []string
	// OwnedContainers and OwnedVolumes name those that gatemesh's status
	// annotation claims as gatemesh's own.
	OwnedContainers, OwnedVolumes []string
	// DeployerSidecars: the pod's istio-proxy and sds are those kgateway's
	// deployer renders when its Istio integration is on: the first
	// istio-proxy container runs the agent alone (its last DISABLE_ENVOY
	// env var is "true"), an sds container is present, and gatemesh's status
	// annotation claims neither.
	DeployerSidecars bool
}

// PodPlan is the decision for one pod: whether to inject it, or to adjust
// the sidecars kgateway's deployer gave it, and with what. It is a
// comparable value: two plans of one Policy are equal exactly when they
// inject (or adjust) the same way, so a plan is its own cache key.
type PodPlan struct {
	// Skip is why the pod is left alone; empty when the plan injects or
	// adjusts.
	Skip Reason
	// Adjust: the pod already carries kgateway's deployer's istio-proxy and
	// sds; rather than injecting, set that istio-proxy's discovery address,
	// CA address, cluster ID and mesh ID to DiscoveryAddress, CAAddress and
	// Sidecars' ClusterID and MeshID. Flavour is kgateway; SDSImage and
	// MountEnvoyConfig are unused.
	Adjust bool
	// Flavour picks the sds image.
	Flavour Flavour
	// SDSImage is the sds image for the flavour.
	SDSImage string
	// DiscoveryAddress is istiod's address for the pod's namespace.
	DiscoveryAddress string
	// CAAddress is the certificate authority's address, CA_ADDR: the
	// policy's mesh.caAddress, else DiscoveryAddress. Empty means
	// DiscoveryAddress too, for plans built by hand.
	CAAddress string
	// MountEnvoyConfig: the pod has the Envoy config volume, which sds
	// mounts at /etc/envoy.
	MountEnvoyConfig bool
	// Sidecars holds the settings every plan of the Policy shares. It
	// belongs to the Policy and must not be modified.
	Sidecars *SidecarSettings
}

// Inject reports whether the plan injects the pod.
func (p PodPlan) Inject() bool { return p.Skip == "" && !p.Adjust }

// SidecarSettings are the policy's settings for the injected containers,
// the same for every pod.
type SidecarSettings struct {
	ClusterID, MeshID                            string
	ProxyImage, ProxyLogLevel, ComponentLogLevel string
	ProxyResources                               corev1.ResourceRequirements
	ProxySecurity                                *corev1.SecurityContext
	SDSLogLevel                                  string
	SDSResources                                 corev1.ResourceRequirements
	SDSSecurity                                  *corev1.SecurityContext
	EnvoyConfigVolume                            string
}

// DecidePod decides whether gatemesh injects a pod with facts f in ns, and
// with what. In order, the pod is skipped when its namespace has not opted
// in, when it opts out, and when no gateway proxy selector matches it; a
// kgateway pod that carries its deployer's sidecars is adjusted (unless
// selection.adjustKgatewaySidecars is false); and a pod is skipped when it
// already has a container or volume named like one gatemesh adds that
// gatemesh's status annotation does not claim (Istio's own sidecar, say).
func (p *Policy) DecidePod(f PodFacts, ns Namespace) PodPlan {
	sel := p.cfg.Selection
	if !p.NamespaceEnabled(ns) {
		return PodPlan{Skip: ReasonNamespaceNotEnabled}
	}
	if f.Labels[sel.PodOptOutLabel] == podOptOutValue {
		return PodPlan{Skip: ReasonPodOptedOut}
	}
	flavour, ok := p.flavour(f.Labels)
	if !ok {
		return PodPlan{Skip: ReasonNotGatewayProxy}
	}
	if flavour == FlavourKgateway && f.DeployerSidecars && p.AdjustKgatewaySidecars() {
		return PodPlan{
			Adjust:           true,
			Flavour:          flavour,
			DiscoveryAddress: p.DiscoveryAddress(ns),
			CAAddress:        p.CAAddress(ns),
			Sidecars:         &p.sidecars,
		}
	}
	if foreign(f.Containers, f.OwnedContainers, IstioProxyContainer) {
		return PodPlan{Skip: ReasonIstioProxyExists}
	}
	if foreign(f.Containers, f.OwnedContainers, SDSContainer) {
		return PodPlan{Skip: ReasonSDSExists}
	}
	vols := InjectedVolumes()
	if foreign(f.Volumes, f.OwnedVolumes, vols[:]...) {
		return PodPlan{Skip: ReasonVolumeConflict}
	}
	sdsImage := p.cfg.SDS.GlooImage
	if flavour == FlavourKgateway {
		sdsImage = p.cfg.SDS.KgatewayImage
	}
	return PodPlan{
		Flavour:          flavour,
		SDSImage:         sdsImage,
		DiscoveryAddress: p.DiscoveryAddress(ns),
		CAAddress:        p.CAAddress(ns),
		MountEnvoyConfig: slices.Contains(f.Volumes, p.cfg.SDS.EnvoyConfigVolume),
		Sidecars:         &p.sidecars,
	}
}

// foreign reports whether names holds one of ours that owned does not claim.
func foreign(names, owned []string, ours ...string) bool {
	for _, n := range names {
		if slices.Contains(ours, n) && !slices.Contains(owned, n) {
			return true
		}
	}
	return false
}

// AdjustKgatewaySidecars reports whether the istio-proxy kgateway's deployer
// renders is adjusted to the policy's values (selection.adjustKgatewaySidecars).
func (p *Policy) AdjustKgatewaySidecars() bool {
	a := p.cfg.Selection.AdjustKgatewaySidecars
	return a == nil || *a
}
