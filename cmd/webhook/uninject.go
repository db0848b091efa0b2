package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// The outcomes of uninject, as summary reasons.
const (
	reasonUninjected              policy.Reason = "uninjected"
	reasonNotInjected             policy.Reason = "not_injected"
	reasonNotStamped              policy.Reason = "not_stamped"
	reasonClusterKept             policy.Reason = "bootstrap_cluster_kept"
	whyNotInjected                              = "no gatemesh.io/status or gatemesh.io/adjusted annotation gatemesh wrote"
	whyNotStamped                               = "no gatemesh.io/mtls-hash marker"
	whyStampEdited                              = "the stamp was edited since gatemesh wrote it, so it is the user's now"
	reasonNoCluster               policy.Reason = "no_bootstrap_cluster"
	whyNoCluster                                = "no SDS cluster gatemesh added"
	whyClusterNeeded                            = "an Upstream in the input still has spec.sslConfig, which may use the cluster"
	whyUninjected                               = "removed the containers, volumes and annotations gatemesh.io/status lists"
	reasonRestored                policy.Reason = "restored"
	whyRestored                                 = "set the istio-proxy env values gatemesh.io/adjusted records back to the deployer's"
	upstreamKindName                            = "Upstream"
	sslConfigMember                             = "sslConfig"
	containersMember, initsMember               = "containers", "initContainers"
)

// uninjectOptions are the flags of uninject.
type uninjectOptions struct {
	manifests manifestOptions
}

func newUninjectCommand() *cobra.Command {
	o := &uninjectOptions{}
	cmd := &cobra.Command{
		Use:   "uninject -f FILENAME [flags]",
		Short: "Remove what gatemesh added to manifests, offline",
		Long: `Remove exactly what gatemesh added, and nothing else: from pods and pod
templates, the containers, volumes and annotations their gatemesh.io/status
annotation lists, and the deployer's values of the istio-proxy env vars
their gatemesh.io/adjusted annotation records (kgateway's own Istio
sidecars; a value edited since is kept); from Gloo Upstreams and kgateway
Backends, the stamped block and gatemesh.io/mtls* annotations while the
gatemesh.io/mtls-hash marker still matches them (an edited stamp is the
user's and stays); from Envoy bootstrap ConfigMaps, gatemesh's marked SDS
cluster, unless an Upstream in the input still has an sslConfig. "mutate"
then "uninject"
gives back the original manifests.`,
		Example: `  # Take a gateway out of the mesh in a GitOps repository
  webhook uninject -R -f deploy/gloo/ > gloo.yaml`,
		Args: noArgs,
	}
	o.manifests.addFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.manifests.validate(); err != nil {
			return err
		}
		return o.run(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func (o *uninjectOptions) run(stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := policy.ReadFile("")
	if err != nil {
		return err
	}
	pol, err := policy.New(cfg)
	if err != nil {
		return fmt.Errorf("internal error: the default policy is invalid: %w", err)
	}
	ins, err := o.manifests.load(stdin)
	if err != nil {
		return err
	}
	u := &uninjecter{pol: pol}
	// The first pass only learns whether an Upstream keeps an sslConfig.
	u.scan = true
	if err := o.manifests.process(ins, io.Discard, io.Discard, u.document); err != nil {
		return err
	}
	u.scan = false
	return o.manifests.process(ins, stdout, stderr, u.document)
}

// uninjecter removes what gatemesh added from one object at a time.
type uninjecter struct {
	pol *policy.Policy
	// scan: this pass only sets keepCluster.
	scan bool
	// keepCluster: an Upstream keeps an sslConfig after uninject.
	keepCluster bool
}

func (u *uninjecter) document(doc []byte) ([]byte, documentResult, error) {
	h, err := readHead(doc)
	if err != nil {
		return nil, documentResult{}, err
	}
	res := documentResult{GroupVersionKind: h.gvk, Namespace: h.namespace, Name: h.name}
	var out []byte
	switch gk := h.gvk.GroupKind(); {
	case gk == schema.GroupKind{Kind: "Pod"} && h.gvk.Version == "v1":
		out, res.Reason, res.Why, err = uninjectAt(doc, nil)
	case templatePaths[h.gvk] != nil:
		out, res.Reason, res.Why, err = uninjectAt(doc, templatePaths[h.gvk])
	case gk == schema.GroupKind{Kind: "ConfigMap"} && h.gvk.Version == "v1":
		out, res.Reason, res.Why, err = u.bootstrap(doc)
	case mutate.Stamps(h.gvk):
		out, res.Reason, res.Why, err = u.backend(doc)
		if err == nil && h.gvk.Kind == upstreamKindName {
			if ssl, _ := member(out, []string{"spec", sslConfigMember}); ssl != nil {
				u.keepCluster = true
			}
		}
	default:
		return doc, res, nil
	}
	if err != nil {
		return nil, res, err
	}
	return out, res, nil
}

// bootstrap removes gatemesh's marked SDS cluster from a bootstrap
// ConfigMap, unless an Upstream may still use it.
func (u *uninjecter) bootstrap(doc []byte) ([]byte, policy.Reason, string, error) {
	ops, reason, err := mutate.BootstrapPatch(doc, nil)
	switch {
	case err != nil:
		return nil, reason, "", err
	case reason == policy.ReasonNotBootstrap:
		return doc, "", "not an Envoy bootstrap", nil
	case len(ops) == 0 && reason == policy.ReasonNamespaceNotEnabled:
		return doc, reasonNoCluster, whyNoCluster, nil
	case len(ops) > 0 && u.keepCluster && !u.scan:
		return doc, reasonClusterKept, whyClusterNeeded, nil
	}
	out, err := applyPatch(doc, ops)
	if err != nil {
		return nil, reason, "", err
	}
	// The mark may have been the only annotation, added with the map.
	out, err = edit(out, func(obj map[string]any) {
		if meta, ok := obj["metadata"].(map[string]any); ok {
			dropEmpty(meta, "annotations")
		}
	})
	return out, reason, "", err
}

// edit decodes the object doc, lets fn change it and encodes it again.
func edit(doc []byte, fn func(map[string]any)) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return nil, fmt.Errorf("internal error: failed to decode the object: %w", err)
	}
	fn(obj)
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to encode the object: %w", err)
	}
	return out, nil
}

// backend removes gatemesh's stamp while its marker matches, with the
// mutator's own unstamp.
func (u *uninjecter) backend(doc []byte) ([]byte, policy.Reason, string, error) {
	b, err := mutate.ParseBackendObject(doc)
	if err != nil {
		return nil, "", "", err
	}
	facts := b.Facts(u.pol)
	switch {
	case !facts.Stamped:
		return doc, reasonNotStamped, whyNotStamped, nil
	case facts.Block == policy.BlockEdited:
		return doc, policy.ReasonStampEdited, whyStampEdited, nil
	}
	ops, reason, err := b.Patch(policy.BackendPlan{Action: policy.BackendUnstamp, Reason: policy.ReasonUnstamped})
	if err != nil {
		return nil, reason, "", err
	}
	out, err := applyPatch(doc, ops)
	return out, reason, "removed the stamp gatemesh.io/mtls-hash marks", err
}

// uninjectAt removes what gatemesh injected from the pod or pod template at
// path in doc (nil for doc itself), as its status annotation lists it.
func uninjectAt(doc []byte, path []string) ([]byte, policy.Reason, string, error) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return nil, "", "", fmt.Errorf("internal error: failed to decode the object: %w", err)
	}
	pod := obj
	for _, name := range path {
		next, ok := pod[name].(map[string]any)
		if !ok {
			return doc, reasonNotInjected, "no pod template", nil
		}
		pod = next
	}
	meta, _ := pod["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	strs := map[string]string{}
	for k, v := range annotations {
		if s, ok := v.(string); ok {
			strs[k] = s
		}
	}
	status, injected := mutate.ParseStatus(strs)
	adjusted, wasAdjusted := mutate.ParseAdjusted(strs)
	if !injected && !wasAdjusted {
		return doc, reasonNotInjected, whyNotInjected, nil
	}
	reason, why := reasonUninjected, whyUninjected
	if wasAdjusted {
		delete(annotations, mutate.AdjustedAnnotation)
		spec, _ := pod["spec"].(map[string]any)
		reason, why = reasonRestored, whyRestored
		if kept := restoreEnv(spec, adjusted); len(kept) > 0 {
			why += "; kept " + strings.Join(kept, ", ") + ", edited since"
		}
	}
	if injected {
		removeInjected(pod, annotations, status)
		reason, why = reasonUninjected, whyUninjected
	}
	dropEmpty(meta, "annotations")
	dropEmpty(pod, "metadata")
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, "", "", fmt.Errorf("internal error: failed to encode the object: %w", err)
	}
	return out, reason, why, nil
}

// restoreEnv sets the env vars of the container rec names back to the
// values rec records, where they still hold gatemesh's; it returns the names
// of those edited since, which it leaves alone.
func restoreEnv(spec map[string]any, rec mutate.Adjusted) []string {
	var kept []string
	containers, _ := spec[containersMember].([]any)
	for _, c := range containers {
		container, _ := c.(map[string]any)
		if name, _ := container["name"].(string); name != rec.Container {
			continue
		}
		env, _ := container["env"].([]any)
		for _, name := range slices.Sorted(maps.Keys(rec.Env)) {
			change := rec.Env[name]
			var found []map[string]any
			for _, e := range env {
				if v, _ := e.(map[string]any); v != nil && v["name"] == name {
					found = append(found, v)
				}
			}
			if len(found) != 1 || found[0]["valueFrom"] != nil || stringValue(found[0]) != change.To {
				kept = append(kept, name)
				continue
			}
			if change.From == "" {
				delete(found[0], "value") // as the API server stores an empty value
			} else {
				found[0]["value"] = change.From
			}
		}
		break
	}
	return kept
}

// stringValue is an env var's value, "" when absent.
func stringValue(env map[string]any) string {
	s, _ := env["value"].(string)
	return s
}

// removeInjected removes from the pod what status lists.
func removeInjected(pod, annotations map[string]any, status mutate.Status) {
	for _, k := range append(status.Annotations, mutate.StatusAnnotation) {
		delete(annotations, k)
	}
	if spec, ok := pod["spec"].(map[string]any); ok {
		for _, list := range []string{containersMember, initsMember} {
			removeNamed(spec, list, status.Containers)
		}
		removeNamed(spec, "volumes", status.Volumes)
		dropEmpty(spec, initsMember)
		dropEmpty(spec, "volumes")
	}
}

// removeNamed removes the elements of the list m[key] whose name is in
// names.
func removeNamed(m map[string]any, key string, names []string) {
	list, ok := m[key].([]any)
	if !ok {
		return
	}
	m[key] = slices.DeleteFunc(list, func(e any) bool {
		el, _ := e.(map[string]any)
		name, _ := el["name"].(string)
		return slices.Contains(names, name)
	})
}

// dropEmpty deletes m[key] when it is an empty map or list.
func dropEmpty(m map[string]any, key string) {
	switch v := m[key].(type) {
	case map[string]any:
		if len(v) == 0 {
			delete(m, key)
		}
	case []any:
		if len(v) == 0 {
			delete(m, key)
		}
	}
}
