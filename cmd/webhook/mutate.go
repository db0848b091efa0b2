package main

import (
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// offlineNamespaces answers the namespace lookups an API server would: every
// namespace carries the given labels plus the opt-in label; and every
// namespace is in the Istio mesh, or with --mesh-namespaces only those listed.
type offlineNamespaces struct {
	labels map[string]string
	// mesh is nil unless --mesh-namespaces was given.
	mesh sets.Set[string]
}

func (o offlineNamespaces) Namespace(name string) policy.Namespace {
	return policy.Namespace{Name: name, Labels: o.labels}
}

// InMesh reports whether the services in namespace name count as in the
// mesh, for Upstream and Backend targets.
func (o offlineNamespaces) InMesh(name string) bool {
	return o.mesh == nil || o.mesh.Has(name)
}

// parseMeshNamespaces parses --mesh-namespaces, a comma-separated list.
func parseMeshNamespaces(v string) (sets.Set[string], error) {
	mesh := sets.New[string]()
	for _, ns := range strings.Split(v, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			continue
		}
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", ns, strings.Join(msgs, "; "))
		}
		mesh.Insert(ns)
	}
	return mesh, nil
}

// mutateOptions are the flags of mutate.
type mutateOptions struct {
	manifests manifestOptions
	nsLabels  string
	// mesh is nil unless --mesh-namespaces was given.
	mesh sets.Set[string]
	pf   *policyFlags
}

func newMutateCommand() *cobra.Command {
	o := &mutateOptions{}
	cmd := &cobra.Command{
		Use:   "mutate -f FILENAME [flags]",
		Short: "Mutate manifests offline, the way the webhook would admit them",
		Long: `Mutate manifests offline, the way the webhook would admit them, and print
them: gateway proxy pods and pod templates get istio-proxy and sds, Envoy
bootstrap ConfigMaps get the SDS cluster, Gloo Upstreams and kgateway
Backends get Istio mTLS. Every other document is printed unchanged. Every
namespace is taken to be opted in. A summary line per document goes to
stderr; nothing goes to stdout unless every document succeeded.`,
		Example: `  # Inject a rendered chart before committing it
  helm template gloo gloo/gloo | webhook mutate -f - > gloo.yaml`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	o.manifests.addFlags(fs)
	fs.StringVar(&o.nsLabels, "namespace-labels", "", "labels every namespace is taken to carry, as k=v,k=v (for example istio.io/rev=1-28)")
	fs.Func("mesh-namespaces", "namespaces whose services are in the Istio mesh, as ns1,ns2, for Upstream and Backend targets (default: every namespace)",
		func(v string) (err error) { o.mesh, err = parseMeshNamespaces(v); return err })
	o.pf = addPolicyFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.manifests.validate(); err != nil {
			return err
		}
		return o.run(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func (o *mutateOptions) run(stdin io.Reader, stdout, stderr io.Writer) error {
	pol, err := o.pf.load()
	if err != nil {
		return err
	}
	set, err := labels.ConvertSelectorToLabelsMap(o.nsLabels)
	if err != nil {
		return fmt.Errorf("invalid --namespace-labels %q: %w", o.nsLabels, err)
	}
	off := offlineNamespaces{labels: pol.NamespaceLabels(), mesh: o.mesh}
	maps.Copy(off.labels, set)

	return o.manifests.run(stdin, stdout, stderr, func(doc []byte) ([]byte, documentResult, error) {
		return document(doc, pol, off)
	})
}
