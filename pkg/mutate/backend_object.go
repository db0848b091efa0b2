package mutate

import (
	"fmt"
	"maps"
	"reflect"
	"slices"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// The backend kinds gatemesh stamps mTLS onto. Other versions of these
// kinds are not stamped: their fields may differ.
var (
	// UpstreamGVK is Gloo's Upstream.
	UpstreamGVK = schema.GroupVersionKind{Group: "gloo.solo.io", Version: "v1", Kind: "Upstream"}
	// BackendGVK is kgateway's Backend.
	BackendGVK = schema.GroupVersionKind{Group: "gateway.kgateway.dev", Version: "v1alpha1", Kind: "Backend"}
)

// Stamps reports whether gvk is a backend kind gatemesh stamps.
func Stamps(gvk schema.GroupVersionKind) bool {
	return gvk == UpstreamGVK || gvk == BackendGVK
}

// BackendObject is a Gloo Upstream or kgateway Backend decoded for stamping.
// Parse it, resolve which of its Target's namespaces are in the mesh, then
// Patch it.
type BackendObject struct {
	raw      []byte
	obj      *unstructured.Unstructured
	gvk      schema.GroupVersionKind
	stamping stamping
	// What Parse read for Patch: the opt-out and the target.
	disable bool
	target  policy.Target
}

// ParseBackendObject decodes raw, the JSON of a Gloo Upstream or kgateway
// Backend, and reads its target. The error says what is malformed.
func ParseBackendObject(raw []byte, pol *policy.Policy) (*BackendObject, error) {
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("failed to decode object: %w", err)
	}
	b := &BackendObject{raw: raw, obj: obj, gvk: obj.GroupVersionKind()}
	switch b.gvk {
	case UpstreamGVK:
		b.stamping = upstreamStamping
	case BackendGVK:
		b.stamping = backendStamping
	default:
		return nil, fmt.Errorf("%s is not a kind gatemesh stamps", b.gvk)
	}
	// Read every field Patch will read, so that Patch fails only on
	// internal errors.
	var err error
	if b.disable, b.target, err = b.stamping.facts(obj, pol); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", b.gvk.Kind, err)
	}
	if _, err := lookupAnnotations(obj.Object); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", b.gvk.Kind, err)
	}
	return b, nil
}

// GroupVersionKind of the object.
func (b *BackendObject) GroupVersionKind() schema.GroupVersionKind { return b.gvk }

// Target is where the object points. The caller resolves which of its
// Namespaces are in the mesh.
func (b *BackendObject) Target() policy.Target { return b.target }

// Patch stamps the object as Upstream or Backend would and returns the JSON patch
// from the raw bytes it was parsed from, with the reason. The patch is
// empty when nothing changes. mesh holds the namespaces, among Target's,
// that are mesh-enabled. The patch is a diff against the raw bytes, so no
// field gatemesh does not change is touched, whatever its type or value.
func (b *BackendObject) Patch(pol *policy.Policy, mesh sets.Set[string]) ([]jsonpatch.Operation, policy.Reason, error) {
	facts := policy.BackendFacts{DisableIstioAutoMtls: b.disable, Target: b.target, Mesh: mesh}
	out, reason, err := stamp(b.obj, pol, facts, b.stamping.block(pol))
	if err != nil {
		return nil, "", fmt.Errorf("invalid %s: %w", b.gvk.Kind, err)
	}
	if out == b.obj {
		return nil, reason, nil
	}
	// The unstructured object is not the raw bytes: a number beyond int64,
	// say, decodes to a nearby float64. So the patch may only carry values
	// gatemesh wrote. diffObjects makes it so unless a list changed; then
	// the edits are replayed onto the raw JSON and diffed against it.
	if ops, ok := diffObjects(nil, "", b.obj.Object, out.Object); ok {
		return ops, reason, nil
	}
	ops, err := patchRaw(b.raw, b.obj.Object, out.Object)
	if err != nil {
		return nil, "", err
	}
	return ops, reason, nil
}

// diffObjects appends the patch from before to after, objects decoded from
// the same JSON at path, to ops. It descends into objects both have, and
// writes every other difference as the value after has there: a value
// gatemesh wrote, since after is before with gatemesh's edits. A list that
// differs is not descended into, and a value in it may have been the user's,
// so then it reports false. Keys go in sorted order, so the patch is stable.
func diffObjects(ops []jsonpatch.Operation, path string, before, after map[string]any) ([]jsonpatch.Operation, bool) {
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[k]; !ok {
			ops = append(ops, jsonpatch.NewOperation("remove", path+"/"+escapePointer(k), nil))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		p := path + "/" + escapePointer(k)
		a := after[k]
		b, inBefore := before[k]
		if !inBefore {
			ops = append(ops, jsonpatch.NewOperation("add", p, a))
			continue
		}
		bm, bIsMap := b.(map[string]any)
		am, aIsMap := a.(map[string]any)
		if bIsMap && aIsMap {
			var ok bool
			if ops, ok = diffObjects(ops, p, bm, am); !ok {
				return nil, false
			}
			continue
		}
		if reflect.DeepEqual(a, b) {
			continue
		}
		if _, isList := b.([]any); isList {
			return nil, false
		}
		ops = append(ops, jsonpatch.NewOperation("replace", p, a))
	}
	return ops, true
}

// offlineBackendPatch is Document's path for backend objects: without an
// API server, the target namespaces count as mesh-enabled unless off says
// otherwise through OfflineMesh.
func offlineBackendPatch(doc []byte, pol *policy.Policy, off Offline) ([]jsonpatch.Operation, policy.Reason, error) {
	b, err := ParseBackendObject(doc, pol)
	if err != nil {
		return nil, "", err
	}
	mesh := sets.New[string]()
	om, hasMesh := off.(OfflineMesh)
	for _, ns := range b.Target().Namespaces {
		if !hasMesh || om.InMesh(ns) {
			mesh.Insert(ns)
		}
	}
	return b.Patch(pol, mesh)
}

// readTarget reads where a backend object points: spec.kube (a service in
// kube.serviceNamespace, else in the object's namespace), the hostKey of
// every spec.static.hosts entry, or one of the spec fields in outside.
func readTarget(obj *unstructured.Unstructured, pol *policy.Policy, hostKey string, outside []string) (policy.Target, error) {
	if _, ok, err := lookupObject(obj.Object, "spec", "kube"); err != nil {
		return policy.Target{}, err
	} else if ok {
		ns, _, err := lookupString(obj.Object, "spec", "kube", "serviceNamespace")
		if err != nil {
			return policy.Target{}, err
		}
		return policy.ServicesTarget(orObjectNamespace(ns, obj)), nil
	}
	if _, ok, err := lookupObject(obj.Object, "spec", "static"); err != nil {
		return policy.Target{}, err
	} else if ok {
		hosts, err := lookupHosts(obj.Object, hostKey, "spec", "static", "hosts")
		if err != nil {
			return policy.Target{}, err
		}
		return pol.HostsTarget(hosts), nil
	}
	for _, f := range outside {
		if _, ok, err := lookup(obj.Object, "spec", f); err != nil {
			return policy.Target{}, err
		} else if ok {
			return policy.Target{Kind: policy.TargetOutside}, nil
		}
	}
	return policy.Target{Kind: policy.TargetUnknown}, nil
}

// orObjectNamespace returns ns, or when it is empty the namespace of obj, or
// default.
func orObjectNamespace(ns string, obj *unstructured.Unstructured) string {
	if ns != "" {
		return ns
	}
	if ns = obj.GetNamespace(); ns != "" {
		return ns
	}
	return "default"
}
