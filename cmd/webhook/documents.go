package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// documentResult is the outcome for one object.
type documentResult struct {
	// Index of the document in the input, from 0, and the line it starts
	// on.
	Index, Line int
	// Item of a List, from 1; 0 when the document is not a List.
	Item int
	// GroupVersionKind of the object.
	GroupVersionKind schema.GroupVersionKind
	// Namespace and Name of the object; for a workload, of the workload.
	Namespace, Name string
	// Reason for the outcome; empty when gatemesh does not handle the kind.
	Reason policy.Reason
	// Why says why, when the reason alone does not: for a backend, the
	// decision behind stamped, unstamped or already_stamped.
	Why string
}

// templatePaths says where each workload kind holds its pod template.
var templatePaths = map[schema.GroupVersionKind][]string{
	{Group: "apps", Version: "v1", Kind: "Deployment"}:           {"spec", "template"},
	{Group: "apps", Version: "v1", Kind: "DaemonSet"}:            {"spec", "template"},
	{Group: "apps", Version: "v1", Kind: "StatefulSet"}:          {"spec", "template"},
	{Group: "apps", Version: "v1", Kind: "ReplicaSet"}:           {"spec", "template"},
	{Group: "batch", Version: "v1", Kind: "Job"}:                 {"spec", "template"},
	{Group: "batch", Version: "v1", Kind: "CronJob"}:             {"spec", "jobTemplate", "spec", "template"},
	{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"}: {"spec", "template"},
}

// objectHead is what every document must have.
type objectHead struct {
	gvk             schema.GroupVersionKind
	namespace, name string
}

// readHead reads apiVersion, kind and metadata's name and namespace from
// the JSON object doc; the namespace defaults to "default".
func readHead(doc []byte) (objectHead, error) {
	var top struct {
		APIVersion, Kind json.RawMessage
		Metadata         map[string]json.RawMessage
	}
	if err := json.Unmarshal(doc, &top); err != nil {
		return objectHead{}, &mutate.InputError{Field: "/metadata", Problem: "must be a mapping"}
	}
	var h objectHead
	var apiVersion string
	for _, f := range []struct {
		ptr string
		raw json.RawMessage
		to  *string
	}{
		{"/apiVersion", top.APIVersion, &apiVersion}, {"/kind", top.Kind, &h.gvk.Kind},
		{"/metadata/name", top.Metadata["name"], &h.name}, {"/metadata/namespace", top.Metadata["namespace"], &h.namespace},
	} {
		if f.raw != nil && json.Unmarshal(f.raw, f.to) != nil {
			return objectHead{}, &mutate.InputError{Field: f.ptr, Problem: "must be a string"}
		}
	}
	if apiVersion == "" || h.gvk.Kind == "" {
		return objectHead{}, fmt.Errorf("not a Kubernetes object: apiVersion and kind are required")
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return objectHead{}, &mutate.InputError{Field: "/apiVersion", Problem: fmt.Sprintf("%q is not group/version", apiVersion)}
	}
	h.gvk.Group, h.gvk.Version = gv.Group, gv.Version
	if h.namespace == "" {
		h.namespace = "default"
	}
	return h, nil
}

// member returns the JSON at path in the object doc, nil when absent.
func member(doc []byte, path []string) (json.RawMessage, error) {
	cur := json.RawMessage(doc)
	for i, name := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			return nil, &mutate.InputError{Field: "/" + strings.Join(path[:i], "/"), Problem: "must be a mapping"}
		}
		if cur = m[name]; cur == nil {
			return nil, nil
		}
	}
	return cur, nil
}

// document mutates one JSON object the way the webhooks would admit it
// and returns the resulting JSON: the same decisions (pkg/policy) and the
// same patches (pkg/mutate), applied strictly as the API server applies
// them. Pods are injected; workloads (templatePaths) have their pod
// template injected; ConfigMaps holding an Envoy bootstrap get the SDS
// cluster; Gloo Upstreams and kgateway Backends are stamped (see
// offlineNamespaces.InMesh); any other kind is returned unchanged with an
// empty reason. Fields gatemesh does not know about are kept.
func document(doc []byte, pol *policy.Policy, off offlineNamespaces) ([]byte, documentResult, error) {
	h, err := readHead(doc)
	if err != nil {
		return nil, documentResult{}, err
	}
	res := documentResult{GroupVersionKind: h.gvk, Namespace: h.namespace, Name: h.name}
	ns := off.Namespace(h.namespace)

	var ops []jsonpatch.Operation
	switch gk := h.gvk.GroupKind(); {
	case gk == schema.GroupKind{Kind: "Pod"} && h.gvk.Version == "v1":
		ops, res.Reason, err = podPatch(doc, pol, ns)
	case templatePaths[h.gvk] != nil:
		ops, res.Reason, err = templatePatch(doc, templatePaths[h.gvk], func(raw []byte) ([]jsonpatch.Operation, policy.Reason, error) {
			return podPatch(raw, pol, ns)
		})
		if res.Reason == "" && err == nil {
			res.Why = "its pod template is the one of spec.workloadRef"
			return doc, res, nil
		}
	case gk == schema.GroupKind{Kind: "ConfigMap"} && h.gvk.Version == "v1":
		plan, _ := pol.DecideBootstrap(ns)
		ops, res.Reason, err = mutate.BootstrapPatch(doc, plan)
		if res.Reason == policy.ReasonNotBootstrap {
			res.Reason, res.Why = "", "not an Envoy bootstrap"
			return doc, res, nil
		}
	case mutate.Stamps(h.gvk):
		ops, res.Reason, res.Why, err = backendPatch(doc, pol, off)
	default:
		return doc, res, nil
	}
	if err != nil {
		return nil, res, err
	}
	out, err := applyPatch(doc, ops)
	return out, res, err
}

// templatePatch runs patch on the pod template at path in doc and returns
// its operations rebased onto doc. A workload without a template is an
// error, except a Rollout, which may point at a Deployment's instead
// (spec.workloadRef): that gives no reason.
func templatePatch(doc []byte, path []string, patch func([]byte) ([]jsonpatch.Operation, policy.Reason, error)) ([]jsonpatch.Operation, policy.Reason, error) {
	ptr := "/" + strings.Join(path, "/")
	tmpl, err := member(doc, path)
	if err != nil {
		return nil, "", err
	}
	if tmpl == nil {
		if ref, _ := member(doc, []string{"spec", "workloadRef"}); ref != nil {
			return nil, "", nil
		}
		return nil, "", &mutate.InputError{Field: ptr, Problem: "is required: the pod template"}
	}
	ops, reason, err := patch(tmpl)
	var ie *mutate.InputError
	if errors.As(err, &ie) {
		return nil, reason, &mutate.InputError{Field: ptr + ie.Field, Problem: ie.Problem}
	}
	for i := range ops {
		ops[i].Path = ptr + ops[i].Path
	}
	return ops, reason, err
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
// API server, its target namespaces are in the mesh as off says. why is the
// decision behind the outcome, when the outcome is not the decision itself.
func backendPatch(doc []byte, pol *policy.Policy, off offlineNamespaces) (ops []jsonpatch.Operation, outcome policy.Reason, why string, err error) {
	b, err := mutate.ParseBackendObject(doc)
	if err != nil {
		return nil, "", "", err
	}
	facts := b.Facts(pol)
	facts.TargetInMesh = true
	for _, ns := range facts.Target.Namespaces {
		if !off.InMesh(ns) {
			facts.TargetInMesh = false
			break
		}
	}
	plan := pol.DecideBackend(facts)
	ops, outcome, err = b.Patch(plan)
	if outcome != plan.Reason {
		why = planWhy(plan)
	}
	return ops, outcome, why, err
}

// planWhy says what a backend plan decided and why.
func planWhy(plan policy.BackendPlan) string {
	mode := string(plan.Mode)
	if mode == "" {
		mode = "not decided by gatemesh"
	}
	return fmt.Sprintf("mtls %s: %s, %s", mode, plan.Reason, plan.Reason.Sentence())
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
