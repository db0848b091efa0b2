package mutate

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update rewrites every golden file under testdata from the current output:
//
//	go test ./pkg/mutate -run Golden -update
var update = flag.Bool("update", false, "rewrite golden files under testdata")

// checkGolden compares got with the golden file at path, or rewrites the file
// when -update is given.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("failed to read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want,+got); run with -update if the change is intended:\n%s", path, diff)
	}
}
