package mutate

import (
	"encoding/json"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// BackendObject is a Gloo Upstream or kgateway Backend read for stamping.
// One review goes: ParseBackendObject; Facts; the caller resolves whether
// the target's namespaces are in the mesh; policy.DecideBackend; Patch.
type BackendObject struct {
	raw  []byte
	gvk  schema.GroupVersionKind
	kind *backendKind
	view *backendView
	// hosts are the static hosts' addresses, when the spec has static.
	hosts []string

	// annotations are the object's, nil when it has none (absent or null).
	annotations map[string]string
	// block is the JSON of the block gatemesh keeps its decision in, nil
	// when absent: a slice of raw, or an encoded annotation value.
	block []byte
	// marker is gatemesh's marker, when hasMarker.
	marker    marker
	hasMarker bool
	// ownsMtls: gatemesh.io/mtls holds the value gatemesh wrote there.
	ownsMtls bool
	// state says whose the block is.
	state policy.BlockState
}

// ParseBackendObject reads raw, the JSON of a Gloo Upstream or kgateway
// Backend, for stamping: only the fields stamping needs are decoded. A
// malformed object is reported as an *InputError.
func ParseBackendObject(raw []byte) (*BackendObject, error) {
	v, err := decodeBackendView(raw)
	if err != nil {
		return nil, err
	}
	b := &BackendObject{raw: raw, view: v, gvk: schema.FromAPIVersionAndKind(v.APIVersion, v.Kind)}
	switch b.gvk {
	case UpstreamGVK:
		b.kind = &upstreamKind
	case BackendGVK:
		b.kind = &kgatewayKind
	default:
		return nil, inputErrorf("", "apiVersion %q and kind %q are not a kind gatemesh stamps", v.APIVersion, v.Kind)
	}
	if err := b.readHosts(); err != nil {
		return nil, err
	}
	if v.Metadata != nil && v.Metadata.Annotations != nil {
		b.annotations = *v.Metadata.Annotations
	}
	switch {
	case b.kind.blockAnnotation != "":
		if s, ok := b.annotations[b.kind.blockAnnotation]; ok {
			if b.block, err = json.Marshal(s); err != nil {
				return nil, fmt.Errorf("internal error: failed to encode annotation: %w", err)
			}
		}
	case v.Spec != nil && v.Spec.SSLConfig.present():
		b.block = raw[v.Spec.SSLConfig.start:v.Spec.SSLConfig.end]
	}
	b.marker, b.hasMarker = parseMarker(b.annotations[MtlsHashAnnotation])
	current, hasCurrent := b.annotations[MtlsAnnotation]
	b.ownsMtls = b.hasMarker && b.marker.mtls != "" && hasCurrent && current == b.marker.mtls
	switch {
	case b.hasMarker && b.marker.hash == blockHash(b.block):
		b.state = policy.BlockOurs
	case b.block == nil:
		b.state = policy.BlockAbsent
	case b.hasMarker && b.marker.hash != blockHash(nil):
		b.state = policy.BlockEdited
	default:
		b.state = policy.BlockUser
	}
	return b, nil
}

// readHosts reads the static hosts' addresses with the kind's key.
func (b *BackendObject) readHosts() error {
	s := b.view.Spec
	if s == nil || s.Static == nil {
		return nil
	}
	b.hosts = make([]string, 0, len(s.Static.Hosts))
	for i, h := range s.Static.Hosts {
		addr, kind := b.kind.host(h)
		if kind != 0 {
			return inputErrorf(fmt.Sprintf("/spec/static/hosts/%d/%s", i, b.kind.hostKey), "must be a string, not %s", kindName(kind))
		}
		b.hosts = append(b.hosts, addr)
	}
	return nil
}

// GroupVersionKind of the object.
func (b *BackendObject) GroupVersionKind() schema.GroupVersionKind { return b.gvk }

// Facts returns what the decision needs to know about the object, all but
// TargetInMesh, which the caller resolves for a TargetServices target. pol
// tells which static hosts are in-cluster service names.
func (b *BackendObject) Facts(pol *policy.Policy) policy.BackendFacts {
	f := policy.BackendFacts{Kind: b.kind.policy, Target: b.target(pol), Stamped: b.hasMarker}
	if s := b.view.Spec; s != nil {
		f.DisableIstioAutoMtls = s.DisableIstioAutoMtls
		f.Static = s.Static != nil && (s.Kube == nil || !b.kind.kube)
	}
	if !b.ownsMtls {
		f.UserMtls = b.annotations[MtlsAnnotation]
	}
	f.Block = b.state
	if b.state == policy.BlockUser && b.kind.blockAnnotation != "" {
		_, err := strconv.ParseBool(b.annotations[b.kind.blockAnnotation])
		f.UserBlockInvalid = err != nil
	}
	return f
}

// target is where the object points: spec.kube for an Upstream (a service
// in kube.serviceNamespace, else in the object's namespace), its static
// hosts, or one of the kind's outside types. A Backend with none of these
// but spec.kube is in Gloo's shape.
func (b *BackendObject) target(pol *policy.Policy) policy.Target {
	s := b.view.Spec
	switch {
	case s == nil:
		return policy.Target{Kind: policy.TargetUnknown}
	case s.Kube != nil && b.kind.kube:
		ns := s.Kube.ServiceNamespace
		if ns == "" && b.view.Metadata != nil {
			ns = b.view.Metadata.Namespace
		}
		if ns == "" {
			ns = "default"
		}
		return policy.ServicesTarget(ns)
	case s.Static != nil && s.Static.Count > policy.MaxBackendTargets:
		return policy.Target{Kind: policy.TargetTooMany}
	case s.Static != nil:
		return pol.HostsTarget(b.hosts)
	}
	for _, t := range b.kind.outside {
		for _, have := range s.Outside {
			if t == have {
				return policy.Target{Kind: policy.TargetOutside}
			}
		}
	}
	if s.Kube != nil {
		return policy.Target{Kind: policy.TargetNotKgateway}
	}
	return policy.Target{Kind: policy.TargetUnknown}
}
