package main

import (
	"encoding/json"
	"fmt"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// documentResult is the outcome for one document.
type documentResult struct {
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

// document mutates one JSON document the way the webhooks would admit it
// and returns the resulting JSON: the same decisions (pkg/policy) and the
// same patches (pkg/mutate), applied strictly as the API server applies
// them. Pods are injected; Deployments, DaemonSets and StatefulSets have
// their pod template injected; ConfigMaps holding an Envoy bootstrap get the
// SDS cluster; Gloo Upstreams and kgateway Backends are stamped (see
// offlineNamespaces.InMesh); any other kind is returned unchanged with an
// empty reason. Fields gatemesh does not know about are kept.
func document(doc []byte, pol *policy.Policy, off offlineNamespaces) ([]byte, documentResult, error) {
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
	if err := json.Unmarshal(doc, &head); err != nil {
		return nil, documentResult{}, fmt.Errorf("not a Kubernetes object: %w", mutate.DecodeError("", err))
	}
	if head.APIVersion == "" || head.Kind == "" {
		return nil, documentResult{}, fmt.Errorf("not a Kubernetes object: apiVersion and kind are required")
	}
	gv, err := schema.ParseGroupVersion(head.APIVersion)
	if err != nil {
		return nil, documentResult{}, fmt.Errorf("invalid apiVersion %q: %w", head.APIVersion, err)
	}
	nsName := head.Metadata.Namespace
	if nsName == "" {
		nsName = "default"
	}
	res := documentResult{GroupVersionKind: gv.WithKind(head.Kind), Namespace: nsName, Name: head.Metadata.Name}
	ns := off.Namespace(nsName)

	var ops []jsonpatch.Operation
	switch gk := res.GroupVersionKind.GroupKind(); {
	case gk == schema.GroupKind{Kind: "Pod"} && gv.Version == "v1":
		ops, res.Reason, err = podPatch(doc, pol, ns)
	case podTemplateKinds[gk] && gv.Version == "v1":
		if len(head.Spec.Template) == 0 {
			return nil, res, fmt.Errorf("%s %s has no spec.template", head.Kind, head.Metadata.Name)
		}
		ops, res.Reason, err = podPatch(head.Spec.Template, pol, ns)
		for i := range ops {
			ops[i].Path = "/spec/template" + ops[i].Path
		}
	case gk == schema.GroupKind{Kind: "ConfigMap"} && gv.Version == "v1":
		plan, _ := pol.DecideBootstrap(ns)
		ops, res.Reason, err = mutate.BootstrapPatch(doc, plan)
		if res.Reason == policy.ReasonNotBootstrap {
			return doc, documentResult{}, nil // not one gatemesh handles
		}
	case mutate.Stamps(res.GroupVersionKind):
		ops, res.Reason, err = backendPatch(doc, pol, off)
	default:
		return doc, res, nil
	}
	if err != nil {
		return nil, res, err
	}
	out, err := applyPatch(doc, ops)
	return out, res, err
}

// podPatch decides and patches a pod or pod template as the webhook does,
// in namespace ns.
func podPatch(raw []byte, pol *policy.Policy, ns policy.Namespace) ([]jsonpatch.Operation, policy.Reason, error) {
	head, err := mutate.DecodePodHead(raw)
	if err != nil {
		return nil, "", err
	}
	return mutate.PodPatch(raw, head, pol.DecidePod(head.Facts(), ns), nil)
}

// backendPatch decides and stamps a backend as the webhook does; without an
// API server, its target namespaces are in the mesh as off says.
func backendPatch(doc []byte, pol *policy.Policy, off offlineNamespaces) ([]jsonpatch.Operation, policy.Reason, error) {
	b, err := mutate.ParseBackendObject(doc)
	if err != nil {
		return nil, "", err
	}
	facts := b.Facts(pol)
	facts.TargetInMesh = true
	for _, ns := range facts.Target.Namespaces {
		if !off.InMesh(ns) {
			facts.TargetInMesh = false
			break
		}
	}
	return b.Patch(pol.DecideBackend(facts))
}

// applyPatch applies ops, a patch made against doc, to doc strictly, as the
// API server does (RFC 6902: a path that does not exist is an error).
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
