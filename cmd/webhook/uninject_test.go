package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestUninjectLeavesWhatIsNotGatemeshs: an edited stamp is the user's and
// stays, and so does the bootstrap's SDS cluster while that Upstream keeps
// its sslConfig; without the Upstream, the cluster goes.
func TestUninjectLeavesWhatIsNotGatemeshs(t *testing.T) {
	edited := filepath.Join("..", "..", "pkg", "mutate", "testdata", "backend", "upstream-update-edited.in.yaml")
	code, out, stderr, _ := runCmd(t, "", "mutate", "-q", "-f", filepath.Join("..", "..", "pkg", "mutate", "testdata", "bootstrap", "flow.in.yaml"))
	if code != 0 {
		t.Fatalf("mutate: exit %d: %s", code, stderr)
	}
	bootstrap := filepath.Join("testdata", "uninject", "flow.mutated.yaml")
	golden(t, filepath.Join("uninject", "flow.mutated.yaml"), out)

	code, stdout, stderr, _ := runCmd(t, "", "uninject", "-f", bootstrap, "-f", edited)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, filepath.Join("uninject", "kept.golden"), transcript(code, "", strings.ReplaceAll(stderr, "../../", "")))
	if !strings.Contains(stdout, "gatemesh.io/bootstrap-cluster") || !strings.Contains(stdout, "gatemesh.io/mtls-hash") {
		t.Errorf("uninject removed the bootstrap cluster or the edited stamp:\n%s", stdout)
	}

	code, stdout, stderr, _ = runCmd(t, "", "uninject", "-f", bootstrap)
	if code != 0 || strings.Contains(stdout, "gatemesh.io/bootstrap-cluster") {
		t.Errorf("without the Upstream, exit %d and the cluster's mark is still there: %s\n%s", code, stderr, stdout)
	}
}

func TestUninjectRefusesDuplicateKeys(t *testing.T) {
	in := filepath.Join("testdata", "mutate", "duplicate-keys.in.yaml")
	code, stdout, stderr, _ := runCmd(t, "", "uninject", "-f", in)
	if code != 1 || stdout != "" || !strings.Contains(stderr, `line 9: key "name" is repeated`) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
