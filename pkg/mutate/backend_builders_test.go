package mutate

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// objBuilder builds test Upstreams and Backends fluently:
// makeUpstream("u", "gloo-system").kube("default").annotation(k, v).obj().
type objBuilder struct {
	u       unstructured.Unstructured
	hostKey string
}

func makeObject(gvk schema.GroupVersionKind, hostKey, name, namespace string) *objBuilder {
	b := &objBuilder{hostKey: hostKey}
	b.u.SetGroupVersionKind(gvk)
	b.u.SetName(name)
	b.u.SetNamespace(namespace)
	return b
}

func makeUpstream(name, namespace string) *objBuilder {
	return makeObject(UpstreamGVK, "addr", name, namespace)
}

func makeBackend(name, namespace string) *objBuilder {
	return makeObject(BackendGVK, "host", name, namespace)
}

// set puts v at path, creating the objects on the way.
func (b *objBuilder) set(v any, path ...string) *objBuilder {
	parent := ensureObject(b.u.Object, path[:len(path)-1]...)
	parent[path[len(path)-1]] = v
	return b
}

// ensureObject returns the object at path in obj, creating it, and any
// missing or null object on the way, when absent.
func ensureObject(obj map[string]any, path ...string) map[string]any {
	cur := obj
	for _, key := range path {
		next, ok := cur[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[key] = next
		}
		cur = next
	}
	return cur
}

func (b *objBuilder) kube(serviceNamespace string) *objBuilder {
	return b.set(map[string]any{"serviceName": "httpbin", "serviceNamespace": serviceNamespace, "servicePort": int64(8000)}, "spec", "kube")
}

func (b *objBuilder) static(hosts ...string) *objBuilder {
	list := make([]any, 0, len(hosts))
	for _, h := range hosts {
		list = append(list, map[string]any{b.hostKey: h, "port": int64(80)})
	}
	return b.set(map[string]any{"hosts": list}, "spec", "static")
}

func (b *objBuilder) annotation(k, v string) *objBuilder {
	return b.set(v, "metadata", "annotations", k)
}

func (b *objBuilder) obj() *unstructured.Unstructured { return b.u.DeepCopy() }

// istioSSL is the default stamped sslConfig, as an unstructured value.
func istioSSL() map[string]any {
	return map[string]any{
		"alpnProtocols": []any{"istio"},
		"sds": map[string]any{
			"targetUri":              "127.0.0.1:8234",
			"certificatesSecretName": "istio_server_cert",
			"validationContextName":  "istio_validation_context",
			"clusterName":            "gateway_proxy_sds",
		},
	}
}

// hashOf is the hash of block v, as JSON-shaped values.
func hashOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return blockHash(b)
}

// Markers as gatemesh writes them with the default policy.
var (
	markerIstioSSL     = "istio/" + hashOf(istioSSL())
	markerDisabledNone = "disabled/" + blockHash(nil)
	markerIstioNone    = "istio/" + blockHash(nil)
	markerDisabledTrue = "disabled/" + hashOf("true")
	markerUserMtlsTrue = hashOf("true")
	markerUserMtlsNone = blockHash(nil)
)

// stampedUpstreamBase is a kube Upstream to default as gatemesh stamps it in
// the mesh.
func stampedUpstreamBase() *objBuilder {
	return makeUpstream("u", "gloo-system").kube("default").
		set(istioSSL(), "spec", "sslConfig").
		annotation(MtlsAnnotation, "istio").
		annotation(MtlsReasonAnnotation, "target_in_mesh").
		annotation(MtlsHashAnnotation, markerIstioSSL)
}
