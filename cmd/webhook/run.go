package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// serveFunc starts the server with its final options. Tests pass their own
// to capture the options without starting anything.
type serveFunc func(ctx context.Context, o *serveOptions) error

// usageError is a mistake in the command line: exit code 2, and a pointer
// to the help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// noArgs refuses positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}

// newRootCommand builds the command tree. Help goes to stdout, errors to
// stderr.
func newRootCommand(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, serveFn serveFunc) *cobra.Command {
	root := &cobra.Command{
		Use:   "webhook",
		Short: "gatemesh puts Envoy API gateway proxies into an Istio sidecar mesh",
		Long: `gatemesh is a mutating admission webhook that puts Envoy API gateway
proxies (Gloo Gateway, kgateway) into an Istio sidecar mesh: it injects
istio-proxy and sds into gateway proxy pods in namespaces labelled
gatemesh.io/injection=enabled, adds the gateway_proxy_sds cluster to their
Envoy bootstrap, and stamps Istio mTLS onto Gloo Upstreams and kgateway
Backends.

The Deployment runs "webhook serve". The other commands work offline on
manifests, the way the webhook would admit them.`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.AddCommand(
		newServeCommand(ctx, serveFn),
		newMutateCommand(),
		newUninjectCommand(),
		newCheckCommand(ctx),
		newVersionCommand(),
	)
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of gatemesh",
		Args:  noArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "webhook %s\n", version())
		},
	}
}

// releaseVersion is the version a release build stamps in with
// -ldflags "-X main.releaseVersion=v0.1.0" (make release); empty otherwise.
var releaseVersion string

// version is the release version, or else the module version Go's build
// info records, followed by the VCS revision the binary was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if releaseVersion != "" {
			return releaseVersion
		}
		return "unknown"
	}
	v := info.Main.Version
	if releaseVersion != "" {
		v = releaseVersion
	}
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	// A pseudo-version (v0.0.0-<time>-<rev12>[+dirty]) already names the
	// revision.
	if rev != "" && !strings.Contains(v, rev[:min(12, len(rev))]) {
		v += " " + rev + modified
	}
	return v
}

// run executes the command line and returns the process exit code: 0 on
// success, 1 when the command failed, 2 for a mistake in the command line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, serveFn serveFunc) int {
	root := newRootCommand(ctx, stdin, stdout, stderr, serveFn)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintf(stderr, "Error: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
		return 2
	}
	fmt.Fprintf(stderr, "Error: %s: %v\n", cmd.CommandPath(), err)
	return 1
}
