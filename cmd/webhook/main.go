// Command webhook is gatemesh: a mutating admission webhook that puts Envoy
// API gateway proxies into an Istio sidecar mesh. "webhook serve" serves
// admission requests; "webhook --help" lists every command.
package main

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
)

func main() {
	os.Exit(run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, serve))
}
