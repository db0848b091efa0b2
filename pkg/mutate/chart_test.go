package mutate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// glooReference is the Gloo 1.17.38 chart's rendered gateway-proxy, without
// and with its Istio integration, read where it lies beside the repository
// (../shared, also in CI); it is not copied into this one.
const glooReference = "../../../shared/reference/gloo-1.17.38"

// chartObjects reads the Deployment and the bootstrap ConfigMap's JSON from
// one of the reference files.
func chartObjects(t *testing.T, file string) (*appsv1.Deployment, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(glooReference, file))
	if err != nil {
		t.Fatalf("failed to read the Gloo chart reference (../shared beside the repository): %v", err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var dep *appsv1.Deployment
	var cm []byte
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatal(err)
		}
		var kind struct{ Kind string }
		if err := json.Unmarshal(raw, &kind); err != nil {
			t.Fatal(err)
		}
		switch kind.Kind {
		case "Deployment":
			dep = &appsv1.Deployment{}
			if err := json.Unmarshal(raw, dep); err != nil {
				t.Fatal(err)
			}
		case "ConfigMap":
			cm = raw
		}
	}
	if dep == nil || cm == nil {
		t.Fatalf("%s: want a Deployment and a ConfigMap", file)
	}
	return dep, cm
}

// TestChartBootstrap takes the chart's bootstrap without Istio through
// gatemesh and compares it with the chart's own Istio integration: the same
// gateway_proxy_sds cluster, line for line, and the same bootstrap as
// values. The one difference is where the cluster sits in the list (first
// for gatemesh, after the xds cluster in the chart), which Envoy ignores.
func TestChartBootstrap(t *testing.T) {
	_, plain := chartObjects(t, "gateway-proxy.yaml")
	_, istio := chartObjects(t, "gateway-proxy-istio.yaml")
	plainText, _ := bootstrapOf(t, plain)
	istioText, _ := bootstrapOf(t, istio)

	ops, reason, err := BootstrapPatch(plain, chartPlan())
	if err != nil || reason != policy.ReasonBootstrapClusterAdded {
		t.Fatalf("BootstrapPatch = %s, %v", reason, err)
	}
	gotText, mark := bootstrapOf(t, applyStrict(t, plain, ops))
	if mark == "" {
		t.Error("no owner mark on the ConfigMap")
	}

	// Gatemesh inserted lines and changed no other byte; the lines it
	// inserted are the chart's, with the chart's indentation.
	if !isInsertion(plainText, gotText) {
		t.Fatal("gatemesh changed the chart's bootstrap beyond inserting its cluster")
	}
	at, inserted := insertedText(plainText, gotText)
	if plainText[:at]+inserted+plainText[at:] != gotText {
		t.Fatal("gatemesh's cluster is not whole lines inserted at one place")
	}
	i := strings.Index(istioText, "  - name: gateway_proxy_sds\n")
	if i < 0 {
		t.Fatal("the chart's Istio bootstrap has no gateway_proxy_sds cluster")
	}
	if chartLines := istioText[i : i+len(inserted)]; inserted != chartLines {
		t.Errorf("cluster lines mismatch (-chart,+gatemesh):\n%s", cmp.Diff(chartLines, inserted))
	}

	// As values: the cluster is equal, and so is the whole bootstrap once
	// the clusters are keyed by name.
	got, _, err := parseBootstrap(gotText)
	if err != nil || got == nil {
		t.Fatalf("failed to parse the result: %v", err)
	}
	want, _, err := parseBootstrap(istioText)
	if err != nil || want == nil {
		t.Fatalf("failed to parse the chart's bootstrap: %v", err)
	}
	for _, d := range []*bootstrapDoc{got, want} {
		if ok, err := d.readRest(); !ok || err != nil || len(d.rest) == 0 {
			t.Fatalf("failed to read the bootstrap outside its clusters: %v", err)
		}
	}
	if diff := cmp.Diff(clustersByName(t, want.list)["gateway_proxy_sds"], clustersByName(t, got.list)["gateway_proxy_sds"]); diff != "" {
		t.Errorf("gateway_proxy_sds mismatch (-chart,+gatemesh):\n%s", diff)
	}
	if diff := cmp.Diff(clustersByName(t, want.list), clustersByName(t, got.list)); diff != "" {
		t.Errorf("clusters mismatch (-chart,+gatemesh):\n%s", diff)
	}
	if diff := cmp.Diff(want.rest, got.rest); diff != "" {
		t.Errorf("bootstrap outside the clusters mismatch (-chart,+gatemesh):\n%s", diff)
	}
	if slices.IndexFunc(got.list, func(c any) bool { n, _ := clusterName(c); return n == "gateway_proxy_sds" }) != 0 {
		t.Error("gatemesh's cluster is not the first of the list")
	}
}

// insertedText is what long has that short has not, long being short with
// whole lines inserted at one place.
func insertedText(short, long string) (int, string) {
	i := 0
	for i < len(short) && short[i] == long[i] {
		i++
	}
	i = strings.LastIndexByte(short[:i], '\n') + 1
	return i, long[i : i+len(long)-len(short)]
}

func clustersByName(t *testing.T, list []any) map[string]any {
	t.Helper()
	m := make(map[string]any, len(list))
	for _, c := range list {
		n, ok := clusterName(c)
		if !ok {
			t.Fatalf("cluster without a name: %v", c)
		}
		m[n] = c
	}
	return m
}

// seedPolicy is the policy with the seed walkthrough's Helm values: the
// istiod of revision 1-21, cluster and mesh ID mycluster. Images stay
// gatemesh's defaults; the table lists them.
func seedPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.New(policy.Config{Mesh: policy.MeshConfig{
		DiscoveryAddress: "istiod-1-21.istio-system.svc:15012",
		ClusterID:        "mycluster",
		MeshID:           "mycluster",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestChartPod injects the chart's gateway-proxy pod without Istio and
// compares the containers and volumes gatemesh adds with those of the
// chart's Istio integration, field by field. The differences must be
// exactly the rows of the table in docs/bootstrap.md, which says why each
// one is there.
func TestChartPod(t *testing.T) {
	plain, _ := chartObjects(t, "gateway-proxy.yaml")
	istio, _ := chartObjects(t, "gateway-proxy-istio.yaml")
	pod := &corev1.Pod{ObjectMeta: plain.Spec.Template.ObjectMeta, Spec: plain.Spec.Template.Spec}
	pod.Namespace = plain.Namespace
	ns := policy.Namespace{Name: pod.Namespace, Labels: map[string]string{policy.DefaultNamespaceLabel: "enabled"}}
	pol := seedPolicy(t)
	got, reason := Pod(pod, pol.DecidePod(PodFactsOf(&pod.ObjectMeta, &pod.Spec), ns))
	if reason != policy.ReasonInjected {
		t.Fatalf("reason = %s, want %s", reason, policy.ReasonInjected)
	}
	want := istio.Spec.Template.Spec
	serverDefaults(&want)
	serverDefaults(&got.Spec)

	var diffs []chartDiff
	for _, name := range []string{policy.SDSContainer, policy.IstioProxyContainer} {
		c, w := containerNamed(got.Spec.Containers, name), containerNamed(want.Containers, name)
		if c == nil || w == nil {
			t.Fatalf("container %s: chart has it %v, gatemesh %v", name, w != nil, c != nil)
		}
		diffs = compareJSON(t, diffs, "containers["+name+"]", w, c)
	}
	for _, name := range policy.InjectedVolumes() {
		v, w := volumeNamed(got.Spec.Volumes, name), volumeNamed(want.Volumes, name)
		diffs = compareJSON(t, diffs, "volumes["+name+"]", w, v)
	}
	for _, w := range want.Volumes {
		if volumeNamed(plain.Spec.Template.Spec.Volumes, w.Name) == nil && volumeNamed(got.Spec.Volumes, w.Name) == nil {
			diffs = append(diffs, chartDiff{Field: "volumes[" + w.Name + "]", Chart: "(present)", Gatemesh: "(absent)"})
		}
	}
	table := readDiffTable(t, "../../README.md")
	if d := cmp.Diff(table, diffs); d != "" {
		var rows strings.Builder
		for _, r := range diffs {
			fmt.Fprintf(&rows, "| `%s` | `%s` | `%s` | ... |\n", r.Field, r.Chart, r.Gatemesh)
		}
		t.Errorf("differences from the chart's Istio integration do not match the table in docs/bootstrap.md (-table,+found):\n%s\nfound, as rows:\n%s", d, rows.String())
	}
}

// serverDefaults sets the defaults the API server stores for the fields of
// containers and volumes that gatemesh writes out and the chart leaves to
// the server, so that neither side differs by what the server would fill in.
func serverDefaults(spec *corev1.PodSpec) {
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if c.TerminationMessagePath == "" {
			c.TerminationMessagePath = corev1.TerminationMessagePathDefault
		}
		if c.TerminationMessagePolicy == "" {
			c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
		}
		for j := range c.Env {
			if f := c.Env[j].ValueFrom; f != nil && f.FieldRef != nil && f.FieldRef.APIVersion == "" {
				f.FieldRef.APIVersion = "v1"
			}
		}
		for j := range c.Ports {
			if c.Ports[j].Protocol == "" {
				c.Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if p == nil {
				continue
			}
			for _, f := range []struct {
				v   *int32
				def int32
			}{{&p.TimeoutSeconds, 1}, {&p.PeriodSeconds, 10}, {&p.SuccessThreshold, 1}, {&p.FailureThreshold, 3}} {
				if *f.v == 0 {
					*f.v = f.def
				}
			}
		}
	}
	mode := int32(corev1.ConfigMapVolumeSourceDefaultMode)
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		if v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil {
			v.ConfigMap.DefaultMode = &mode
		}
		if v.Projected != nil && v.Projected.DefaultMode == nil {
			v.Projected.DefaultMode = &mode
		}
	}
}

// chartDiff is one row of the table: a field and its value in the chart's
// Istio integration and in gatemesh's injection, as compact JSON, or
// (absent).
type chartDiff struct{ Field, Chart, Gatemesh string }

func containerNamed(cs []corev1.Container, name string) *corev1.Container {
	if i := slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == name }); i >= 0 {
		return &cs[i]
	}
	return nil
}

func volumeNamed(vs []corev1.Volume, name string) *corev1.Volume {
	if i := slices.IndexFunc(vs, func(v corev1.Volume) bool { return v.Name == name }); i >= 0 {
		return &vs[i]
	}
	return nil
}

// compareJSON appends the differences between chart and ours, compared as
// JSON: objects key by key, lists of named objects (env, ports, volume
// mounts) name by name, anything else as a whole.
func compareJSON(t *testing.T, diffs []chartDiff, path string, chart, ours any) []chartDiff {
	t.Helper()
	return walkDiff(diffs, path, generic(t, chart), generic(t, ours))
}

func generic(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func walkDiff(diffs []chartDiff, path string, a, b any) []chartDiff {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			diffs = walkDiff(diffs, path+"."+k, am[k], bm[k])
		}
		return diffs
	}
	if an, bn, ok := byName(a, b); ok {
		for _, n := range orderedNames(a, b) {
			diffs = walkDiff(diffs, path+"["+n+"]", an[n], bn[n])
		}
		return diffs
	}
	if as, bs := compact(a), compact(b); as != bs {
		diffs = append(diffs, chartDiff{Field: path, Chart: as, Gatemesh: bs})
	}
	return diffs
}

// byName keys two lists of objects that all have a name.
func byName(a, b any) (map[string]any, map[string]any, bool) {
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if (!aok && a != nil) || (!bok && b != nil) || (al == nil && bl == nil) {
		return nil, nil, false
	}
	index := func(l []any) (map[string]any, bool) {
		m := map[string]any{}
		for _, e := range l {
			o, ok := e.(map[string]any)
			n, _ := o["name"].(string)
			if !ok || n == "" {
				return nil, false
			}
			m[n] = e
		}
		return m, true
	}
	am, ok1 := index(al)
	bm, ok2 := index(bl)
	return am, bm, ok1 && ok2
}

func orderedNames(a, b any) []string {
	var names []string
	for _, l := range []any{a, b} {
		list, _ := l.([]any)
		for _, e := range list {
			if n := e.(map[string]any)["name"].(string); !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

func compact(v any) string {
	if v == nil {
		return "(absent)"
	}
	b, _ := json.Marshal(v) // decoded JSON always marshals
	return string(b)
}

// readDiffTable reads the table of differences from docs/bootstrap.md: the
// rows between the header "| Field | Gloo chart | gatemesh | Why |" and
// the next blank line, whose first three cells hold code spans.
func readDiffTable(t *testing.T, path string) []chartDiff {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| Field | Gloo chart | gatemesh | Why |\n")
	if !ok {
		t.Fatalf("%s has no table of differences", path)
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var rows []chartDiff
	for _, line := range strings.Split(table, "\n")[1:] {
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 4 {
			t.Fatalf("%s: a row needs four cells: %s", path, line)
		}
		unquote := func(s string) string {
			return strings.ReplaceAll(strings.Trim(strings.TrimSpace(s), "`"), `\|`, "|")
		}
		rows = append(rows, chartDiff{Field: unquote(cells[0]), Chart: unquote(cells[1]), Gatemesh: unquote(cells[2])})
	}
	return rows
}
