// Package reconcile re-decides, on the leader replica, what gatemesh's
// webhooks decided when an object was written, whenever what the decision
// depended on changes: a namespace's mesh labels. Backends (Gloo Upstreams,
// kgateway Backends) are re-decided and re-stamped through the very path the
// backend webhook takes (mutate.ParseBackendObject, policy.DecideBackend,
// the object's Patch), written as a JSON patch guarded by the object's
// resourceVersion, and only when the decision changed. Gateway pods injected
// under an older plan are reported (a gauge, an Event on the pod's owner, a
// log line with the difference), never restarted. The gateways' Envoy
// bootstrap ConfigMaps of a namespace that opts in or out are re-decided as
// the bootstrap webhooks would (policy.DecideBootstrap,
// mutate.BootstrapPatch).
package reconcile
