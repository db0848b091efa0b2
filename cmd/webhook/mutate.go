package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
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
	files    []string
	nsLabels string
	quiet    bool
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
	fs.StringArrayVarP(&o.files, "filename", "f", nil, "manifest file (YAML or JSON, multi-document); - reads stdin; repeatable")
	fs.StringVar(&o.nsLabels, "namespace-labels", "", "labels every namespace is taken to carry, as k=v,k=v (for example istio.io/rev=1-28)")
	fs.BoolVar(&o.quiet, "quiet", false, "do not print a summary line per document on stderr")
	fs.Func("mesh-namespaces", "namespaces whose services are in the Istio mesh, as ns1,ns2, for Upstream and Backend targets (default: every namespace)",
		func(v string) (err error) { o.mesh, err = parseMeshNamespaces(v); return err })
	o.pf = addPolicyFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if len(o.files) == 0 {
			return usageError{errors.New("at least one -f FILENAME is required")}
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

	// Everything is mutated before anything is written, so a bad document
	// leaves stdout empty.
	var out bytes.Buffer
	var summary []string
	for _, name := range o.files {
		data, err := readInput(name, stdin)
		if err != nil {
			return err
		}
		docs, err := stream(data, pol, off)
		if err != nil {
			return fmt.Errorf("%s: %w", displayName(name), err)
		}
		for _, doc := range docs {
			if out.Len() > 0 {
				out.WriteString("---\n")
			}
			out.Write(doc.YAML)
			if r := doc.Result; r.Reason != "" {
				summary = append(summary, fmt.Sprintf("%s document %d: %s %s/%s: %s (%s)",
					displayName(name), r.Index+1, r.GroupVersionKind.Kind, r.Namespace, r.Name, r.Reason, r.Reason.Sentence()))
			}
		}
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
		return fmt.Errorf("failed to write output: %w", err)
	}
	if !o.quiet {
		for _, s := range summary {
			fmt.Fprintln(stderr, s)
		}
	}
	return nil
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("failed to read stdin: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("failed to read manifest: %w", err)
	}
	return data, nil
}

func displayName(name string) string {
	if name == "-" {
		return "<stdin>"
	}
	return name
}
