// Package scale measures the reconciler on envtest's real kube-apiserver:
// many Upstreams across many namespaces, one namespace's label flipped, then
// every namespace's, counting the writes and timing convergence, and the
// memory the reconciler holds. Plain `go test` runs a small size; `make
// reconcile-scale` runs the 10,000 Upstreams across 100 namespaces that
// docs/performance.md records.
package scale
