package mutate

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// sidecarSet is what injection adds for one plan: the two containers, the
// volumes, and the status annotation that records them.
type sidecarSet struct {
	istioProxy, sds corev1.Container
	volumes         []corev1.Volume
	// status records everything injection adds; statusKept is the same
	// without the sidecar.istio.io/inject annotation, for a pod that
	// already carried it (see statusFor).
	status, statusKept string
	// encoded holds each container's and volume's JSON by name when a
	// SidecarCache built the set; it is nil otherwise.
	encoded map[string]jsontext.Value
	// appends, built with encoded, are the operations that append the
	// containers and volumes to a pod that has none of them, in order.
	appends []jsonpatch.Operation
}

func buildSidecars(plan policy.PodPlan) *sidecarSet {
	vols := volumes()
	status := Status{
		Version:     statusVersion,
		Containers:  []string{IstioProxyName, SDSName},
		Annotations: []string{IstioInjectAnnotation},
		Volumes:     make([]string, 0, len(vols)),
	}
	for _, v := range vols {
		status.Volumes = append(status.Volumes, v.Name)
	}
	set := &sidecarSet{
		istioProxy: istioProxyContainer(plan),
		sds:        sdsContainer(plan),
		volumes:    vols,
		status:     status.String(),
	}
	status.Annotations = []string{}
	set.statusKept = status.String()
	return set
}

// statusFor is the status annotation for a pod whose annotations, before
// injection, are annotations: it lists sidecar.istio.io/inject only when
// gatemesh sets it, so that undoing the injection never removes a user's
// own "false". A status gatemesh wrote earlier decides for a pod it
// injected, so a second injection changes nothing.
func (s *sidecarSet) statusFor(annotations map[string]string) string {
	if v, ok := annotations[IstioInjectAnnotation]; !ok || v != "false" {
		return s.status
	}
	if prior, ok := ParseStatus(annotations); ok && slices.Contains(prior.Annotations, IstioInjectAnnotation) {
		return s.status
	}
	return s.statusKept
}

// encode fills in the set's JSON.
func (s *sidecarSet) encode() error {
	enc := make(map[string]jsontext.Value, 2+len(s.volumes))
	put := func(name string, v any) error {
		b, err := json.Marshal(v)
		enc[name] = b
		return err
	}
	if err := put(IstioProxyName, &s.istioProxy); err != nil {
		return err
	}
	if err := put(SDSName, &s.sds); err != nil {
		return err
	}
	for i := range s.volumes {
		if err := put(s.volumes[i].Name, &s.volumes[i]); err != nil {
			return err
		}
	}
	s.encoded = enc
	s.appends = []jsonpatch.Operation{
		jsonpatch.NewOperation("add", "/spec/containers/-", enc[IstioProxyName]),
		jsonpatch.NewOperation("add", "/spec/containers/-", enc[SDSName]),
	}
	for i := range s.volumes {
		s.appends = append(s.appends, jsonpatch.NewOperation("add", "/spec/volumes/-", enc[s.volumes[i].Name]))
	}
	return nil
}

// A SidecarCache remembers the sidecars built for each plan, and their JSON,
// so that injecting a pod neither builds nor encodes its two containers
// again: encoding them was a third of an admission. Results are the same
// with or without a cache; it only keeps what would be built anyway. A pod
// finds its entry by its plan, a comparable value that is equal for two
// pods exactly when their sidecars are.
//
// Plans are few (one per flavour, istiod revision and config volume), and
// the cache holds at most maxCachedSidecars of them: when full it is
// emptied, so namespaces labelled with ever new revisions cannot grow it.
// The zero value is ready to use; it is safe for concurrent use.
type SidecarCache struct {
	mu      sync.Mutex
	entries map[policy.PodPlan]*sidecarSet
}

const maxCachedSidecars = 64

// sidecars returns the set for plan, an injecting plan; c may be nil. The
// set is shared: callers must not modify it.
func (c *SidecarCache) sidecars(plan policy.PodPlan) *sidecarSet {
	if c == nil {
		return buildSidecars(plan)
	}
	c.mu.Lock()
	set, ok := c.entries[plan]
	c.mu.Unlock()
	if ok {
		return set
	}
	set = buildSidecars(plan)
	if err := set.encode(); err != nil {
		// Not reachable for these types; without its JSON the set is
		// still right, only encoded again by the caller.
		set.encoded = nil
		return set
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxCachedSidecars {
		c.entries = make(map[policy.PodPlan]*sidecarSet)
	}
	c.entries[plan] = set
	c.mu.Unlock()
	return set
}

// json returns the JSON of the set's container or volume called name, if
// the set has it; s may be nil. The JSON is shared: it must only be read.
func (s *sidecarSet) json(name string) (jsontext.Value, bool) {
	if s == nil {
		return nil, false
	}
	js, ok := s.encoded[name]
	return js, ok
}

// known returns the cached container or volume (a *corev1.Container or
// *corev1.Volume) called name whose JSON is raw, or nil: on reinvocation, a
// pod's sidecars are usually byte for byte what gatemesh wrote, and need
// neither decoding nor a deep comparison. c may be nil. The element is
// shared: callers must not modify it.
func (c *SidecarCache) known(name string, raw []byte) any {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, set := range c.entries {
		if js, ok := set.encoded[name]; ok && bytes.Equal(js, raw) {
			return set.element(name)
		}
	}
	return nil
}

// element returns the set's container or volume called name, or nil.
func (s *sidecarSet) element(name string) any {
	switch name {
	case IstioProxyName:
		return &s.istioProxy
	case SDSName:
		return &s.sds
	}
	for i := range s.volumes {
		if s.volumes[i].Name == name {
			return &s.volumes[i]
		}
	}
	return nil
}
