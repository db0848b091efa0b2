package mutate

import (
	"encoding/json"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// AdjustedAnnotation records what gatemesh changed in the istio-proxy that
// kgateway's deployer rendered into a pod (an adjusting plan): the
// container, and for each env var it changed the deployer's value and
// gatemesh's, so that the change can be explained and undone exactly.
const AdjustedAnnotation = "gatemesh.io/adjusted"

// The env vars of the deployer's istio-proxy that adjusting reads and sets.
const (
	disableEnvoyEnv = "DISABLE_ENVOY"
	caAddrEnv       = "CA_ADDR"
	proxyConfigEnv  = "PROXY_CONFIG"
	clusterIDEnv    = "ISTIO_META_CLUSTER_ID"
	meshIDEnv       = "ISTIO_META_MESH_ID"
)

// Adjusted is the value of the adjusted annotation, as JSON:
// {"container":"istio-proxy","env":{"CA_ADDR":{"from":"…","to":"…"}}}.
type Adjusted struct {
	// Container is the container whose env was changed: istio-proxy.
	Container string `json:"container"`
	// Env holds each env var changed, by name.
	Env map[string]EnvChange `json:"env"`
}

// EnvChange is one env var's value before and after gatemesh changed it.
// For PROXY_CONFIG both are the whole value, of which only discoveryAddress
// differs.
type EnvChange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ParseAdjusted reads the adjusted annotation from annotations. It returns
// false when the annotation is absent or not one gatemesh wrote.
func ParseAdjusted(annotations map[string]string) (Adjusted, bool) {
	raw, ok := annotations[AdjustedAnnotation]
	if !ok {
		return Adjusted{}, false
	}
	var a Adjusted
	if err := json.Unmarshal([]byte(raw), &a); err != nil || a.Container == "" || len(a.Env) == 0 {
		return Adjusted{}, false
	}
	return a, true
}

func (a Adjusted) String() string {
	b, err := json.Marshal(a) // map keys sorted: the same record, the same text
	if err != nil {
		panic("internal error: adjusted record does not marshal: " + err.Error())
	}
	return string(b)
}

// envEdit is one env value an adjusting plan changes: the index of the env
// var in the container's env, its name, and its value before and after.
type envEdit struct {
	index          int
	name, from, to string
}

// adjustments returns the edits, in env order, that give c (the deployer's
// istio-proxy) plan's CA address, discovery address (PROXY_CONFIG's
// discoveryAddress), cluster ID and mesh ID. Only values the deployer wrote
// change: an env var that is absent, set with valueFrom (the user's), or
// set more than once is left alone, as is a PROXY_CONFIG whose
// discoveryAddress cannot be replaced without touching the rest of it.
func adjustments(c *corev1.Container, plan policy.PodPlan) []envEdit {
	seen := map[string]int{}
	for _, e := range c.Env {
		seen[e.Name]++
	}
	var edits []envEdit
	for j, e := range c.Env {
		if seen[e.Name] != 1 || e.ValueFrom != nil {
			continue
		}
		to, ok := e.Value, false
		switch e.Name {
		case caAddrEnv:
			to, ok = caAddress(plan), true
		case clusterIDEnv:
			to, ok = plan.Sidecars.ClusterID, true
		case meshIDEnv:
			to, ok = plan.Sidecars.MeshID, true
		case proxyConfigEnv:
			to, ok = withDiscoveryAddress(e.Value, plan.DiscoveryAddress)
		}
		if ok && to != e.Value {
			edits = append(edits, envEdit{index: j, name: e.Name, from: e.Value, to: to})
		}
	}
	return edits
}

// adjustedRecord is the adjusted annotation after edits, given the pod's
// annotations before: a record gatemesh wrote earlier (on the pod template,
// say) keeps the deployer's values it holds, and an env var back at the
// deployer's value is dropped from it. It returns "" when nothing is left to
// record.
func adjustedRecord(annotations map[string]string, edits []envEdit) string {
	rec := Adjusted{Container: IstioProxyName, Env: map[string]EnvChange{}}
	if prior, ok := ParseAdjusted(annotations); ok && prior.Container == IstioProxyName {
		rec.Env = maps.Clone(prior.Env)
	}
	for _, e := range edits {
		from := e.from
		if prior, ok := rec.Env[e.name]; ok {
			from = prior.From
		}
		if from == e.to {
			delete(rec.Env, e.name)
			continue
		}
		rec.Env[e.name] = EnvChange{From: from, To: e.to}
	}
	if len(rec.Env) == 0 {
		return ""
	}
	return rec.String()
}

// adjustPod applies an adjusting plan to meta and spec, which the caller
// owns: the typed path. It returns ReasonAdjusted when that changed them,
// else ReasonAlreadyAdjusted, and then meta and spec are as they were.
func adjustPod(meta *metav1.ObjectMeta, spec *corev1.PodSpec, plan policy.PodPlan) policy.Reason {
	i := containerIndex(spec.Containers, IstioProxyName)
	if i < 0 {
		return policy.ReasonAlreadyAdjusted
	}
	edits := adjustments(&spec.Containers[i], plan)
	if len(edits) == 0 {
		return policy.ReasonAlreadyAdjusted
	}
	c := &spec.Containers[i]
	c.Env = slices.Clone(c.Env)
	for _, e := range edits {
		c.Env[e.index].Value = e.to
	}
	setAdjusted(meta, adjustedRecord(meta.Annotations, edits))
	return policy.ReasonAdjusted
}

// setAdjusted sets the adjusted annotation to rec, or removes it when rec
// is empty.
func setAdjusted(meta *metav1.ObjectMeta, rec string) {
	if rec != "" {
		ensureAnnotation(meta, AdjustedAnnotation, rec)
		return
	}
	delete(meta.Annotations, AdjustedAnnotation)
}
