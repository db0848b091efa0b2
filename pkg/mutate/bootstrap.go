package mutate

import (
	"strings"

	"go.yaml.in/yaml/v3"
	"gomodules.xyz/jsonpatch/v2"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// The gateway's Envoy bootstrap ConfigMap.
const (
	// BootstrapKey is the ConfigMap data key holding the Envoy bootstrap, in
	// both Gloo's gateway-proxy-envoy-config and kgateway's proxy ConfigMaps.
	BootstrapKey = "envoy.yaml"
	// BootstrapClusterAnnotation is gatemesh's owner mark on the ConfigMap:
	// sha256:<hex> of the value of the cluster gatemesh wrote (clusterHash).
	// gatemesh updates or removes a cluster only while it hashes to the mark,
	// so it never touches a cluster of that name it did not write, such as
	// glooctl's or Gloo's own Istio integration's.
	BootstrapClusterAnnotation = "gatemesh.io/bootstrap-cluster"
	// MaxBootstrapBytes caps the bootstrap gatemesh reads: 256 KiB, ten times
	// the largest chart-rendered bootstrap. The YAML parse holds about 100
	// bytes per byte read, so a bootstrap at the cap costs about 26 MB.
	MaxBootstrapBytes = 256 << 10

	// BootstrapMatchCondition is the CEL expression of the webhook's
	// matchConditions: only ConfigMaps whose envoy.yaml holds a bootstrap
	// with static_resources.
	BootstrapMatchCondition = `object != null && has(object.data) && 'envoy.yaml' in object.data && ` +
		`object.data['envoy.yaml'].contains('static_resources')`
	// BootstrapMarkedMatchCondition matches the ConfigMaps that carry
	// gatemesh's owner mark, so the cluster can be removed again whatever
	// became of the bootstrap.
	BootstrapMarkedMatchCondition = `object != null && has(object.metadata.annotations) && ` +
		`'gatemesh.io/bootstrap-cluster' in object.metadata.annotations`
)

const (
	bootstrapPath     = "/data/envoy.yaml"
	bootstrapMarkPath = "/metadata/annotations/gatemesh.io~1bootstrap-cluster"
)

// configMapHead is the part of a ConfigMap the bootstrap webhook reads.
type configMapHead struct {
	Metadata *struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Data map[string]string `json:"data"`
}

// BootstrapPatch ensures (plan != nil) or removes (plan == nil, and only if
// gatemesh wrote it) gatemesh's SDS cluster in the Envoy bootstrap of raw,
// the JSON of a ConfigMap. It returns the RFC 6902 patch against raw, empty
// when nothing changes, and the reason. It edits the YAML in place: every
// byte outside the cluster list stays as it was, and the cluster is written
// as the first of the list, with the lines Gloo's chart writes. Malformed
// input, a bootstrap that is not YAML included, is an *InputError naming
// the field.
func BootstrapPatch(raw []byte, plan *policy.BootstrapPlan) ([]jsonpatch.Operation, policy.Reason, error) {
	var cm configMapHead
	if err := decodeStrictCase(raw, &cm); err != nil {
		return nil, "", DecodeError("", err)
	}
	text, ok := cm.Data[BootstrapKey]
	if !ok {
		return nil, policy.ReasonNotBootstrap, nil
	}
	if len(text) > MaxBootstrapBytes {
		return nil, policy.ReasonBootstrapTooLarge, inputErrorf(bootstrapPath, "is larger than %d bytes", MaxBootstrapBytes)
	}
	var annotations map[string]string
	if cm.Metadata != nil {
		annotations = cm.Metadata.Annotations
	}
	mark, marked := annotations[BootstrapClusterAnnotation]
	out, newMark, reason, err := EditBootstrap(text, mark, plan)
	if err != nil {
		return nil, reason, err
	}
	var ops []jsonpatch.Operation
	if out != text {
		ops = append(ops, jsonpatch.NewOperation("replace", bootstrapPath, out))
	}
	switch {
	case newMark == "" && marked:
		ops = append(ops, jsonpatch.NewOperation("remove", bootstrapMarkPath, nil))
	case newMark == "" || (marked && newMark == mark):
	case annotations == nil && (cm.Metadata == nil):
		ops = append(ops, jsonpatch.NewOperation("add", "/metadata",
			map[string]any{"annotations": map[string]any{BootstrapClusterAnnotation: newMark}}))
	case annotations == nil:
		ops = append(ops, jsonpatch.NewOperation("add", "/metadata/annotations",
			map[string]any{BootstrapClusterAnnotation: newMark}))
	default:
		ops = append(ops, jsonpatch.NewOperation("add", bootstrapMarkPath, newMark))
	}
	return ops, reason, nil
}

// EditBootstrap is BootstrapPatch on the bootstrap's text and the owner
// mark alone (empty when the ConfigMap has none), for callers that hold
// them rather than a ConfigMap's JSON. It returns the new text and mark,
// which are the old ones when nothing changes; an empty mark means none.
func EditBootstrap(text, mark string, plan *policy.BootstrapPlan) (string, string, policy.Reason, error) {
	if len(text) > MaxBootstrapBytes {
		return text, mark, policy.ReasonBootstrapTooLarge,
			inputErrorf(bootstrapPath, "is larger than %d bytes", MaxBootstrapBytes)
	}
	d, reason, err := parseBootstrap(text)
	if err != nil {
		return text, mark, "", yamlInputError(err)
	}
	if reason != "" {
		return text, mark, reason, nil
	}
	hash, created := splitMark(mark)
	own := d.ownCluster(hash)
	if plan == nil {
		if own < 0 && mark == "" {
			return text, mark, policy.ReasonNamespaceNotEnabled, nil
		}
		return d.removeOwn(own, mark, created)
	}
	c, err := newSDSCluster(plan)
	if err != nil {
		return text, mark, "", err
	}
	switch {
	case d.namedCluster(c.name, own):
		return text, mark, policy.ReasonBootstrapClusterForeign, nil
	case own >= 0 && hash == c.hash:
		return text, mark, policy.ReasonBootstrapClusterPresent, nil
	}
	out, reason, err := d.ensure(c, own)
	if reason != policy.ReasonBootstrapClusterAdded && reason != policy.ReasonBootstrapClusterUpdated {
		return text, mark, reason, err
	}
	if own < 0 {
		created = d.creates()
	}
	return out, c.hash + created, reason, nil
}

// What gatemesh created to hold its cluster, recorded at the end of its
// owner mark, so that removing the cluster removes them too and gives the
// bootstrap back as it was.
const (
	// createdClusters: the static_resources.clusters key.
	createdClusters = "+clusters"
	// createdStatic: the static_resources key, holding only clusters.
	createdStatic = "+static_resources"
)

// splitMark splits an owner mark into the cluster's hash and what gatemesh
// created for it ("" or one of the created constants).
func splitMark(mark string) (hash, created string) {
	if i := strings.IndexByte(mark, '+'); i >= 0 {
		return mark[:i], mark[i:]
	}
	return mark, ""
}

// creates says what adding a cluster to d creates besides the cluster.
func (d *bootstrapDoc) creates() string {
	switch {
	case d.static == nil:
		return createdStatic
	case d.clusters == nil && d.static.Kind == yaml.MappingNode:
		return createdClusters
	}
	return ""
}

// dropCreated removes from text, whose gatemesh cluster was just cut, the
// empty clusters key (and static_resources) gatemesh had created, as
// created says. It leaves text as it is unless they are empty, in block
// style, and on lines of their own.
func dropCreated(text, created string) string {
	if created == "" {
		return text
	}
	d, reason, err := parseBootstrap(text)
	if err != nil || reason != "" || d.clustersKey == nil || d.static.Style&yaml.FlowStyle != 0 ||
		!(isNull(d.clusters) || (d.clusters.Kind == yaml.SequenceNode && len(d.clusters.Content) == 0)) {
		return text
	}
	from, to := d.clustersKey.Line, d.clustersKey.Line
	if !strings.HasPrefix(strings.TrimSpace(d.line(to)), "clusters:") || (d.clusters.Line != 0 && d.clusters.Line != to) {
		return text
	}
	if created == createdStatic {
		if len(d.static.Content) != 2 || d.staticKey.Line+1 != from || strings.TrimSpace(d.line(d.staticKey.Line)) != "static_resources:" {
			return text
		}
		from = d.staticKey.Line
	}
	end := len(text)
	if to < len(d.lines) {
		end = d.lines[to]
	}
	return text[:d.lines[from-1]] + text[end:]
}

// removeOwn cuts gatemesh's cluster, the own-th, out of the bootstrap and
// drops the mark, or only drops the mark when own < 0. When it cannot cut
// the cluster, it keeps the mark, so a later edit can.
func (d *bootstrapDoc) removeOwn(own int, mark, created string) (string, string, policy.Reason, error) {
	if own < 0 {
		return d.text, "", policy.ReasonBootstrapClusterRemoved, nil
	}
	if reason, err := d.readRestReason(); reason != "" || err != nil {
		return d.text, mark, reason, err
	}
	out, ok := d.remove(own)
	if !ok || !d.verify(out, without(d.list, own)) {
		return d.text, mark, policy.ReasonBootstrapUnsupported, nil
	}
	return dropCreated(out, created), "", policy.ReasonBootstrapClusterRemoved, nil
}

// ensure adds cluster c as the first of the list, replacing gatemesh's
// own-th cluster if own >= 0, and verifies the edit.
func (d *bootstrapDoc) ensure(c *sdsCluster, own int) (string, policy.Reason, error) {
	if reason, err := d.readRestReason(); reason != "" || err != nil {
		return "", reason, err
	}
	reason, base, rest := policy.ReasonBootstrapClusterAdded, d, d.list
	if own >= 0 {
		reason, rest = policy.ReasonBootstrapClusterUpdated, without(d.list, own)
		cut, ok := d.remove(own)
		if !ok {
			return "", policy.ReasonBootstrapUnsupported, nil
		}
		if base, _, _ = parseBootstrap(cut); base == nil {
			return "", policy.ReasonBootstrapUnsupported, nil
		}
	}
	out, ok := base.add(c)
	if !ok || !d.verify(out, append([]any{c.value}, rest...)) {
		return "", policy.ReasonBootstrapUnsupported, nil
	}
	return out, reason, nil
}

// readRestReason is readRest as a reason to leave the bootstrap alone, or
// an InputError.
func (d *bootstrapDoc) readRestReason() (policy.Reason, error) {
	ok, err := d.readRest()
	switch {
	case err != nil:
		return "", yamlInputError(err)
	case !ok:
		return policy.ReasonBootstrapUnsupported, nil
	}
	return "", nil
}

// yamlInputError is the InputError for a bootstrap the YAML parser refused.
func yamlInputError(err error) error {
	return inputErrorf(bootstrapPath, "is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// without returns a copy of list without its i-th element.
func without(list []any, i int) []any {
	out := make([]any, 0, len(list)-1)
	out = append(out, list[:i]...)
	return append(out, list[i+1:]...)
}

// BootstrapHasCluster reports whether the Envoy bootstrap text defines a
// static cluster named name, whoever wrote it. A gateway whose bootstrap
// lacks the cluster the stamped Upstreams name is broken: Envoy rejects
// those Upstreams and their routes answer 503. It is false for text that is
// no bootstrap, and an *InputError for text that is not YAML.
func BootstrapHasCluster(text, name string) (bool, error) {
	if len(text) > MaxBootstrapBytes {
		return false, inputErrorf(bootstrapPath, "is larger than %d bytes", MaxBootstrapBytes)
	}
	d, reason, err := parseBootstrap(text)
	if err != nil {
		return false, yamlInputError(err)
	}
	return reason == "" && d.namedCluster(name, -1), nil
}
