package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var imageLine = regexp.MustCompile(`(?m)^\s+image: (\S+)$`)

// TestRun renders every overlay of the repository, as make release does,
// and checks each install.yaml names gatemesh's image at the release tag,
// or by digest when one is given, and nothing else of gatemesh's.
func TestRun(t *testing.T) {
	overlays := filepath.Join("..", "..", "manifests", "overlays")
	for _, tc := range []struct {
		name, digest, wantImage string
	}{
		{"tag", "", "ghcr.io/gatemesh/gatemesh:v1.2.3"},
		{"digest", "sha256:" + strings.Repeat("a", 64), "ghcr.io/gatemesh/gatemesh@sha256:" + strings.Repeat("a", 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			files, err := run(overlays, out, "v1.2.3", tc.digest)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(overlays)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != len(entries) || len(files) == 0 {
				t.Fatalf("wrote %v for %d overlays", files, len(entries))
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range imageLine.FindAllStringSubmatch(string(b), -1) {
					got = append(got, m[1])
				}
				if diff := cmp.Diff([]string{tc.wantImage}, got); diff != "" {
					t.Errorf("%s: images (-want,+got):\n%s", filepath.Base(f), diff)
				}
			}
		})
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	for _, tc := range []struct{ version, digest string }{
		{"", ""},
		{"1.2.3", ""},
		{"v1.2.3", "md5:abc"},
	} {
		if _, err := run(filepath.Join("..", "..", "manifests", "overlays"), t.TempDir(), tc.version, tc.digest); err == nil {
			t.Errorf("run(version %q, digest %q): no error", tc.version, tc.digest)
		}
	}
}
