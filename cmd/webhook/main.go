// Command webhook is gatemesh: a mutating admission webhook that puts Envoy
// API gateway proxies into an Istio sidecar mesh.
//
//	webhook [serve] [flags]     serve admission requests (the default)
//	webhook mutate -f FILE ...  mutate manifests offline and print them
package main

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
)

func main() {
	os.Exit(run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, serve))
}
