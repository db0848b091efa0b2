package reconcile

import (
	"cmp"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Options configures the reconciler. Add fills the zero values with the
// defaults below.
type Options struct {
	// Policy decides, as it does for the webhooks. Required.
	Policy *policy.Policy
	// SkipNamespaces are the namespaces whose backends the backend webhook
	// never sees, so the reconciler never writes them either. Default:
	// DefaultSkipNamespaces, the backend webhook's namespaceSelector in
	// manifests/base.
	SkipNamespaces []string
	// QPS and Burst bound the reconciler's own writes, on a client of its
	// own, so that flipping a busy namespace cannot starve the API server
	// or the webhook's few lookups. Default: 100 writes a second, bursts
	// of 200.
	QPS   float32
	Burst int
	// Workers is how many objects are re-decided at once. Default: 4.
	Workers int
	// FieldManager names the reconciler's writes in managedFields.
	// Default: "gatemesh".
	FieldManager string
	// PodScanPageSize is how many pods, or ConfigMaps, one list call
	// returns when a namespace's are read. Default: 500.
	PodScanPageSize int64
	// SkipNameValidation lets several reconcilers run in one process, as
	// the end-to-end tests do with two replicas. Default: false.
	SkipNameValidation bool
}

// DefaultSkipNamespaces are the namespaces the backend webhooks are not
// called for (manifests/base/mutatingwebhookconfiguration.yaml,
// backends.gatemesh.io and backends-other.gatemesh.io).
var DefaultSkipNamespaces = []string{"kube-system", "gatemesh-system"}

func (o Options) withDefaults() Options {
	if o.SkipNamespaces == nil {
		o.SkipNamespaces = DefaultSkipNamespaces
	}
	o.QPS = cmp.Or(o.QPS, 100)
	o.Burst = cmp.Or(o.Burst, 200)
	o.Workers = cmp.Or(o.Workers, 4)
	o.FieldManager = cmp.Or(o.FieldManager, "gatemesh")
	o.PodScanPageSize = cmp.Or(o.PodScanPageSize, 500)
	return o
}
