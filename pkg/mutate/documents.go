package mutate

import (
	"encoding/json"
	"fmt"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Offline tells Documents what an API server would otherwise: the labels of
// each namespace. Namespace returns the namespace named name.
type Offline interface {
	Namespace(name string) policy.Namespace
}

// OfflineMesh is implemented by an Offline that knows which namespaces are
// in the Istio mesh. InMesh reports whether namespace name is mesh-enabled.
// When the Offline given to Document does not implement it, the namespace of
// every in-cluster backend target counts as mesh-enabled.
type OfflineMesh interface {
	InMesh(name string) bool
}

// DocumentResult is the outcome for one document.
type DocumentResult struct {
	// Index of the document in the input, from 0.
	Index int
	// GroupVersionKind of the document.
	GroupVersionKind schema.GroupVersionKind
	// Namespace and Name of the object; for a workload, of the workload.
	Namespace, Name string
	// Reason for the outcome; empty when gatemesh does not handle the kind.
	Reason policy.Reason
}

var podTemplateKinds = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}:  true,
	{Group: "apps", Kind: "DaemonSet"}:   true,
	{Group: "apps", Kind: "StatefulSet"}: true,
}

// Document mutates one JSON document the way the webhook would admit it and
// returns the resulting JSON. Pods are injected; Deployments, DaemonSets and
// StatefulSets have their pod template injected; Gloo Upstreams and kgateway
// Backends are stamped with their mTLS decision (see OfflineMesh); any other
// kind is returned unchanged with an empty reason. Fields gatemesh does not
// know about are kept.
func Document(doc []byte, pol *policy.Policy, off Offline) ([]byte, DocumentResult, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			Template json.RawMessage `json:"template"`
		} `json:"spec"`
	}
	if err := decodeStrictCase(doc, &head); err != nil {
		return nil, DocumentResult{}, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if head.APIVersion == "" || head.Kind == "" {
		return nil, DocumentResult{}, fmt.Errorf("not a Kubernetes object: apiVersion and kind are required")
	}
	gv, err := schema.ParseGroupVersion(head.APIVersion)
	if err != nil {
		return nil, DocumentResult{}, fmt.Errorf("invalid apiVersion %q: %w", head.APIVersion, err)
	}
	nsName := head.Metadata.Namespace
	if nsName == "" {
		nsName = "default"
	}
	res := DocumentResult{GroupVersionKind: gv.WithKind(head.Kind), Namespace: nsName, Name: head.Metadata.Name}
	ns := off.Namespace(nsName)

	var ops []jsonpatch.Operation
	switch gk := res.GroupVersionKind.GroupKind(); {
	case gk == schema.GroupKind{Kind: "Pod"} && gv.Version == "v1":
		ops, res.Reason, err = offlinePodPatch(doc, pol, ns)
	case podTemplateKinds[gk] && gv.Version == "v1":
		if len(head.Spec.Template) == 0 {
			return nil, res, fmt.Errorf("%s %s has no spec.template", head.Kind, head.Metadata.Name)
		}
		ops, res.Reason, err = offlinePodPatch(head.Spec.Template, pol, ns)
		ops = prefix(ops, "/spec/template")
	case Stamps(res.GroupVersionKind):
		ops, res.Reason, err = offlineBackendPatch(doc, pol, off)
	default:
		return doc, res, nil
	}
	if err != nil {
		return nil, res, err
	}
	out, err := applyPatch(doc, ops)
	return out, res, err
}

// offlinePodPatch decides and patches a pod or pod template as the webhook
// does, in namespace ns.
func offlinePodPatch(raw []byte, pol *policy.Policy, ns policy.Namespace) ([]jsonpatch.Operation, policy.Reason, error) {
	head, err := DecodePodHead(raw)
	if err != nil {
		return nil, "", err
	}
	return PodPatch(raw, head, pol.DecidePod(head.Facts(), ns), nil)
}

// applyPatch applies ops, a patch made against doc, to doc strictly, as
// the API server does (RFC 6902: a path that does not exist is an error).
func applyPatch(doc []byte, ops []jsonpatch.Operation) ([]byte, error) {
	if len(ops) == 0 {
		return doc, nil
	}
	encoded, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to encode patch: %w", err)
	}
	patch, err := jsonpatch5.DecodePatch(encoded)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to decode patch: %w", err)
	}
	out, err := patch.Apply(doc)
	if err != nil {
		return nil, fmt.Errorf("internal error: patch does not apply: %w", err)
	}
	return out, nil
}
