// Package install tests what users apply and what then runs: every
// kustomize overlay under manifests/ is rendered and applied to a real API
// server (envtest) with a strict server-side dry-run, and gatemesh's webhook
// server runs in-process against that API server in each certificate mode,
// as the overlays' ServiceAccount, under the overlays' RBAC.
//
// The tests need kube-apiserver and etcd: run them with `make test`, which
// builds both and sets KUBEBUILDER_ASSETS.
package install
