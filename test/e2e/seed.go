package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// SeedRevision is the Istio revision the seed walkthrough labels httpbin's
// namespace with (istio.io/rev).
const SeedRevision = "1-28"

// SeedNamespace is a namespace of the seed walkthrough and the labels it
// carries there.
type SeedNamespace struct {
	Name   string
	Labels map[string]string
}

// SeedNamespaces are the seed walkthrough's namespaces: the Gloo gateway's,
// opted in to gatemesh; kgateway's, opted in and on revision SeedRevision,
// so that its Istio-enabled gateway's pods are adjusted to that revision's
// istiod; and httpbin's (default), in the Istio mesh on revision
// SeedRevision, as the walkthrough's
// `kubectl label ns default istio.io/rev=$REVISION` leaves it.
func SeedNamespaces(pol *policy.Policy) []SeedNamespace {
	rev := pol.Config().Mesh.RevisionLabel
	kgateway := pol.NamespaceLabels()
	kgateway[rev] = SeedRevision
	return []SeedNamespace{
		{Name: "gloo-system", Labels: pol.NamespaceLabels()},
		{Name: "kgateway-system", Labels: kgateway},
		{Name: "default", Labels: map[string]string{rev: SeedRevision}},
	}
}

// GlooChart is the Gloo 1.17.38 chart's gateway-proxy rendering, without
// Gloo's Istio integration, beside the repository (see GlooUpstreamCRD).
// The seed walkthrough installs Gloo with this chart, so its Envoy
// bootstrap ConfigMap, gateway-proxy-envoy-config, is part of the seed.
const GlooChart = "../shared/reference/gloo-1.17.38/gateway-proxy.yaml"

// Seed is what the seed walkthrough applies: the Gloo chart's bootstrap
// ConfigMap, then examples/.
type Seed struct {
	// Chart holds the Gloo chart's bootstrap ConfigMap.
	Chart []*unstructured.Unstructured
	// Objects are the examples, in file and document order.
	Objects []*unstructured.Unstructured
	pol     *policy.Policy
}

// LoadSeed reads the chart's bootstrap ConfigMap and examples/ from the
// repository at root.
func LoadSeed(root string, pol *policy.Policy) (*Seed, error) {
	chart, err := ReadManifests(filepath.Join(root, GlooChart))
	if err != nil {
		return nil, err
	}
	var bootstrap []*unstructured.Unstructured
	for _, o := range chart {
		if o.GetKind() == "ConfigMap" {
			bootstrap = append(bootstrap, o)
		}
	}
	examples, err := ReadManifests(filepath.Join(root, ExamplesDir))
	if err != nil {
		return nil, err
	}
	return &Seed{Chart: bootstrap, Objects: examples, pol: pol}, nil
}

// SeedResult is what the API server stored for the walkthrough.
type SeedResult struct {
	// Applied are the chart's objects and the examples as stored, in the
	// order of Seed.Chart, then Seed.Objects.
	Applied []*unstructured.Unstructured
	// Pods are the pods created from the examples' Deployments, as stored.
	Pods []*corev1.Pod
}

// Run plays the walkthrough against c: it creates and labels the
// namespaces, server-side applies every example, and creates a pod from
// each Deployment's template, as its ReplicaSet would. step, when not nil,
// is told each step as the kubectl command a user would type.
func (s *Seed) Run(ctx context.Context, c client.Client, step func(cmd string)) (*SeedResult, error) {
	say := func(format string, args ...any) {
		if step != nil {
			step(fmt.Sprintf(format, args...))
		}
	}
	for _, ns := range SeedNamespaces(s.pol) {
		if ns.Name != "default" {
			say("kubectl create namespace %s", ns.Name)
		}
		if len(ns.Labels) > 0 {
			say("kubectl label namespace %s %s", ns.Name, labelArgs(ns.Labels))
		}
		if err := EnsureNamespace(ctx, c, ns.Name, ns.Labels); err != nil {
			return nil, err
		}
	}
	res := &SeedResult{}
	say("helm install gloo gloo/gloo --version 1.17.38 -n gloo-system   # its bootstrap ConfigMap, from %s", GlooChart)
	for _, obj := range s.Chart {
		stored, err := Apply(ctx, c, obj)
		if err != nil {
			return nil, err
		}
		say("  %s serverside-applied", KubectlName(stored))
		res.Applied = append(res.Applied, stored)
	}
	say("kubectl apply --server-side -f %s/", ExamplesDir)
	for _, obj := range s.Objects {
		stored, err := Apply(ctx, c, obj)
		if err != nil {
			return nil, err
		}
		say("  %s serverside-applied", KubectlName(stored))
		res.Applied = append(res.Applied, stored)
	}
	say("# no controllers run here: create each Deployment's pod as its ReplicaSet would")
	for _, obj := range res.Applied {
		if obj.GetKind() != "Deployment" {
			continue
		}
		pod, err := CreatePodFor(ctx, c, obj.GetNamespace(), obj.GetName())
		if err != nil {
			return nil, err
		}
		say("  pod/%s created in %s, from deployment.apps/%s's template", pod.Name, pod.Namespace, obj.GetName())
		res.Pods = append(res.Pods, pod)
	}
	return res, nil
}

func labelArgs(labels map[string]string) string {
	args := make([]string, 0, len(labels))
	for k, v := range labels {
		args = append(args, k+"="+v)
	}
	sort.Strings(args)
	return strings.Join(args, " ")
}

// KubectlName names obj as kubectl's output does: kind.group/name, such as
// deployment.apps/httpbin or upstream.gloo.solo.io/default-httpbin-8000.
func KubectlName(obj *unstructured.Unstructured) string {
	gvk := obj.GroupVersionKind()
	kind := strings.ToLower(gvk.Kind)
	if gvk.Group != "" {
		kind += "." + gvk.Group
	}
	return kind + "/" + obj.GetName()
}
