package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// transcript is what a command printed and how it ended, as one golden.
func transcript(code int, stdout, stderr string) string {
	return fmt.Sprintf("# exit %d\n# stderr:\n%s# stdout:\n%s", code, stderr, stdout)
}

// TestMutateGolden runs mutate on every testdata/mutate/*.in.yaml and
// compares exit code, stderr and stdout with its .golden.
func TestMutateGolden(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join("testdata", "mutate", "*.in.yaml"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr, _ := runCmd(t, "", "mutate", "-f", in)
			golden(t, filepath.Join("mutate", name+".golden"), transcript(code, stdout, stderr))
		})
	}
}

func TestMutateDirectory(t *testing.T) {
	dir := filepath.Join("testdata", "mutate", "dir")
	for name, args := range map[string][]string{
		"dir":           {"mutate", "-f", dir},
		"dir-recursive": {"mutate", "-R", "-f", dir, "-o", "json"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr, _ := runCmd(t, "", args...)
			golden(t, filepath.Join("mutate", name+".golden"), transcript(code, stdout, stderr))
		})
	}
}
