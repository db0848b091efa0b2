package mesh

import (
	"fmt"
	"os"
	"strings"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// binaries are the local builds of the images the suite runs, from the
// MESH_* variables hack/mesh.mk sets for `make test` and `make mesh-test`.
type binaries struct {
	pilotDiscovery, pilotAgent string
	// sds maps an sds image reference to the build of its source at the
	// image's version.
	sds map[string]string
	// glooImage and kgatewayImage are the images of the two builds.
	glooImage, kgatewayImage string
}

// Where the images keep their programs (their Dockerfiles' entrypoints).
const (
	agentEntrypoint = "/usr/local/bin/pilot-agent"
	sdsEntrypoint   = "/usr/local/bin/sds"
)

// Image repositories whose builds the suite runs.
const (
	glooSDSRepo     = "quay.io/solo-io/sds"
	kgatewaySDSRepo = "cr.kgateway.dev/kgateway-dev/sds"
)

// loadBinaries reads the MESH_* variables and checks that every file
// exists. The error says how to build them.
func loadBinaries() (*binaries, error) {
	vars := []string{"MESH_PILOT_DISCOVERY", "MESH_PILOT_AGENT", "MESH_GLOO_SDS", "MESH_GLOO_SDS_VERSION",
		"MESH_KGATEWAY_SDS", "MESH_KGATEWAY_SDS_VERSION"}
	val := map[string]string{}
	var problems []string
	for _, v := range vars {
		val[v] = os.Getenv(v)
		switch {
		case val[v] == "":
			problems = append(problems, v+" is not set")
		case strings.HasSuffix(v, "_VERSION"):
		default:
			if _, err := os.Stat(val[v]); err != nil {
				problems = append(problems, fmt.Sprintf("%s=%s does not exist", v, val[v]))
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the real-mesh suite needs istiod, the Istio agent and both sds servers (%s): "+
			"run `make test` or `make mesh-test`, which build them once into bin/mesh/ (`make mesh-assets`, ~15-20 min cold) and set these variables",
			strings.Join(problems, "; "))
	}
	b := &binaries{
		pilotDiscovery: val["MESH_PILOT_DISCOVERY"],
		pilotAgent:     val["MESH_PILOT_AGENT"],
		glooImage:      glooSDSRepo + ":" + val["MESH_GLOO_SDS_VERSION"],
		kgatewayImage:  kgatewaySDSRepo + ":" + val["MESH_KGATEWAY_SDS_VERSION"],
	}
	b.sds = map[string]string{b.glooImage: val["MESH_GLOO_SDS"], b.kgatewayImage: val["MESH_KGATEWAY_SDS"]}
	return b, nil
}

// sdsBinary is the build of image, or an error naming the images the suite
// can run: it proves only what it builds.
func (b *binaries) sdsBinary(image string) (string, error) {
	if bin, ok := b.sds[image]; ok {
		return bin, nil
	}
	return "", fmt.Errorf("the pod's sds image %s is not one the suite builds (%s or %s)", image, b.glooImage, b.kgatewayImage)
}

// testPolicy is gatemesh's default policy except for the sds images: gloo
// for Gloo pods and kgateway for kgateway pods, images the suite builds.
func testPolicy(gloo, kgateway string) (*policy.Policy, error) {
	return policy.New(policy.Config{SDS: policy.SDSConfig{GlooImage: gloo, KgatewayImage: kgateway}})
}
