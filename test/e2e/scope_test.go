package e2e

import (
	"maps"
	"testing"
)

// Scenario 2: gatemesh touches only gateway pods in opted-in namespaces.
// Everything else is stored exactly as sent.
func TestPodsOutOfScopeAreStoredUntouched(t *testing.T) {
	tests := map[string]struct {
		namespace string
		labels    map[string]string
		podLabels map[string]string
	}{
		"the seed's gateway pod in an unlabelled namespace": {
			namespace: "s2-unlabelled",
		},
		"the seed's gateway pod labelled gatemesh.io/inject=false in an opted-in namespace": {
			namespace: "s2-opted-in",
			labels:    optedIn(),
			podLabels: map[string]string{podOptOutLabel: "false"},
		},
		"a pod that is not a gateway proxy, in an opted-in namespace": {
			namespace: "s2-opted-in",
			labels:    optedIn(),
			podLabels: map[string]string{"gloo": "gloo"}, // Gloo's control plane, say
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := namespace(t, tc.namespace, tc.labels)
			sent := gatewayPod(t, ns)
			maps.Copy(sent.Labels, tc.podLabels)
			stored := createPod(t, sent)
			checkUntouched(t, sent, stored)
		})
	}
}

// Scenario 3: the discovery address follows the namespace's Istio revision.
func TestRevisionedNamespace(t *testing.T) {
	tests := map[string]struct {
		namespace string
		revision  string
		want      string
	}{
		"istio.io/rev=1-28 talks to that revision's istiod": {
			namespace: "s3-rev-1-28", revision: "1-28", want: "istiod-1-28.istio-system.svc:15012",
		},
		"istio.io/rev=default, the default revision tag, talks to istiod": {
			namespace: "s3-rev-default", revision: "default", want: "istiod.istio-system.svc:15012",
		},
		"no revision talks to istiod": {
			namespace: "s3-no-rev", want: "istiod.istio-system.svc:15012",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			labels := optedIn()
			if tc.revision != "" {
				labels[revisionLabel] = tc.revision
			}
			ns := namespace(t, tc.namespace, labels)
			sent := gatewayPod(t, ns)
			checkInjected(t, sent, createPod(t, sent), tc.want)
		})
	}
}
