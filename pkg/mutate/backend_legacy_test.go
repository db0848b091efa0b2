package mutate

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Upstream and Backend keep bench_test.go's BenchmarkUpstream and
// BenchmarkBackend building, on the old unstructured API: they run the
// parse, decide and patch path on u's JSON and return u with the outcome.
// Delete this file with those two benchmarks; BenchmarkUpstreamPatch and
// BenchmarkBackendPatch replace them.
func Upstream(u *unstructured.Unstructured, pol *policy.Policy, mesh sets.Set[string]) (*unstructured.Unstructured, policy.Reason, error) {
	return legacyStamp(u, pol, mesh)
}

// Backend: see Upstream.
func Backend(u *unstructured.Unstructured, pol *policy.Policy, mesh sets.Set[string]) (*unstructured.Unstructured, policy.Reason, error) {
	return legacyStamp(u, pol, mesh)
}

func legacyStamp(u *unstructured.Unstructured, pol *policy.Policy, mesh sets.Set[string]) (*unstructured.Unstructured, policy.Reason, error) {
	raw, err := u.MarshalJSON()
	if err != nil {
		return nil, "", err
	}
	b, err := ParseBackendObject(raw)
	if err != nil {
		return nil, "", err
	}
	facts := b.Facts(pol)
	facts.TargetInMesh = mesh.HasAll(facts.Target.Namespaces...)
	_, reason, err := b.Patch(pol.DecideBackend(facts))
	return u, reason, err
}
