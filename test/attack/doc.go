// Package attack proves, on loopback and against the binary that ships,
// that gatemesh stays bounded under the attacks of issue 10: a flood of
// header-only requests claiming 7 MiB bodies, a 3 MB Gloo Upstream created
// through a real API server, a static Upstream naming 1,000 namespaces, and
// SIGTERM under steady load.
//
// The suite is tests only (`make attack`, and `make test` through
// `go test ./...`). TestMain builds ./cmd/webhook once and starts
// kube-apiserver and etcd with test/e2e, which serves Upstreams with Gloo's
// real CRD; every test runs `webhook serve` as its own process, so that its
// peak RSS (VmHWM) is that test's alone. Each test logs its figure for docs/performance.md.
package attack
