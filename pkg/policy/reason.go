package policy

// Reason names the outcome of one admission decision. Reasons are stable
// snake_case strings, used as log values and metric labels; Sentence gives
// the same reason for people.
type Reason string

// Pod reasons.
const (
	// ReasonInjected: the pod was changed to carry istio-proxy and sds.
	ReasonInjected Reason = "injected"
	// ReasonAlreadyInjected: the pod already carries exactly what gatemesh
	// would add; nothing changes.
	ReasonAlreadyInjected Reason = "already_injected"
	// ReasonNamespaceNotEnabled: the pod's namespace has not opted in.
	ReasonNamespaceNotEnabled Reason = "namespace_not_enabled"
	// ReasonPodOptedOut: the pod carries the opt-out label.
	ReasonPodOptedOut Reason = "pod_opted_out"
	// ReasonNotGatewayProxy: no gateway proxy selector matches the pod.
	ReasonNotGatewayProxy Reason = "not_gateway_proxy"
	// ReasonIstioProxyExists: the pod has an istio-proxy container that
	// gatemesh did not add, such as Istio's own sidecar.
	ReasonIstioProxyExists Reason = "istio_proxy_exists"
	// ReasonSDSExists: the pod has an sds container that gatemesh did not
	// add, such as one from a gateway Helm chart.
	ReasonSDSExists Reason = "sds_exists"
	// ReasonVolumeConflict: the pod has a volume named like one gatemesh
	// adds, which gatemesh did not add.
	ReasonVolumeConflict Reason = "volume_conflict"
)

var sentences = map[Reason]string{
	ReasonInjected:            "istio-proxy and sds containers injected",
	ReasonAlreadyInjected:     "pod already carries gatemesh's istio-proxy and sds containers",
	ReasonNamespaceNotEnabled: "namespace has not opted in to gatemesh injection",
	ReasonPodOptedOut:         "pod opted out of gatemesh injection",
	ReasonNotGatewayProxy:     "pod is not a gateway proxy",
	ReasonIstioProxyExists:    "pod already has an istio-proxy container that gatemesh did not add",
	ReasonSDSExists:           "pod already has an sds container that gatemesh did not add",
	ReasonVolumeConflict:      "pod already has a volume named like one gatemesh adds",
}

// Sentence describes the reason for people, for logs and summaries.
func (r Reason) Sentence() string {
	if s, ok := sentences[r]; ok {
		return s
	}
	return string(r)
}

// Changes reports whether the reason means the object was changed.
func (r Reason) Changes() bool {
	return r == ReasonInjected
}
