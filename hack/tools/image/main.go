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
	"path/filepath"
	"runtime"
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
	flag.Parse()
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
