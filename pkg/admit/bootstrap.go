package admit

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// BootstrapPath is where the Envoy bootstrap webhook is served.
const BootstrapPath = "/mutate-bootstrap"

var configMapGVK = corev1.SchemeGroupVersion.WithKind("ConfigMap")

// BootstrapHandler ensures the gateway_proxy_sds static cluster in the
// Envoy bootstrap ConfigMaps of gateways in opted-in namespaces, and removes
// the one it wrote from ConfigMaps elsewhere, on CREATE and UPDATE. One
// review flows namespace lookup -> policy.DecideBootstrap ->
// mutate.BootstrapPatch -> answer.
type BootstrapHandler struct {
	// Policy decides which namespaces' bootstraps get the cluster, and the
	// cluster's address.
	Policy *policy.Policy
	// Namespaces looks up the ConfigMap's namespace labels.
	Namespaces Namespaces

	// parses bounds the bootstraps parsed at once: a YAML parse holds about
	// 100 bytes per byte of bootstrap (26 MB at mutate.MaxBootstrapBytes).
	parses chan struct{}
}

// maxBootstrapParses is how many bootstraps are parsed at once.
const maxBootstrapParses = 2

func newBootstrapHandler(pol *policy.Policy, ns Namespaces) *BootstrapHandler {
	return &BootstrapHandler{Policy: pol, Namespaces: ns, parses: make(chan struct{}, maxBootstrapParses)}
}

var _ admission.Handler = (*BootstrapHandler)(nil)

// Handle answers one admission request for a ConfigMap.
func (h *BootstrapHandler) Handle(ctx context.Context, req admission.Request) admission.Response {
	if gvk := gvkOf(req.Kind); gvk != configMapGVK {
		return admission.Allowed("gatemesh: " + gvk.String() + " is not a kind this webhook handles")
	}
	if (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) || req.SubResource != "" {
		return admission.Allowed("gatemesh: only creation and update of ConfigMaps are mutated")
	}
	ns, err := h.Namespaces.Namespace(ctx, req.Namespace)
	if err != nil {
		return errored(ctx, err)
	}
	plan, _ := h.Policy.DecideBootstrap(ns)
	select {
	case h.parses <- struct{}{}:
		defer func() { <-h.parses }()
	case <-ctx.Done():
		return errored(ctx, fmt.Errorf("no bootstrap parse slot before the deadline: %w", ctx.Err()))
	}
	ops, reason, err := mutate.BootstrapPatch(req.Object.Raw, plan)
	if err != nil && reason != policy.ReasonBootstrapTooLarge {
		return errored(ctx, err)
	}
	logger := log.FromContext(ctx)
	resp := patched(reason, ops)
	if plan != nil && brokenBootstrap(reason) {
		// Envoy will refuse every Upstream whose SDS config names the
		// cluster: say so where people look.
		logger.Info("Gateway bootstrap lacks the SDS cluster", "configMap", objectRef(req), "reason", reason)
		resp.Warnings = append(resp.Warnings, "gatemesh: "+reason.Sentence())
		return resp
	}
	logger.V(1).Info("Admitted bootstrap", "configMap", objectRef(req), "changed", len(ops) > 0, "reason", reason)
	return resp
}

// brokenBootstrap reports whether a bootstrap in an opted-in namespace is
// left without the SDS cluster its gateway's mTLS needs.
func brokenBootstrap(r policy.Reason) bool {
	return r == policy.ReasonBootstrapUnsupported || r == policy.ReasonBootstrapTooLarge
}
