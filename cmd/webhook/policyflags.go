package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// policyFlags are the policy settings that flags can override. Loading
// follows cert-manager's order: parse the flags, read the --config file, then
// apply every flag that was set on the command line over the file, so flags
// win.
type policyFlags struct {
	fs   *pflag.FlagSet
	file string
	set  map[string]func(*policy.Config, string)
}

func addPolicyFlags(fs *pflag.FlagSet) *policyFlags {
	pf := &policyFlags{fs: fs, set: map[string]func(*policy.Config, string){}}
	fs.StringVar(&pf.file, "config", "", "path to the policy file (YAML); empty means all defaults")
	pf.str("discovery-address", "istiod address as host:port (mesh.discoveryAddress); default derived from the namespace's revision",
		func(c *policy.Config, v string) { c.Mesh.DiscoveryAddress = v })
	pf.str("ca-address", "Istio CA address as host:port for CA_ADDR (mesh.caAddress); default the discovery address. Set it for istio-csr or an external CA",
		func(c *policy.Config, v string) { c.Mesh.CAAddress = v })
	pf.str("cluster-id", "ISTIO_META_CLUSTER_ID (mesh.clusterID; default "+policy.DefaultClusterID+")",
		func(c *policy.Config, v string) { c.Mesh.ClusterID = v })
	pf.str("mesh-id", "ISTIO_META_MESH_ID (mesh.meshID; default "+policy.DefaultMeshID+")",
		func(c *policy.Config, v string) { c.Mesh.MeshID = v })
	pf.str("proxy-image", "istio-proxy image (istioProxy.image; default "+policy.DefaultIstioProxyImage+")",
		func(c *policy.Config, v string) { c.IstioProxy.Image = v })
	pf.str("proxy-log-level", "istio-proxy --proxyLogLevel (istioProxy.logLevel; default "+policy.DefaultProxyLogLevel+")",
		func(c *policy.Config, v string) { c.IstioProxy.LogLevel = v })
	pf.str("sds-gloo-image", "sds image for Gloo pods (sds.glooImage; default "+policy.DefaultGlooSDSImage+")",
		func(c *policy.Config, v string) { c.SDS.GlooImage = v })
	pf.str("sds-kgateway-image", "sds image for kgateway pods (sds.kgatewayImage; default "+policy.DefaultKgatewaySDSImage+")",
		func(c *policy.Config, v string) { c.SDS.KgatewayImage = v })
	pf.str("sds-log-level", "sds LOG_LEVEL (sds.logLevel; default "+policy.DefaultSDSLogLevel+")",
		func(c *policy.Config, v string) { c.SDS.LogLevel = v })
	pf.boolean("auto-mtls", "stamp Istio mTLS onto every in-mesh backend (backends.autoMtls); false stamps only objects annotated gatemesh.io/mtls: istio",
		func(c *policy.Config, b bool) { c.Backends.AutoMtls = &b })
	pf.boolean("adjust-kgateway-sidecars", "set the policy's istiod, CA, cluster and mesh IDs on the istio-proxy kgateway's deployer adds when its Istio integration is on (selection.adjustKgatewaySidecars); false leaves those pods alone",
		func(c *policy.Config, b bool) { c.Selection.AdjustKgatewaySidecars = &b })
	return pf
}

// boolean adds a bool flag, default true, that sets a policy switch.
func (pf *policyFlags) boolean(name, help string, apply func(*policy.Config, bool)) {
	pf.fs.Bool(name, true, help)
	pf.set[name] = func(c *policy.Config, v string) {
		b, err := strconv.ParseBool(v)
		if err != nil {
			panic("internal error: a bool flag holds " + v)
		}
		apply(c, b)
	}
}

func (pf *policyFlags) str(name, help string, apply func(*policy.Config, string)) {
	pf.fs.String(name, "", help)
	pf.set[name] = apply
}

// load reads the policy file, applies the flags set on the command line over
// it, and builds the validated policy. It is called after fs.Parse.
func (pf *policyFlags) load() (*policy.Policy, error) {
	cfg, err := policy.ReadFile(pf.file)
	if err != nil {
		return nil, err
	}
	pf.fs.Visit(func(f *pflag.Flag) {
		if apply, ok := pf.set[f.Name]; ok {
			apply(&cfg, f.Value.String())
		}
	})
	p, err := policy.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w (from --config %q and flags)", err, pf.file)
	}
	return p, nil
}
