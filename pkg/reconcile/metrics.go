package reconcile

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	writesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatemesh_reconcile_writes_total",
		Help: "Objects the reconciler wrote because their decision changed, by kind and reason (stamped, unstamped).",
	}, []string{"kind", "reason"})

	conflictsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatemesh_reconcile_conflicts_total",
		Help: "Writes the API server refused because the object changed since it was read; each is re-decided.",
	}, []string{"kind"})

	stalePods = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatemesh_stale_gateway_pods",
		Help: "Gateway pods injected under an older plan than the current policy and namespace labels give, by namespace. Restart them to update.",
	}, []string{"namespace"})
)

func init() {
	metrics.Registry.MustRegister(writesTotal, conflictsTotal, stalePods)
}
