package mutate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// sdsCluster is gatemesh's static cluster for one plan, in the two forms it
// splices into a bootstrap, and its value and hash.
type sdsCluster struct {
	// name is the cluster's name.
	name string
	// block is the cluster as a block sequence item, one line per element,
	// without indentation or line ends: exactly the lines Gloo's chart
	// writes for its Istio integration.
	block []string
	// flow is the cluster as one JSON object, which is also YAML flow
	// style, for bootstraps written in JSON or flow style.
	flow string
	// value is the cluster decoded as YAML, and hash its clusterHash.
	value any
	hash  string
}

// newSDSCluster renders the cluster of plan. The names and address are
// written plain when YAML reads them back as the same string, as the chart
// writes them, and double-quoted otherwise.
func newSDSCluster(plan *policy.BootstrapPlan) (*sdsCluster, error) {
	name, addr, timeout := yamlString(plan.ClusterName), yamlString(plan.Address), yamlString(plan.ConnectTimeout)
	port := strconv.Itoa(int(plan.Port))
	c := &sdsCluster{
		name: plan.ClusterName,
		block: []string{
			"- name: " + name,
			"  connect_timeout: " + timeout,
			"  http2_protocol_options: {}",
			"  load_assignment:",
			"    cluster_name: " + name,
			"    endpoints:",
			"    - lb_endpoints:",
			"      - endpoint:",
			"          address:",
			"            socket_address:",
			"              address: " + addr,
			"              port_value: " + port,
		},
		flow: `{"name": ` + jsonString(plan.ClusterName) +
			`, "connect_timeout": ` + jsonString(plan.ConnectTimeout) +
			`, "http2_protocol_options": {}, "load_assignment": {"cluster_name": ` + jsonString(plan.ClusterName) +
			`, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": ` +
			jsonString(plan.Address) + `, "port_value": ` + port + `}}}}]}]}}`,
	}
	// The value YAML reads from the block, built directly: reading it back
	// cost a quarter of a review (TestSDSClusterRenderings checks they agree).
	c.value = map[string]any{
		"name":                   plan.ClusterName,
		"connect_timeout":        plan.ConnectTimeout,
		"http2_protocol_options": map[string]any{},
		"load_assignment": map[string]any{
			"cluster_name": plan.ClusterName,
			"endpoints": []any{map[string]any{
				"lb_endpoints": []any{map[string]any{
					"endpoint": map[string]any{
						"address": map[string]any{
							"socket_address": map[string]any{"address": plan.Address, "port_value": int(plan.Port)},
						},
					},
				}},
			}},
		},
	}
	var ok bool
	if c.hash, ok = clusterHash(c.value); !ok {
		return nil, errors.New("internal error: failed to hash the SDS cluster")
	}
	return c, nil
}

// clusterHash is gatemesh's owner mark for a cluster: sha256:<hex> of the
// cluster's value as JSON (keys sorted), so formatting, comments and key
// order do not change it. ok is false for a value JSON cannot hold.
func clusterHash(v any) (string, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(b)
	return hashPrefix + hex.EncodeToString(sum[:]), true
}

// clusterName is the name of a decoded cluster, if it has a string one.
func clusterName(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	s, ok := m["name"].(string)
	return s, ok
}

// yamlString writes s as a YAML scalar: plain when YAML reads it back as
// the string s, else double-quoted (JSON's quoting is valid YAML).
func yamlString(s string) string {
	var back any
	if s != "" && !strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`\n\r\t ") &&
		yaml.Unmarshal([]byte(s), &back) == nil && back == any(s) {
		return s
	}
	return jsonString(s)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
