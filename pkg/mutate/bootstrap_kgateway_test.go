package mutate

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// kgatewayModule is the kgateway release whose deployer goldens the test
// reads from the Go module cache; they are not copied into this repository.
const kgatewayModule = "github.com/kgateway-dev/kgateway/v2@v2.2.0"

// moduleDir returns where the Go module cache holds mod (downloading it
// when it is not there yet).
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", mod).Output()
	if err != nil {
		t.Fatalf("failed to download %s: %v", mod, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("failed to find %s in the module cache: %v %s", mod, err, m.Error)
	}
	return m.Dir
}

// kgatewayBootstrap reads the bootstrap ConfigMap's JSON from one of
// kgateway's deployer goldens.
func kgatewayBootstrap(t *testing.T, dir, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "test", "deployer", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		raw, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		var cm struct {
			Kind string
			Data map[string]string
		}
		if err := json.Unmarshal(raw, &cm); err != nil {
			t.Fatal(err)
		}
		if _, ok := cm.Data[BootstrapKey]; cm.Kind == "ConfigMap" && ok {
			return raw
		}
	}
	t.Fatalf("%s: no bootstrap ConfigMap", file)
	return nil
}

// TestKgatewayBootstrap takes the bootstrap kgateway's deployer renders for
// a plain Gateway through gatemesh and compares it with the one it renders
// with its Istio integration: the same gateway_proxy_sds cluster and the
// same bootstrap, as values. kgateway appends the cluster, gatemesh puts it
// first; everything else in gatemesh's text is kgateway's, byte for byte.
func TestKgatewayBootstrap(t *testing.T) {
	dir := moduleDir(t, kgatewayModule)
	plain := kgatewayBootstrap(t, dir, "base-gateway-out.yaml")
	istio := kgatewayBootstrap(t, dir, "istio-enabled-out.yaml")
	plainText, _ := bootstrapOf(t, plain)
	istioText, _ := bootstrapOf(t, istio)

	ops, reason, err := BootstrapPatch(plain, chartPlan())
	if err != nil || reason != policy.ReasonBootstrapClusterAdded {
		t.Fatalf("BootstrapPatch = %s, %v", reason, err)
	}
	gotText, _ := bootstrapOf(t, applyStrict(t, plain, ops))
	if !isInsertion(plainText, gotText) {
		t.Fatal("gatemesh changed kgateway's bootstrap beyond inserting its cluster")
	}
	var docs [2]*bootstrapDoc
	for i, text := range []string{istioText, gotText} {
		d, _, err := parseBootstrap(text)
		if err != nil || d == nil {
			t.Fatalf("failed to parse a bootstrap: %v", err)
		}
		if ok, err := d.readRest(); !ok || err != nil || len(d.rest) == 0 {
			t.Fatalf("failed to read a bootstrap outside its clusters: %v", err)
		}
		docs[i] = d
	}
	want, got := docs[0], docs[1]
	if diff := cmp.Diff(clustersByName(t, want.list), clustersByName(t, got.list)); diff != "" {
		t.Errorf("clusters mismatch (-kgateway,+gatemesh):\n%s", diff)
	}
	if diff := cmp.Diff(want.rest, got.rest); diff != "" {
		t.Errorf("bootstrap outside the clusters mismatch (-kgateway,+gatemesh):\n%s", diff)
	}

	// kgateway's own cluster carries no gatemesh mark: gatemesh leaves it.
	if _, reason, err := BootstrapPatch(istio, chartPlan()); err != nil || reason != policy.ReasonBootstrapClusterForeign {
		t.Errorf("kgateway's Istio bootstrap: %s, %v; want %s", reason, err, policy.ReasonBootstrapClusterForeign)
	}
}
