package policy

import (
	"encoding/json"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Namespace labels that put a namespace's pods in Istio's sidecar mesh, as
// Istio's injector reads them: istio-injection=enabled, or a revision label
// with istio-injection absent (istio-injection=disabled wins over a
// revision).
const (
	istioInjectionLabel    = "istio-injection"
	istioInjectionEnabled  = "enabled"
	istioInjectionDisabled = "disabled"
)

// MtlsMode is gatemesh's mTLS decision for one backend object. MtlsIstio and
// MtlsDisabled are also the values of the gatemesh.io/mtls annotation, both
// as a user's opt-in or opt-out and as gatemesh's stamp.
type MtlsMode string

const (
	// MtlsIstio: the gateway talks Istio mTLS to the target.
	MtlsIstio MtlsMode = "istio"
	// MtlsDisabled: the gateway must not use Istio mTLS to the target.
	MtlsDisabled MtlsMode = "disabled"
	// MtlsHandsOff: gatemesh does not decide for this object; it stamps
	// nothing and removes what it had stamped.
	MtlsHandsOff MtlsMode = ""
)

// TargetKind says what a backend object points at.
type TargetKind string

const (
	// TargetServices: Kubernetes services, named by a kube reference or by
	// in-cluster DNS names. Target.Namespaces lists their namespaces.
	TargetServices TargetKind = "services"
	// TargetHosts: static hosts, at least one of which is not an in-cluster
	// service name (an IP address or an outside DNS name). Such a host may
	// still be a mesh workload, a VM say, so an explicit opt-in is honoured.
	TargetHosts TargetKind = "hosts"
	// TargetOutside: services that are never in a mesh: AWS, GCP, Azure and
	// dynamic forward proxies.
	TargetOutside TargetKind = "outside"
	// TargetUnknown: gatemesh cannot tell where the object points.
	TargetUnknown TargetKind = "unknown"
	// TargetTooMany: more than MaxBackendTargets static hosts. gatemesh
	// reads no further and leaves the object alone.
	TargetTooMany TargetKind = "too_many"
	// TargetNotKgateway: a kgateway Backend with spec.kube, Gloo's Upstream
	// shape, which kgateway's Backend never had: the real CRD refuses it,
	// and kgateway would not route to it.
	TargetNotKgateway TargetKind = "not_kgateway_shape"
)

// MaxBackendTargets caps the static hosts gatemesh reads from one backend
// object, and so the target namespaces it looks up for it: 1,024, far above
// any real Upstream or Backend (a few hosts), so that one object cannot make
// gatemesh decode, or ask the API server about, thousands of names. An object
// with more is left alone, unchanged, with ReasonTooManyTargets.
const MaxBackendTargets = 1024

// Target is where a backend object sends traffic.
type Target struct {
	Kind TargetKind
	// Namespaces of the target services, sorted and without duplicates; set
	// only for TargetServices.
	Namespaces []string
}

// ServicesTarget is a target of services in namespaces.
func ServicesTarget(namespaces ...string) Target {
	ns := sets.List(sets.New(namespaces...))
	return Target{Kind: TargetServices, Namespaces: ns}
}

// HostsTarget is the target of static hosts: services when every host is an
// in-cluster service name, unknown when there are no hosts, too many beyond
// MaxBackendTargets, and outside hosts otherwise.
func (p *Policy) HostsTarget(hosts []string) Target {
	switch {
	case len(hosts) == 0:
		return Target{Kind: TargetUnknown}
	case len(hosts) > MaxBackendTargets:
		return Target{Kind: TargetTooMany}
	}
	var namespaces []string
	for _, h := range hosts {
		ns, ok := p.ServiceNamespace(h)
		if !ok {
			return Target{Kind: TargetHosts}
		}
		namespaces = append(namespaces, ns)
	}
	return ServicesTarget(namespaces...)
}

// ServiceNamespace returns the namespace of host when host is an in-cluster
// service name: <svc>.<ns>.svc or <svc>.<ns>.svc.<clusterDomain>, with or
// without a trailing dot, in any letter case. The short forms <svc> and
// <svc>.<ns> are not recognised: they resolve only through a pod's search
// path, and <svc>.<ns> cannot be told apart from an outside name such as
// httpbin.org, which stamping mTLS would break.
func (p *Policy) ServiceNamespace(host string) (string, bool) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	svc, rest, ok := strings.Cut(h, ".")
	if !ok {
		return "", false
	}
	ns, rest, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	domain := strings.ToLower(strings.TrimSuffix(p.cfg.Backends.ClusterDomain, "."))
	if rest != "svc" && rest != "svc."+domain {
		return "", false
	}
	if len(validation.IsDNS1123Label(svc)) > 0 || len(validation.IsDNS1123Label(ns)) > 0 {
		return "", false
	}
	return ns, true
}

// InMesh reports whether pods in ns get Istio sidecars: the namespace is
// labelled istio-injection=enabled, or carries the revision label
// (mesh.revisionLabel) without istio-injection.
func (p *Policy) InMesh(ns Namespace) bool {
	injection, set := ns.Labels[istioInjectionLabel]
	if set {
		return injection == istioInjectionEnabled
	}
	return ns.Labels[p.cfg.Mesh.RevisionLabel] != ""
}

// AutoMtls reports whether objects are stamped without opting in.
func (p *Policy) AutoMtls() bool {
	return p.cfg.Backends.AutoMtls == nil || *p.cfg.Backends.AutoMtls
}

// UpstreamSSLConfig returns the spec.sslConfig block stamped on Upstreams in
// the mesh, as JSON-shaped values, as an unstructured object holds them.
// Each call returns a new block.
func (p *Policy) UpstreamSSLConfig() map[string]any {
	u := p.cfg.Backends.UpstreamSSLConfig
	block := map[string]any{
		"sds": map[string]any{
			"targetUri":              u.SDS.TargetURI,
			"certificatesSecretName": u.SDS.CertificatesSecretName,
			"validationContextName":  u.SDS.ValidationContextName,
			"clusterName":            u.SDS.ClusterName,
		},
	}
	if len(u.AlpnProtocols) > 0 {
		alpn := make([]any, len(u.AlpnProtocols))
		for i, a := range u.AlpnProtocols {
			alpn[i] = a
		}
		block["alpnProtocols"] = alpn
	}
	return block
}

// BackendKind is a kind of backend object gatemesh stamps. The kind decides
// where gatemesh keeps its decision in the object, and so what the plan's
// block is.
type BackendKind string

const (
	// KindUpstream is Gloo's Upstream (gloo.solo.io/v1): gatemesh ensures
	// spec.sslConfig in the mesh.
	KindUpstream BackendKind = "Upstream"
	// KindBackend is kgateway's Backend (gateway.kgateway.dev/v1alpha1):
	// gatemesh ensures the annotation kgateway.dev/disable-istio-auto-mtls:
	// "true" when kgateway will send it plaintext: always, for the kinds of
	// Backend kgateway v2.2.0 has (see docs/kgateway.md).
	KindBackend BackendKind = "Backend"
)

// BlockState says whose the block gatemesh keeps its decision in is: an
// Upstream's spec.sslConfig, a Backend's kgateway annotation.
type BlockState string

const (
	// BlockAbsent: no block, where gatemesh stamped none or the user
	// deleted the one it stamped.
	BlockAbsent BlockState = "absent"
	// BlockOurs: the block, present or absent, is exactly as gatemesh
	// stamped it, so gatemesh may change or remove it.
	BlockOurs BlockState = "ours"
	// BlockEdited: gatemesh stamped a block that has changed since; it is
	// the user's now.
	BlockEdited BlockState = "edited"
	// BlockUser: a block gatemesh never stamped.
	BlockUser BlockState = "user"
)

// BackendFacts is what the decision for one backend object knows about it.
type BackendFacts struct {
	// Kind of the object.
	Kind BackendKind
	// UserMtls is the user's gatemesh.io/mtls annotation. It is empty when
	// the annotation is absent or holds gatemesh's own stamp.
	UserMtls string
	// DisableIstioAutoMtls is the object's spec.disableIstioAutoMtls.
	DisableIstioAutoMtls bool
	// Target is where the object sends traffic.
	Target Target
	// TargetInMesh: every namespace in Target.Namespaces is mesh-enabled, as
	// the caller resolved them (with InMesh, or offline). Read only for a
	// TargetServices target.
	TargetInMesh bool
	// Stamped: the object carries gatemesh's marker, the
	// gatemesh.io/mtls-hash annotation, so gatemesh has stamped it before.
	Stamped bool
	// Block is whose the block is.
	Block BlockState
	// Static: the target is the object's spec.static hosts. kgateway sends
	// a static Backend's endpoints plaintext whatever its Istio settings:
	// they carry no security.istio.io/tlsMode=istio, the metadata its
	// Istio transport socket match needs.
	Static bool
	// UserBlockInvalid: the block is the user's kgateway annotation and its
	// value is not one strconv.ParseBool accepts, so kgateway reports the
	// Backend in error.
	UserBlockInvalid bool
}

// BackendAction is what gatemesh does to a backend object.
type BackendAction string

const (
	// BackendLeave: change nothing.
	BackendLeave BackendAction = "leave"
	// BackendStamp: ensure the plan's block and gatemesh's annotations.
	BackendStamp BackendAction = "stamp"
	// BackendUnstamp: remove exactly what gatemesh stamped.
	BackendUnstamp BackendAction = "unstamp"
)

// BackendPlan is the decision for one backend object.
type BackendPlan struct {
	// Action is what to do.
	Action BackendAction
	// Mode is the mTLS decision; for BackendStamp, the value of
	// gatemesh.io/mtls.
	Mode MtlsMode
	// Reason is why: for BackendStamp the decision's reason, written to
	// gatemesh.io/mtls-reason; for BackendLeave why the object is left
	// alone; for BackendUnstamp why gatemesh no longer decides.
	Reason Reason
	// Block is the JSON of the block that BackendStamp ensures, nil for
	// none: the Upstream's sslConfig in the mesh, the Backend's kgateway
	// annotation value "true" for MtlsDisabled. Its hash goes into
	// gatemesh's marker.
	Block []byte
}

// DecideBackend decides what gatemesh does to a backend object, once. In
// order: an object with too many targets is left alone; an edited stamp is
// the user's and left alone; when gatemesh does not decide for the object
// (see mtlsDecision) it removes what it stamped, if anything; a block
// gatemesh never stamped is left alone; otherwise gatemesh stamps the
// decision.
func (p *Policy) DecideBackend(f BackendFacts) BackendPlan {
	if f.Target.Kind == TargetTooMany {
		return BackendPlan{Action: BackendLeave, Reason: ReasonTooManyTargets}
	}
	mode, why := p.mtlsDecision(f)
	switch {
	case f.Block == BlockEdited:
		return BackendPlan{Action: BackendLeave, Mode: mode, Reason: ReasonStampEdited}
	case mode == MtlsHandsOff && !f.Stamped:
		return BackendPlan{Action: BackendLeave, Mode: mode, Reason: why}
	case mode == MtlsHandsOff:
		return BackendPlan{Action: BackendUnstamp, Mode: mode, Reason: why}
	case f.Block == BlockUser && f.Kind == KindUpstream:
		return BackendPlan{Action: BackendLeave, Mode: mode, Reason: ReasonUserTLS}
	case f.Block == BlockUser && f.UserBlockInvalid:
		return BackendPlan{Action: BackendLeave, Mode: mode, Reason: ReasonUserAnnotationInvalid}
	case f.Block == BlockUser:
		return BackendPlan{Action: BackendLeave, Mode: mode, Reason: ReasonUserAnnotation}
	}
	return BackendPlan{Action: BackendStamp, Mode: mode, Reason: why, Block: p.block(f.Kind, mode)}
}

// block is the JSON of the block a kind carries for mode, nil for none.
func (p *Policy) block(kind BackendKind, mode MtlsMode) []byte {
	switch {
	case kind == KindUpstream && mode == MtlsIstio:
		// encoding/json writes map keys sorted: the block's hash is stable.
		b, err := json.Marshal(p.UpstreamSSLConfig())
		if err != nil {
			panic("internal error: failed to encode sslConfig: " + err.Error())
		}
		return b
	case kind == KindBackend && mode == MtlsDisabled:
		return []byte(`"true"`)
	}
	return nil
}

// mtlsDecision decides whether a backend object gets Istio mTLS, and why.
// In order:
//   - with autoMtls off, only objects opting in with gatemesh.io/mtls: istio
//     are decided; the others are left alone;
//   - spec.disableIstioAutoMtls: true and gatemesh.io/mtls: disabled opt out;
//   - a target gatemesh cannot read is left alone, and so is a Backend in
//     Gloo's shape (spec.kube); AWS, GCP, Azure and dynamic forward proxy
//     targets are never in the mesh;
//   - kgateway sends a static Backend plaintext, so one whose hosts are mesh
//     services, or that opts in, is decided disabled with a reason saying
//     so (route to the Service instead);
//   - gatemesh.io/mtls: istio asserts that service and static host targets
//     are in the mesh, overriding gatemesh's guess;
//   - otherwise static hosts that are not in-cluster service names, and
//     services in namespaces that are not mesh-enabled, are outside the mesh.
func (p *Policy) mtlsDecision(f BackendFacts) (MtlsMode, Reason) {
	optIn := f.UserMtls == string(MtlsIstio)
	switch {
	case !p.AutoMtls() && !optIn:
		return MtlsHandsOff, ReasonAutoMtlsOff
	case f.DisableIstioAutoMtls:
		return MtlsDisabled, ReasonDisableIstioAutoMtls
	case f.UserMtls == string(MtlsDisabled):
		return MtlsDisabled, ReasonOptedOut
	case f.Target.Kind == TargetOutside:
		return MtlsDisabled, ReasonTargetExternal
	case f.Target.Kind == TargetNotKgateway:
		return MtlsHandsOff, ReasonNotKgatewayShape
	case f.Target.Kind != TargetServices && f.Target.Kind != TargetHosts:
		return MtlsHandsOff, ReasonTargetUnknown
	case f.Kind == KindBackend && f.Static && (optIn || f.Target.Kind == TargetServices && f.TargetInMesh):
		return MtlsDisabled, ReasonStaticBackendPlaintext
	case optIn:
		return MtlsIstio, ReasonOptedIn
	case f.Target.Kind == TargetHosts:
		return MtlsDisabled, ReasonTargetExternal
	case len(f.Target.Namespaces) == 0:
		return MtlsHandsOff, ReasonTargetUnknown
	case !f.TargetInMesh:
		return MtlsDisabled, ReasonTargetNamespaceNotInMesh
	default:
		return MtlsIstio, ReasonTargetInMesh
	}
}
