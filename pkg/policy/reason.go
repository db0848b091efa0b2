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
	// ReasonAdjusted: the pod's istio-proxy, which kgateway's deployer
	// rendered, was changed to the policy's discovery address, CA address,
	// cluster ID and mesh ID (recorded in gatemesh.io/adjusted).
	ReasonAdjusted Reason = "adjusted"
	// ReasonAlreadyAdjusted: the deployer's istio-proxy already carries the
	// policy's values; nothing changes.
	ReasonAlreadyAdjusted Reason = "already_adjusted"
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

// Backend reasons: the outcome for a Gloo Upstream or kgateway Backend. The
// first three say what gatemesh did; the others say why it decided as it did
// (they are also written to the gatemesh.io/mtls-reason annotation) or why it
// left the object alone.
const (
	// ReasonStamped: gatemesh wrote its mTLS decision onto the object.
	ReasonStamped Reason = "stamped"
	// ReasonAlreadyStamped: the object already carries gatemesh's decision;
	// nothing changes.
	ReasonAlreadyStamped Reason = "already_stamped"
	// ReasonUnstamped: gatemesh removed a block it had stamped, such as an
	// Upstream's sslConfig after the object opted out.
	ReasonUnstamped Reason = "unstamped"
	// ReasonAutoMtlsOff: policy's autoMtls is off and the object does not
	// opt in.
	ReasonAutoMtlsOff Reason = "auto_mtls_off"
	// ReasonDisableIstioAutoMtls: the object sets spec.disableIstioAutoMtls.
	ReasonDisableIstioAutoMtls Reason = "disable_istio_auto_mtls"
	// ReasonOptedOut: the object is annotated gatemesh.io/mtls: disabled.
	ReasonOptedOut Reason = "opted_out"
	// ReasonOptedIn: the object is annotated gatemesh.io/mtls: istio.
	ReasonOptedIn Reason = "opted_in"
	// ReasonTargetInMesh: every target service is in a mesh-enabled
	// namespace.
	ReasonTargetInMesh Reason = "target_in_mesh"
	// ReasonTargetNamespaceNotInMesh: a target service's namespace carries
	// neither istio-injection=enabled nor a revision label.
	ReasonTargetNamespaceNotInMesh Reason = "target_namespace_not_in_mesh"
	// ReasonTargetExternal: the target is outside the cluster: a cloud
	// service, a dynamic forward proxy, or a static host that is not an
	// in-cluster service name.
	ReasonTargetExternal Reason = "target_external"
	// ReasonTargetUnknown: the object's target is of a type gatemesh does not
	// know, so gatemesh leaves it alone.
	ReasonTargetUnknown Reason = "target_unknown"
	// ReasonUserTLS: the Upstream has an sslConfig gatemesh did not write.
	ReasonUserTLS Reason = "user_tls"
	// ReasonUserAnnotation: the Backend has a
	// kgateway.dev/disable-istio-auto-mtls annotation gatemesh did not write.
	ReasonUserAnnotation Reason = "user_annotation"
	// ReasonUserAnnotationInvalid: the Backend's
	// kgateway.dev/disable-istio-auto-mtls, which gatemesh did not write, is
	// not a boolean, so kgateway reports the Backend in error.
	ReasonUserAnnotationInvalid Reason = "user_annotation_invalid"
	// ReasonStaticBackendPlaintext: the object is a kgateway Backend whose
	// static hosts are mesh services, or that opts in: kgateway sends static
	// Backend endpoints plaintext, as they carry no tlsMode=istio metadata.
	ReasonStaticBackendPlaintext Reason = "static_backend_plaintext"
	// ReasonNotKgatewayShape: the kgateway Backend has spec.kube, Gloo's
	// Upstream shape, which kgateway's Backend does not have.
	ReasonNotKgatewayShape Reason = "not_kgateway_shape"
	// ReasonStampEdited: the block gatemesh stamped was edited since; it is
	// the user's now.
	ReasonStampEdited Reason = "stamp_edited"
	// ReasonUnsupportedKind: the backend webhook received a kind or version
	// it does not stamp, and allowed it unchanged.
	ReasonUnsupportedKind Reason = "unsupported_kind"
	// ReasonTooManyTargets: the object lists more than MaxBackendTargets
	// static hosts, so gatemesh reads no further and leaves it alone.
	ReasonTooManyTargets Reason = "too_many_targets"
)

// Bootstrap reasons: the outcome for a ConfigMap holding a gateway's Envoy
// bootstrap, where gatemesh ensures the static SDS cluster that the Upstreams
// it stamps name (BootstrapPlan).
const (
	// ReasonBootstrapWanted: the namespace opted in, so the bootstrap should
	// carry gatemesh's SDS cluster.
	ReasonBootstrapWanted Reason = "bootstrap_cluster_wanted"
	// ReasonBootstrapClusterAdded: gatemesh added its SDS cluster.
	ReasonBootstrapClusterAdded Reason = "bootstrap_cluster_added"
	// ReasonBootstrapClusterUpdated: gatemesh replaced the SDS cluster it had
	// written with the one the policy now asks for.
	ReasonBootstrapClusterUpdated Reason = "bootstrap_cluster_updated"
	// ReasonBootstrapClusterPresent: the bootstrap already carries
	// gatemesh's SDS cluster; nothing changes.
	ReasonBootstrapClusterPresent Reason = "bootstrap_cluster_present"
	// ReasonBootstrapClusterRemoved: the namespace opted out, and gatemesh
	// removed the cluster it had written (and its mark).
	ReasonBootstrapClusterRemoved Reason = "bootstrap_cluster_removed"
	// ReasonBootstrapClusterForeign: a cluster of that name exists that
	// gatemesh did not write (glooctl's, or Gloo's own Istio integration's),
	// or wrote and someone edited since; gatemesh leaves it alone.
	ReasonBootstrapClusterForeign Reason = "bootstrap_cluster_foreign"
	// ReasonNotBootstrap: the ConfigMap has no Envoy bootstrap gatemesh
	// recognises (no envoy.yaml key, or one that is not a mapping with
	// static_resources, dynamic_resources, node or admin).
	ReasonNotBootstrap Reason = "not_envoy_bootstrap"
	// ReasonBootstrapTooLarge: the bootstrap is larger than gatemesh reads.
	ReasonBootstrapTooLarge Reason = "bootstrap_too_large"
	// ReasonBootstrapUnsupported: gatemesh cannot edit this bootstrap's YAML
	// without touching more than its cluster (static_resources or its
	// clusters is not a mapping and a list, or the layout is one gatemesh
	// does not splice into); it leaves the bootstrap alone.
	ReasonBootstrapUnsupported Reason = "bootstrap_unsupported"
)

var sentences = map[Reason]string{
	ReasonInjected:            "istio-proxy and sds containers injected",
	ReasonAlreadyInjected:     "pod already carries gatemesh's istio-proxy and sds containers",
	ReasonAdjusted:            "the istio-proxy kgateway's deployer added now has the policy's discovery address, CA address, cluster ID and mesh ID",
	ReasonAlreadyAdjusted:     "the istio-proxy kgateway's deployer added already has the policy's discovery address, CA address, cluster ID and mesh ID",
	ReasonNamespaceNotEnabled: "namespace has not opted in to gatemesh injection",
	ReasonPodOptedOut:         "pod opted out of gatemesh injection",
	ReasonNotGatewayProxy:     "pod is not a gateway proxy",
	ReasonIstioProxyExists:    "pod already has an istio-proxy container that gatemesh did not add",
	ReasonSDSExists:           "pod already has an sds container that gatemesh did not add",
	ReasonVolumeConflict:      "pod already has a volume named like one gatemesh adds",

	ReasonStamped:                  "gatemesh stamped its mTLS decision",
	ReasonAlreadyStamped:           "object already carries gatemesh's mTLS decision",
	ReasonUnstamped:                "gatemesh removed the mTLS settings it had stamped",
	ReasonAutoMtlsOff:              "autoMtls is off and the object does not opt in with gatemesh.io/mtls: istio",
	ReasonDisableIstioAutoMtls:     "spec.disableIstioAutoMtls is true",
	ReasonOptedOut:                 "object opts out with gatemesh.io/mtls: disabled",
	ReasonOptedIn:                  "object opts in with gatemesh.io/mtls: istio",
	ReasonTargetInMesh:             "every target service is in a mesh-enabled namespace",
	ReasonTargetNamespaceNotInMesh: "a target service's namespace is not mesh-enabled",
	ReasonTargetExternal:           "target is outside the cluster, so outside the mesh",
	ReasonTargetUnknown:            "gatemesh cannot tell where the object points",
	ReasonUserTLS:                  "spec.sslConfig was not written by gatemesh and is left alone",
	ReasonUserAnnotation:           "kgateway.dev/disable-istio-auto-mtls was not written by gatemesh and is left alone",
	ReasonUserAnnotationInvalid:    "kgateway.dev/disable-istio-auto-mtls is not true or false, so kgateway reports the Backend in error; gatemesh leaves it alone",
	ReasonStaticBackendPlaintext:   "kgateway sends a static Backend's hosts plaintext, even mesh services; for Istio mTLS route to the Service with a backendRef instead",
	ReasonNotKgatewayShape:         "spec.kube is Gloo's Upstream shape, which kgateway's Backend does not have; use spec.static, or route to the Service with a backendRef",
	ReasonStampEdited:              "what gatemesh stamped was edited since, so it is the user's and left alone",
	ReasonUnsupportedKind:          "object is not a kind gatemesh stamps",
	ReasonTooManyTargets:           "object lists more than 1024 static hosts, so gatemesh leaves it alone",

	ReasonBootstrapWanted:         "namespace opted in, so the Envoy bootstrap needs gatemesh's SDS cluster",
	ReasonBootstrapClusterAdded:   "gatemesh added the SDS cluster to the Envoy bootstrap",
	ReasonBootstrapClusterUpdated: "gatemesh updated the SDS cluster it had added to the Envoy bootstrap",
	ReasonBootstrapClusterPresent: "Envoy bootstrap already carries gatemesh's SDS cluster",
	ReasonBootstrapClusterRemoved: "gatemesh removed the SDS cluster it had added to the Envoy bootstrap",
	ReasonBootstrapClusterForeign: "Envoy bootstrap has an SDS cluster of that name that gatemesh did not write, and it is left alone",
	ReasonNotBootstrap:            "ConfigMap holds no Envoy bootstrap gatemesh recognises",
	ReasonBootstrapTooLarge:       "Envoy bootstrap is larger than 256 KiB, so gatemesh does not read it and it lacks the SDS cluster; add the cluster by hand or the gateway's mTLS routes return 503",
	ReasonBootstrapUnsupported:    "gatemesh cannot add its SDS cluster to this Envoy bootstrap without rewriting more of it; add the cluster by hand or the gateway's mTLS routes return 503",
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
	switch r {
	case ReasonInjected, ReasonAdjusted, ReasonStamped, ReasonUnstamped,
		ReasonBootstrapClusterAdded, ReasonBootstrapClusterUpdated, ReasonBootstrapClusterRemoved:
		return true
	}
	return false
}
