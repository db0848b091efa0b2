package policy

import (
	"net"
	"strconv"
)

// DefaultBootstrapConnectTimeout is the connect_timeout of the SDS cluster,
// as the Gloo chart's Istio integration writes it.
const DefaultBootstrapConnectTimeout = "0.25s"

// BootstrapPlan is the static cluster gatemesh ensures in a gateway's Envoy
// bootstrap. Envoy accepts an SDS config source only when its cluster is
// defined statically, so without it every Upstream gatemesh stamps (whose
// sslConfig.sds names this cluster) is rejected and its routes answer 503.
type BootstrapPlan struct {
	// ClusterName is Backends.UpstreamSSLConfig.SDS.ClusterName, the cluster
	// the stamped Upstreams name. Default: gateway_proxy_sds.
	ClusterName string
	// Address is the host of Backends.UpstreamSSLConfig.SDS.TargetURI.
	// Default: 127.0.0.1.
	Address string
	// Port is the port of that target URI. Default: 8234, the port the
	// injected sds container listens on.
	Port int32
	// ConnectTimeout is the cluster's connect_timeout. Default: 0.25s, as the
	// charts write it.
	ConnectTimeout string
}

// DecideBootstrap decides for a ConfigMap in namespace ns: a plan when the
// namespace is opted in (the label and value that opt its pods in), or nil
// and ReasonNamespaceNotEnabled when not; then gatemesh removes the cluster
// it wrote, and only that.
func (p *Policy) DecideBootstrap(ns Namespace) (*BootstrapPlan, Reason) {
	if ns.Labels[p.cfg.Selection.NamespaceLabel] != namespaceEnabledValue {
		return nil, ReasonNamespaceNotEnabled
	}
	return p.bootstrapPlan(), ReasonBootstrapWanted
}

// bootstrapPlan is the plan of the policy. New validated the target URI as
// host:port with a port from 1 to 65535; were it not, the plan would keep the
// default address and port rather than fail an admission.
func (p *Policy) bootstrapPlan() *BootstrapPlan {
	sds := p.cfg.Backends.UpstreamSSLConfig.SDS
	plan := &BootstrapPlan{
		ClusterName:    sds.ClusterName,
		Address:        "127.0.0.1",
		Port:           8234,
		ConnectTimeout: DefaultBootstrapConnectTimeout,
	}
	host, port, err := net.SplitHostPort(sds.TargetURI)
	if err != nil {
		return plan
	}
	if n, err := strconv.ParseInt(port, 10, 32); err == nil && n > 0 {
		plan.Address, plan.Port = host, int32(n)
	}
	return plan
}
