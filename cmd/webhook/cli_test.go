package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("failed to read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want,+got):\n%s", path, diff)
	}
}

func TestHelpGolden(t *testing.T) {
	for name, args := range map[string][]string{
		"root":    {"--help"},
		"serve":   {"serve", "--help"},
		"mutate":  {"mutate", "--help"},
		"version": {"version", "--help"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr, o := runCmd(t, "", args...)
			if code != 0 || stderr != "" || o != nil {
				t.Fatalf("exit %d, started %v, stderr %q", code, o != nil, stderr)
			}
			golden(t, filepath.Join("help", name+".txt"), stdout)
		})
	}
}

func TestNoArgumentsPrintsHelpAndServesNothing(t *testing.T) {
	code, stdout, stderr, o := runCmd(t, "")
	if code != 0 || o != nil || stderr != "" {
		t.Fatalf("exit %d, started %v, stderr %q", code, o != nil, stderr)
	}
	for _, cmd := range []string{"serve", "mutate", "uninject", "check", "version", "completion"} {
		if !regexp.MustCompile(`(?m)^  ` + cmd + ` `).MatchString(stdout) {
			t.Errorf("help does not list %q:\n%s", cmd, stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, _, _ := runCmd(t, "", args...)
		if code != 0 || !strings.HasPrefix(stdout, "webhook ") {
			t.Errorf("%v: exit %d, %q", args, code, stdout)
		}
	}
}

// TestReleaseVersion: a release build's -X main.releaseVersion is what
// version and --version print.
func TestReleaseVersion(t *testing.T) {
	defer func(v string) { releaseVersion = v }(releaseVersion)
	releaseVersion = "v9.8.7"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, _, _ := runCmd(t, "", args...)
		if code != 0 || !strings.HasPrefix(stdout, "webhook v9.8.7") {
			t.Errorf("%v: exit %d, %q; want webhook v9.8.7", args, code, stdout)
		}
	}
}

func TestCompletion(t *testing.T) {
	code, stdout, stderr, _ := runCmd(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(stdout, "__start_webhook") {
		t.Errorf("exit %d, stderr %q, %d bytes", code, stderr, len(stdout))
	}
}

// TestServeHelpShowsTheShutdownDelayDefault reads the default the way
// test/attack does: on a line after the flag's, before the next flag.
func TestServeHelpShowsTheShutdownDelayDefault(t *testing.T) {
	_, stdout, _, _ := runCmd(t, "", "serve", "-h")
	lines := strings.Split(stdout, "\n")
	for i, l := range lines {
		if !strings.Contains(l, "-shutdown-delay") {
			continue
		}
		for _, next := range lines[i+1:] {
			if strings.HasPrefix(strings.TrimSpace(next), "-") {
				break
			}
			if strings.Contains(next, "(default 5s)") {
				return
			}
		}
	}
	t.Errorf("no (default 5s) after --shutdown-delay:\n%s", stdout)
}
