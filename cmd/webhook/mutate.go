package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// fileList is a repeatable -f flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

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

func runMutate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mutate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files fileList
	fs.Var(&files, "f", "manifest file (YAML or JSON, multi-document); - reads stdin; repeatable")
	nsLabels := fs.String("namespace-labels", "", "labels every namespace is taken to carry, as k=v,k=v (for example istio.io/rev=1-28)")
	quiet := fs.Bool("quiet", false, "do not print a summary line per document on stderr")
	var mesh sets.Set[string]
	fs.Func("mesh-namespaces", "namespaces whose services are in the Istio mesh, as ns1,ns2, for Upstream and Backend targets (default: every namespace)",
		func(v string) (err error) { mesh, err = parseMeshNamespaces(v); return err })
	pf := addPolicyFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if len(files) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: webhook mutate -f FILE [-f FILE ...] [flags]")
		return errUsage
	}
	pol, err := pf.load()
	if err != nil {
		return err
	}
	set, err := labels.ConvertSelectorToLabelsMap(*nsLabels)
	if err != nil {
		return fmt.Errorf("invalid --namespace-labels %q: %w", *nsLabels, err)
	}
	off := offlineNamespaces{labels: pol.NamespaceLabels(), mesh: mesh}
	maps.Copy(off.labels, set)

	// Everything is mutated before anything is written, so a bad document
	// leaves stdout empty.
	var out bytes.Buffer
	var summary []string
	for _, name := range files {
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
	if !*quiet {
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
