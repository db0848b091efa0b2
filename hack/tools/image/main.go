// Command image writes gatemesh's container image from a static webhook
// binary, without a container runtime or a registry: one layer holding
// /webhook on an empty base, running as 65532:65532, as an OCI layout and
// as a docker-archive tarball. Every timestamp is zero and the layer is
// built in a fixed order, so the same binary gives the same digest.
//
//	go run . -binary ../../../bin/linux-amd64/webhook -out ../../../bin/image -tag ghcr.io/gatemesh/gatemesh:dev
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	binary := flag.String("binary", "", "the static webhook binary")
	out := flag.String("out", "", "directory for oci/ (an OCI layout) and gatemesh.tar (a docker archive)")
	tag := flag.String("tag", "ghcr.io/gatemesh/gatemesh:dev", "the image's name in the docker archive")
	arch := flag.String("arch", runtime.GOARCH, "the binary's architecture")
	check := flag.String("check", "", "instead of building: read the OCI layout in this directory, check the image runs as 65532:65532 with /webhook as its entrypoint, extract /webhook and run its version command")
	indexOf := flag.String("index-of", "", "instead of building: comma-separated OCI layouts of one image each (one per architecture), written as one multi-architecture image index in -out; prints the index's digest")
	flag.Parse()
	if *indexOf != "" {
		if err := writeIndex(strings.Split(*indexOf, ","), *out, *tag); err != nil {
			fmt.Fprintln(os.Stderr, "image:", err)
			os.Exit(1)
		}
		return
	}
	if *check != "" {
		if err := checkLayout(*check); err != nil {
			fmt.Fprintln(os.Stderr, "image:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*binary, *out, *tag, *arch); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(binary, out, tag, arch string) error {
	if binary == "" || out == "" {
		return fmt.Errorf("-binary and -out are required")
	}
	data, err := os.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("failed to read the binary: %w", err)
	}
	layer, err := binaryLayer(data)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return fmt.Errorf("failed to add the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = arch, "linux"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Entrypoint = []string{"/webhook"}
	cf.Config.Cmd = []string{"serve"}
	cf.Config.User = "65532:65532"
	cf.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://github.com/gatemesh/gatemesh", "org.opencontainers.image.licenses": "Apache-2.0"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return fmt.Errorf("failed to set the config: %w", err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)

	if err := os.RemoveAll(filepath.Join(out, "oci")); err != nil {
		return err
	}
	p, err := layout.Write(filepath.Join(out, "oci"), empty.Index)
	if err != nil {
		return fmt.Errorf("failed to write the OCI layout: %w", err)
	}
	if err := p.AppendImage(img); err != nil {
		return fmt.Errorf("failed to write the OCI layout: %w", err)
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("invalid -tag: %w", err)
	}
	if err := tarball.WriteToFile(filepath.Join(out, "gatemesh.tar"), ref, img); err != nil {
		return fmt.Errorf("failed to write the docker archive: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(digest)
	return nil
}

// binaryLayer is a layer holding the binary at /webhook, owned by root,
// with zero timestamps.
func binaryLayer(data []byte) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "webhook", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg,
		ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// checkLayout is what make image-verify asserts of a built image: one
// image in the layout, its config running as 65532:65532 with /webhook as
// the entrypoint, and /webhook, taken out of the layer, answering version
// (when the image is for this machine's architecture).
func checkLayout(dir string) error {
	img, err := onlyImage(dir)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if cf.Config.User != "65532:65532" {
		return fmt.Errorf("config user %q, want 65532:65532", cf.Config.User)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/webhook"}) {
		return fmt.Errorf("entrypoint %q, want [/webhook]", cf.Config.Entrypoint)
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	if len(layers) != 1 {
		return fmt.Errorf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tmp, err := os.MkdirTemp("", "gatemesh-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "webhook")
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("no /webhook in the layer")
		}
		if err != nil {
			return err
		}
		if h.Name != "webhook" {
			continue
		}
		if h.Uid != 0 || h.Mode&0o755 != 0o755 {
			return fmt.Errorf("/webhook: uid %d mode %o, want root-owned 0755", h.Uid, h.Mode)
		}
		f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, io.LimitReader(tr, h.Size)); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		break
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	if cf.Architecture != runtime.GOARCH {
		fmt.Printf("%s: user %s, entrypoint /webhook (%s image: not run on %s)\n", digest, cf.Config.User, cf.Architecture, runtime.GOARCH)
		return nil
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "webhook ") {
		return fmt.Errorf("/webhook version: %v: %s", err, out)
	}
	fmt.Printf("%s: user %s, /webhook version: %s", digest, cf.Config.User, out)
	return nil
}

// writeIndex writes the images of the given single-image OCI layouts as one
// OCI image index (a multi-architecture image) into the OCI layout out, each
// manifest with its platform, in the order given, and prints the index's
// digest: what a release pins. The layout names the index by the tag
// (org.opencontainers.image.ref.name), so tools that copy an OCI archive to
// a registry (skopeo copy --all oci-archive:...) find it by that name.
func writeIndex(layouts []string, out, tag string) error {
	if out == "" || len(layouts) == 0 {
		return fmt.Errorf("-index-of and -out are required")
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]string{}
	for _, dir := range layouts {
		img, err := onlyImage(dir)
		if err != nil {
			return err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		platform := cf.OS + "/" + cf.Architecture
		if prev, ok := seen[platform]; ok {
			return fmt.Errorf("%s and %s are both %s", prev, dir, platform)
		}
		seen[platform] = dir
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture}},
		})
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return fmt.Errorf("failed to write the OCI layout: %w", err)
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("invalid -tag: %w", err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.TagStr()})); err != nil {
		return fmt.Errorf("failed to write the OCI layout: %w", err)
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Println(digest)
	return nil
}

// onlyImage is the one image of an OCI layout that holds one.
func onlyImage(dir string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("%s: %d manifests, want 1", dir, len(m.Manifests))
	}
	return ii.Image(m.Manifests[0].Digest)
}
