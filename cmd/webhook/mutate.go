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

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// fileList is a repeatable -f flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// offlineNamespaces answers the namespace lookups an API server would: every
// namespace carries the given labels plus the opt-in label.
type offlineNamespaces struct {
	labels map[string]string
}

func (o offlineNamespaces) Namespace(name string) policy.Namespace {
	return policy.Namespace{Name: name, Labels: o.labels}
}

func runMutate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mutate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files fileList
	fs.Var(&files, "f", "manifest file (YAML or JSON, multi-document); - reads stdin; repeatable")
	nsLabels := fs.String("namespace-labels", "", "labels every namespace is taken to carry, as k=v,k=v (for example istio.io/rev=1-28)")
	quiet := fs.Bool("quiet", false, "do not print a summary line per document on stderr")
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
	off := offlineNamespaces{labels: pol.NamespaceLabels()}
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
		docs, err := mutate.Stream(data, pol, off)
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
