package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// TestUninjectRestoresTheDeployersValues: a kgateway pod whose istio-proxy
// gatemesh adjusted gets the deployer's values back, exactly; a value edited
// since gatemesh set it is kept.
func TestUninjectRestoresTheDeployersValues(t *testing.T) {
	in := filepath.Join("..", "..", "pkg", "mutate", "testdata", "pod", "kgateway-istio.in.yaml")
	code, adjusted, stderr, _ := runCmd(t, "", "mutate", "--namespace-labels", "istio.io/rev=1-28", "-f", in)
	if code != 0 || !strings.Contains(stderr, "adjusted") || !strings.Contains(adjusted, "istiod-1-28.istio-system.svc:15012") {
		t.Fatalf("mutate: exit %d: %s\n%s", code, stderr, adjusted)
	}
	code, back, stderr, _ := runCmd(t, adjusted, "uninject", "-f", "-")
	if code != 0 || !strings.Contains(stderr, "restored") {
		t.Fatalf("uninject: exit %d: %s", code, stderr)
	}
	original, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(values(t, string(original)), values(t, back)); diff != "" {
		t.Errorf("uninject(mutate(pod)) is not the pod (-want,+got):\n%s", diff)
	}

	edited := strings.Replace(adjusted, "value: istiod-1-28.istio-system.svc:15012", "value: ca.example:443", 1)
	if edited == adjusted {
		t.Fatal("the adjusted pod has no CA_ADDR to edit")
	}
	code, back, stderr, _ = runCmd(t, edited, "uninject", "-f", "-")
	if code != 0 || !strings.Contains(stderr, "kept CA_ADDR, edited since") {
		t.Fatalf("uninject: exit %d: %s", code, stderr)
	}
	if !strings.Contains(back, "ca.example:443") || strings.Contains(back, "gatemesh.io/adjusted") || strings.Contains(back, "istiod-1-28") {
		t.Errorf("uninject of an edited pod: want the edit kept, PROXY_CONFIG restored and the record gone:\n%s", back)
	}
}
