// Command release renders the install.yaml of each kustomize overlay under
// manifests/overlays for one version: the overlay as it is, with gatemesh's
// image set to that version's tag (and digest, when given). make release
// calls it; the files it writes are what a release attaches.
//
//	go run ./hack/release -version v0.1.0 -out bin/release/v0.1.0
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// imageName is the name the manifests give gatemesh's image; releases
// replace its tag.
const imageName = "ghcr.io/gatemesh/gatemesh"

func main() {
	version := flag.String("version", "", "the release version, e.g. v0.1.0")
	digest := flag.String("digest", "", "the image digest (sha256:...) to pin, if any")
	overlays := flag.String("overlays", "manifests/overlays", "the directory of kustomize overlays, one install.yaml each")
	out := flag.String("out", "", "directory for install-<overlay>.yaml")
	flag.Parse()
	files, err := run(*overlays, *out, *version, *digest)
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	for _, f := range files {
		fmt.Println(f)
	}
}

func run(overlays, out, version, digest string) ([]string, error) {
	if version == "" || out == "" {
		return nil, fmt.Errorf("-version and -out are required")
	}
	if !strings.HasPrefix(version, "v") {
		return nil, fmt.Errorf("-version %q: want a tag such as v0.1.0", version)
	}
	if digest != "" && !strings.HasPrefix(digest, "sha256:") {
		return nil, fmt.Errorf("-digest %q: want sha256:<hex>", digest)
	}
	entries, err := os.ReadDir(overlays)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no overlays in %s", overlays)
	}
	sort.Strings(names)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, name := range names {
		y, err := Render(filepath.Join(overlays, name), version, digest)
		if err != nil {
			return nil, fmt.Errorf("overlay %s: %w", name, err)
		}
		f := filepath.Join(out, "install-"+name+".yaml")
		if err := os.WriteFile(f, y, 0o644); err != nil {
			return nil, err
		}
		written = append(written, f)
	}
	return written, nil
}

// Render builds one overlay through a kustomization of its own that only
// sets the image, so the overlay in the repository is rendered unchanged
// otherwise. The result starts with a comment naming the version.
func Render(overlay, version, digest string) ([]byte, error) {
	abs, err := filepath.Abs(overlay)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "gatemesh-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	rel, err := filepath.Rel(tmp, abs) // kustomize takes a base only by a relative path
	if err != nil {
		return nil, err
	}
	image := fmt.Sprintf("- name: %s\n  newTag: %s\n", imageName, version)
	if digest != "" {
		image = fmt.Sprintf("- name: %s\n  digest: %s\n", imageName, digest)
	}
	k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- %s\nimages:\n%s", filepath.ToSlash(rel), image)
	if err := os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		return nil, err
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), tmp)
	if err != nil {
		return nil, err
	}
	y, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# gatemesh %s, manifests/overlays/%s (kubectl apply --server-side -f this file)\n", version, filepath.Base(abs))
	b.Write(y)
	return b.Bytes(), nil
}
