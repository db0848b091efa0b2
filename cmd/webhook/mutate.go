package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

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
		docs, results, err := mutateStream(data, pol, off)
		if err != nil {
			return fmt.Errorf("%s: %w", displayName(name), err)
		}
		for i, doc := range docs {
			if out.Len() > 0 {
				out.WriteString("---\n")
			}
			out.Write(doc)
			if r := results[i]; r.Reason != "" {
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

// mutateStream mutates every document of a YAML or JSON stream and returns
// each as YAML. Empty documents are dropped.
func mutateStream(data []byte, pol *policy.Policy, off mutate.Offline) ([][]byte, []mutate.DocumentResult, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	var results []mutate.DocumentResult
	for index := 0; ; index++ {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("document %d: failed to read: %w", index+1, err)
		}
		js, err := yaml.YAMLToJSON(chunk)
		if err != nil {
			return nil, nil, fmt.Errorf("document %d: invalid YAML: %w", index+1, err)
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue
		}
		out, res, err := mutate.Document(js, pol, off)
		if err != nil {
			return nil, nil, fmt.Errorf("document %d: %w", index+1, err)
		}
		res.Index = index
		y, err := yaml.JSONToYAML(out)
		if err != nil {
			return nil, nil, fmt.Errorf("document %d: internal error: failed to write YAML: %w", index+1, err)
		}
		docs = append(docs, y)
		results = append(results, res)
	}
	return docs, results, nil
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
