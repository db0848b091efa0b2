package install

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// chartDir is the Helm chart, relative to this package.
var chartDir = repoRootPath("charts", "gatemesh")

// certModes are the chart's certificate modes, named as the overlays.
var certModes = []string{"cert-manager", "self"}

// otherNamespace is where the tests install gatemesh to prove that nothing
// still says gatemesh-system.
const otherNamespace = "platform-gatemesh"

// helmBinary returns the helm that `make test` builds (hack/helm.mk), from
// $HELM.
func helmBinary(t *testing.T) string {
	t.Helper()
	h := os.Getenv("HELM")
	if h == "" {
		t.Fatal("HELM is not set, so there is no helm to render the chart with.\n" +
			"Run `make test` (it builds helm into bin/helm/ once), or `make helm-bin` and set HELM=$(make -s helm-path).")
	}
	return h
}

// renderChart renders charts/gatemesh as `helm template gatemesh
// charts/gatemesh --namespace ns --set <sets>` does.
func renderChart(t *testing.T, ns string, sets ...string) []*unstructured.Unstructured {
	t.Helper()
	var args []string
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return renderChartArgs(t, ns, args...)
}

// renderChartArgs renders charts/gatemesh with more helm template flags.
func renderChartArgs(t *testing.T, ns string, flags ...string) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", "gatemesh", chartDir, "--namespace", ns}, flags...)
	var stderr bytes.Buffer
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return decodeYAMLStream(t, out)
}

// chartModeSets are the --set flags of an overlay's certificate mode.
func chartModeSets(mode string) []string { return []string{"certificates.mode=" + mode} }

func decodeYAMLStream(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				return objs
			}
			t.Fatalf("failed to decode the rendered chart: %v", err)
		}
		if m != nil {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

// renderOverlayIn renders manifests/overlays/<name> after `kustomize edit
// set namespace ns` there: a copy of manifests/ whose overlay says
// `namespace: ns`.
func renderOverlayIn(t *testing.T, name, ns string) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(repoRootPath("manifests"))); err != nil {
		t.Fatal(err)
	}
	k := filepath.Join(dir, "overlays", name, "kustomization.yaml")
	data, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^namespace: gatemesh-system$`)
	if !re.Match(data) {
		t.Fatalf("%s has no `namespace: gatemesh-system` line for kustomize edit set namespace to change", k)
	}
	if err := os.WriteFile(k, re.ReplaceAll(data, []byte("namespace: "+ns)), 0o600); err != nil {
		t.Fatal(err)
	}
	return render(t, filepath.Join(dir, "overlays", name))
}

// renderOverlayUnder renders a user's kustomization on top of
// manifests/overlays/<name> that sets `namespace: ns` and lists a copy of
// the overlay's namespace-replacements.yaml, as the README says.
func renderOverlayUnder(t *testing.T, name, ns string) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "gatemesh"), os.DirFS(repoRootPath("manifests"))); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(dir, "mine")
	if err := os.MkdirAll(user, 0o700); err != nil {
		t.Fatal(err)
	}
	repl, err := os.ReadFile(filepath.Join(dir, "gatemesh", "overlays", name, "namespace-replacements.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kust := "namespace: " + ns + "\nresources:\n- ../gatemesh/overlays/" + name + "\nreplacements:\n- path: namespace-replacements.yaml\n"
	for file, data := range map[string][]byte{"kustomization.yaml": []byte(kust), "namespace-replacements.yaml": repl} {
		if err := os.WriteFile(filepath.Join(user, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return render(t, user)
}

// helmOnlyLabels are the labels the chart adds to every object's metadata,
// after the manifests' app.kubernetes.io/name: they say which release and
// chart made the object, which kustomize has no notion of.
var helmOnlyLabels = []string{"app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"}

// generatedSuffix is the content hash kustomize's configMapGenerator
// appends to the policy ConfigMap's name.
var generatedSuffix = regexp.MustCompile(`^(gatemesh-policy)-[a-z0-9]{10}$`)

// normalize returns objs keyed by kind/namespace/name, with only what must
// differ between kustomize and Helm made equal:
//   - Helm's release labels are dropped (helmOnlyLabels);
//   - the policy ConfigMap's generated hash suffix is dropped, from its name
//     and from the Deployment's volume, and the chart's pod annotation
//     checksum/policy, which does the same job (rolling the pods when the
//     policy changes), is dropped;
//   - the policy file is compared as parsed YAML (the manifests' file has
//     comments);
//   - the Namespace object is dropped: Helm does not own the namespace it
//     installs into (helm install --create-namespace, or your own).
func normalize(t *testing.T, objs []*unstructured.Unstructured) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, o := range objs {
		o = o.DeepCopy()
		if o.GetKind() == "Namespace" {
			continue
		}
		if labels := o.GetLabels(); labels != nil {
			for _, l := range helmOnlyLabels {
				delete(labels, l)
			}
			o.SetLabels(labels)
		}
		if m := generatedSuffix.FindStringSubmatch(o.GetName()); m != nil && o.GetKind() == "ConfigMap" {
			o.SetName(m[1])
		}
		switch o.GetKind() {
		case "ConfigMap":
			if text, ok, _ := unstructured.NestedString(o.Object, "data", "config.yaml"); ok {
				var parsed any
				if err := yaml.Unmarshal([]byte(text), &parsed); err != nil {
					t.Fatalf("ConfigMap %s: %v", o.GetName(), err)
				}
				o.Object["data"] = map[string]any{"config.yaml (parsed)": parsed}
			}
		case "Deployment":
			unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations", "checksum/policy")
			if a, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "metadata", "annotations"); len(a) == 0 {
				unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations")
			}
			vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
			for _, v := range vols {
				if name, ok, _ := unstructured.NestedString(v.(map[string]any), "configMap", "name"); ok {
					if m := generatedSuffix.FindStringSubmatch(name); m != nil {
						_ = unstructured.SetNestedField(v.(map[string]any), m[1], "configMap", "name")
					}
				}
			}
			_ = unstructured.SetNestedSlice(o.Object, vols, "spec", "template", "spec", "volumes")
		}
		// Round-trip through JSON so that numbers compare alike (helm's
		// YAML gives int64 and float64, kustomize's JSON float64).
		data, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		out[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = m
	}
	return out
}

// TestChartRendersWhatKustomizeRenders: for each certificate mode, in the
// default namespace and in another one, the chart with its default values
// and the overlay render the same objects, but for what normalize drops.
// In another namespace both the overlay after `kustomize edit set
// namespace` and a user's kustomization on top of it are compared.
func TestChartRendersWhatKustomizeRenders(t *testing.T) {
	for _, mode := range certModes {
		for _, ns := range []string{systemNamespace, otherNamespace} {
			helm := normalize(t, renderChart(t, ns, chartModeSets(mode)...))
			kustomizations := map[string][]*unstructured.Unstructured{"kustomize edit set namespace": renderOverlayIn(t, mode, ns)}
			if ns == systemNamespace {
				kustomizations = map[string][]*unstructured.Unstructured{"the overlay as shipped": renderOverlay(t, mode)}
			} else {
				kustomizations["namespace: in a kustomization on top"] = renderOverlayUnder(t, mode, ns)
			}
			for how, objs := range kustomizations {
				t.Run(mode+" in "+ns+", "+how, func(t *testing.T) {
					if diff := cmp.Diff(normalize(t, objs), helm); diff != "" {
						t.Errorf("kustomize and helm render different objects (-kustomize,+helm):\n%s", diff)
					}
				})
			}
		}
	}
}

// TestNothingSaysGatemeshSystemInAnotherNamespace: installed elsewhere, no
// field of any object, from either tool, names gatemesh-system.
func TestNothingSaysGatemeshSystemInAnotherNamespace(t *testing.T) {
	for _, mode := range certModes {
		renders := map[string][]*unstructured.Unstructured{
			"helm":                   renderChart(t, otherNamespace, chartModeSets(mode)...),
			"kustomize edit set":     renderOverlayIn(t, mode, otherNamespace),
			"a kustomization on top": renderOverlayUnder(t, mode, otherNamespace),
		}
		for how, objs := range renders {
			t.Run(mode+", "+how, func(t *testing.T) {
				for _, o := range objs {
					data, err := json.Marshal(o.Object)
					if err != nil {
						t.Fatal(err)
					}
					if bytes.Contains(data, []byte(systemNamespace)) {
						t.Errorf("%s %s still names %s: %s", o.GetKind(), o.GetName(), systemNamespace, data)
					}
				}
			})
		}
	}
}

// TestChartPodMatchConditionIsItsPolicys: the chart's pod webhook sends the
// API server's pods exactly when the chart's own policy file selects them
// as gateway proxies (policy.PodMatchExpression), as pkg/policy checks for
// the manifests.
func TestChartPodMatchConditionIsItsPolicys(t *testing.T) {
	objs := renderChart(t, systemNamespace)
	text, _, _ := unstructured.NestedString(find(t, objs, "ConfigMap", "gatemesh-policy").Object, "data", "config.yaml")
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := policy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(cfg)
	if err != nil {
		t.Fatalf("the chart's policy file is invalid: %v", err)
	}
	want, err := policy.PodMatchExpression(pol.Config().Selection.GatewayProxies)
	if err != nil {
		t.Fatal(err)
	}
	hooks, _, _ := unstructured.NestedSlice(find(t, objs, "MutatingWebhookConfiguration", webhookConfigName).Object, "webhooks")
	var got []string
	for _, h := range hooks {
		hook := h.(map[string]any)
		if hook["name"] != "pods.gatemesh.io" {
			continue
		}
		conds, _, _ := unstructured.NestedSlice(hook, "matchConditions")
		for _, c := range conds {
			c := c.(map[string]any)
			got = append(got, c["name"].(string)+": "+strings.Join(strings.Fields(c["expression"].(string)), " "))
		}
	}
	if diff := cmp.Diff([]string{"gateway-proxy: " + strings.Join(strings.Fields(want), " ")}, got); diff != "" {
		t.Errorf("pods.gatemesh.io matchConditions (-want,+got):\n%s\nset webhooks.podMatchExpression in values.yaml to:\n%s", diff, want)
	}
}

// TestChartValuesAreChecked: values.schema.json refuses an unknown value
// and a value out of its enum, naming it, rather than rendering without it.
func TestChartValuesAreChecked(t *testing.T) {
	for name, tc := range map[string]struct{ set, want string }{
		"an unknown top-level value":   {"replica=3", "additional properties 'replica' not allowed"},
		"an unknown nested value":      {"image.digests=sha256:0", "additional properties 'digests' not allowed"},
		"a certificate mode not known": {"certificates.mode=vault", "/certificates/mode"},
		"a failurePolicy not known":    {"webhooks.failurePolicy=Retry", "/webhooks/failurePolicy"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(helmBinary(t), "template", "gatemesh", chartDir, "--set", tc.set).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("helm template --set %s: got %v\n%s\nwant an error with %q", tc.set, err, out, tc.want)
			}
		})
	}
}

// TestChartValues renders the chart with values other than the defaults and
// checks where each one lands; every object is then applied to the API
// server with a strict server-side dry-run, so the templates stay valid
// beyond the defaults.
func TestChartValues(t *testing.T) {
	const ns = "helm-values"
	digest := "sha256:" + strings.Repeat("ab", 32)
	objs := renderChartArgs(t, ns,
		"--set", "image.repository=registry.example.com/gatemesh", "--set", "image.tag=v9.9.9", "--set", "image.digest="+digest,
		"--set", "certificates.certManager.issuerRef.kind=ClusterIssuer", "--set", "certificates.certManager.issuerRef.name=corp-ca",
		"--set", "certificates.certManager.issuerRef.group=cert-manager.io",
		"--set", "webhooks.failurePolicy=Ignore", "--set", "webhooks.timeoutSeconds=10",
		"--set-json", `webhooks.podNamespaceSelectorExpressions=[{"key":"team","operator":"In","values":["edge"]}]`,
		"--set", "clientAuth.caSecretName=apiserver-client-ca", "--set", "clientAuth.certNames={kube-apiserver,apiserver-webhook}",
		"--set", "priorityClassName=", "--set", "podDisruptionBudget.enabled=false", "--set", "networkPolicy.enabled=false",
		"--set", "replicas=3", "--set", "logLevel=debug",
		"--set-json", `policy={"mesh":{"clusterID":"east"}}`,
		"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true",
		"--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule",
	)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
	}
	for kind, want := range map[string]int{
		"Issuer": 0, "Certificate": 1, "PriorityClass": 0, "PodDisruptionBudget": 0, "NetworkPolicy": 0,
		"ServiceMonitor": 1, "PrometheusRule": 1,
	} {
		if kinds[kind] != want {
			t.Errorf("%d %s objects, want %d", kinds[kind], kind, want)
		}
	}
	cert := find(t, objs, "Certificate", certificateName)
	ref, _, _ := unstructured.NestedStringMap(cert.Object, "spec", "issuerRef")
	if diff := cmp.Diff(map[string]string{"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "corp-ca"}, ref); diff != "" {
		t.Errorf("issuerRef (-want,+got):\n%s", diff)
	}
	dep := deployment(t, objs)
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	if want := "registry.example.com/gatemesh:v9.9.9@" + digest; c.Image != want {
		t.Errorf("image %q, want %q", c.Image, want)
	}
	for _, arg := range []string{"--client-ca=/var/run/gatemesh/client-ca/ca.crt", "--client-cert-names=kube-apiserver,apiserver-webhook", "--zap-log-level=debug"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %q lack %s", c.Args, arg)
		}
	}
	if pod.PriorityClassName != "" || *dep.Spec.Replicas != 3 {
		t.Errorf("priorityClassName %q, replicas %d; want none and 3", pod.PriorityClassName, *dep.Spec.Replicas)
	}
	hooks, _, _ := unstructured.NestedSlice(find(t, objs, "MutatingWebhookConfiguration", webhookConfigName).Object, "webhooks")
	policies := map[string]any{}
	for _, h := range hooks {
		hook := h.(map[string]any)
		policies[hook["name"].(string)] = hook["failurePolicy"]
		if fmt.Sprint(hook["timeoutSeconds"]) != "10" {
			t.Errorf("%s timeoutSeconds %v, want 10", hook["name"], hook["timeoutSeconds"])
		}
		if hook["name"] == "pods.gatemesh.io" {
			exprs, _, _ := unstructured.NestedSlice(hook, "namespaceSelector", "matchExpressions")
			if len(exprs) != 2 || exprs[1].(map[string]any)["key"] != "team" {
				t.Errorf("pod webhook matchExpressions %v, want the exclusion, then team In [edge]", exprs)
			}
		}
	}
	want := map[string]any{"pods.gatemesh.io": "Ignore", "backends.gatemesh.io": "Ignore", "backends-other.gatemesh.io": "Ignore",
		"bootstrap.gatemesh.io": "Ignore", "bootstrap-cleanup.gatemesh.io": "Ignore"}
	if diff := cmp.Diff(want, policies); diff != "" {
		t.Errorf("failurePolicy by webhook (-want,+got):\n%s", diff)
	}
	policyFile, _, _ := unstructured.NestedString(find(t, objs, "ConfigMap", "gatemesh-policy").Object, "data", "config.yaml")
	if !strings.Contains(policyFile, "clusterID: east") || !strings.HasPrefix(policyFile, "apiVersion: gatemesh.io/v1alpha1\nkind: Config\n") {
		t.Errorf("policy file:\n%s", policyFile)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(policyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := policy.ReadFile(path); err != nil || cfg.Mesh.ClusterID != "east" {
		t.Errorf("the policy file does not load as written: %v", err)
	}

	createNamespace(t, ns)
	for _, o := range objs {
		if o.GetAPIVersion() == "monitoring.coreos.com/v1" {
			continue // no Prometheus Operator CRDs in envtest
		}
		if err := apply(t.Context(), admin, o, client.DryRunAll); err != nil {
			t.Errorf("%s %s was not accepted: %v", o.GetKind(), o.GetName(), err)
		}
	}
}
