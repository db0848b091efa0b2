package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// serveFunc starts the server with its final options. Tests pass their own
// to capture the options without starting anything.
type serveFunc func(ctx context.Context, o *serveOptions) error

const usage = `usage:
  webhook [serve] [flags]        serve admission requests (the default)
  webhook mutate -f FILE [flags] mutate manifests offline and print them as YAML

Run "webhook serve -h" or "webhook mutate -h" for the flags.
`

// run dispatches the subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, serveFn serveFunc) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, args, stderr, serveFn)
	case "mutate":
		err = runMutate(args, stdin, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "webhook: unknown command %q\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "webhook %s: %v\n", cmd, err)
		return 1
	}
}

// errUsage marks an error the flag package has already reported.
var errUsage = errors.New("usage error")
