// Package install tests what users apply and what then runs: every
// kustomize overlay under manifests/ and the Helm chart charts/gatemesh are
// rendered, compared with each other, and applied to a real API server
// (envtest) with a strict server-side dry-run; gatemesh's webhook server runs
// in-process against that API server in each certificate mode, and the
// built binary runs as an install's Deployment runs it (in gatemesh-system
// and, from both kustomize and the chart, in another namespace), as that
// install's ServiceAccount, under that install's RBAC only.
//
// The tests need kube-apiserver and etcd, and helm: run them with `make
// test`, which builds them and sets KUBEBUILDER_ASSETS and HELM.
package install
