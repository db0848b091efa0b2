package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// manifestOptions are the input and output flags that mutate and uninject
// share, in kubectl's words.
type manifestOptions struct {
	files     []string
	recursive bool
	output    string
	quiet     bool
}

func (o *manifestOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.files, "filename", "f", nil,
		"manifest file or directory (YAML or JSON, multi-document, kind: List); - reads stdin; repeatable")
	fs.BoolVarP(&o.recursive, "recursive", "R", false, "read the directories given with -f recursively")
	fs.StringVarP(&o.output, "output", "o", "yaml", "output format: yaml or json")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "do not print a summary line per object on stderr")
}

func (o *manifestOptions) validate() error {
	if len(o.files) == 0 {
		return usageError{errors.New("at least one -f FILENAME is required")}
	}
	if o.output != "yaml" && o.output != "json" {
		return usageError{fmt.Errorf("--output must be yaml or json, not %q", o.output)}
	}
	return nil
}

// manifestExtensions are the files read from a directory, as kubectl reads
// them.
var manifestExtensions = []string{".json", ".yaml", ".yml"}

// inputs expands the -f names: a directory gives its manifest files in
// lexical order, and its subdirectories' too with -R.
func (o *manifestOptions) inputs() ([]string, error) {
	var names []string
	for _, name := range o.files {
		info, err := os.Stat(name)
		if name == "-" || err != nil || !info.IsDir() {
			names = append(names, name) // reading it reports the error
			continue
		}
		n := len(names)
		err = filepath.WalkDir(name, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && path != name && !o.recursive:
				return filepath.SkipDir
			case !d.IsDir() && slices.Contains(manifestExtensions, filepath.Ext(path)):
				names = append(names, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("failed to read directory %s: %w", name, err)
		}
		if len(names) == n {
			return nil, fmt.Errorf("%s: no manifests in the directory (files ending %s%s)", name,
				strings.Join(manifestExtensions, ", "), map[bool]string{false: "; -R reads subdirectories", true: ""}[o.recursive])
		}
	}
	return names, nil
}

// input is one manifest file, read.
type input struct {
	name string
	data []byte
}

// load reads every input, stdin at most once.
func (o *manifestOptions) load(stdin io.Reader) ([]input, error) {
	names, err := o.inputs()
	if err != nil {
		return nil, err
	}
	var ins []input
	for _, name := range names {
		data, err := readInput(name, stdin)
		if err != nil {
			return nil, err
		}
		ins = append(ins, input{name: displayName(name), data: data})
	}
	return ins, nil
}

// run applies fn to every object of every input. Everything is done before
// anything is written, so a bad document leaves stdout empty. A summary
// line per object goes to stderr.
func (o *manifestOptions) run(stdin io.Reader, stdout, stderr io.Writer, fn transform) error {
	ins, err := o.load(stdin)
	if err != nil {
		return err
	}
	return o.process(ins, stdout, stderr, fn)
}

// process is run on inputs already read.
func (o *manifestOptions) process(ins []input, stdout, stderr io.Writer, fn transform) error {
	var out bytes.Buffer
	var summary []string
	for _, in := range ins {
		docs, err := stream(in.data, fn)
		if err != nil {
			return fmt.Errorf("%s: %w", in.name, err)
		}
		for _, doc := range docs {
			if err := o.write(&out, doc.JSON); err != nil {
				return err
			}
			for _, r := range doc.Results {
				summary = append(summary, summaryLine(in.name, r))
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

// write appends one document to out: YAML documents separated by "---",
// or a stream of indented JSON objects.
func (o *manifestOptions) write(out *bytes.Buffer, doc []byte) error {
	if o.output == "json" {
		if err := json.Indent(out, doc, "", "  "); err != nil {
			return fmt.Errorf("internal error: failed to write JSON: %w", err)
		}
		out.WriteByte('\n')
		return nil
	}
	y, err := yaml.JSONToYAML(doc)
	if err != nil {
		return fmt.Errorf("internal error: failed to write YAML: %w", err)
	}
	if out.Len() > 0 {
		out.WriteString("---\n")
	}
	out.Write(y)
	return nil
}

// summaryLine says what happened to one object and why.
func summaryLine(file string, r documentResult) string {
	where := fmt.Sprintf("%s document %d", file, r.Index+1)
	if r.Item > 0 {
		where += fmt.Sprintf(" item %d", r.Item)
	}
	outcome, why := string(r.Reason), r.Why
	switch {
	case outcome == "":
		outcome = "unchanged"
		if why == "" {
			why = "not a kind gatemesh changes"
		}
	case why == "":
		why = r.Reason.Sentence()
	}
	return fmt.Sprintf("%s: %s %s/%s: %s (%s)", where, r.GroupVersionKind.Kind, r.Namespace, r.Name, outcome, why)
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
