package install

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// TestOverlaysApplyWithServerSideDryRun renders every overlay and applies
// each object to the API server with a strict server-side dry-run, as
// `kubectl apply -k <overlay> --server-side --dry-run=server` would: the API
// server validates every object (the webhooks' CEL matchConditions
// included), and rejects any field its schema does not know.
func TestOverlaysApplyWithServerSideDryRun(t *testing.T) {
	// A namespaced object cannot be dry-run into a namespace that does not
	// exist, so the Namespace is created for real first, after its own
	// dry-run.
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			objs := renderOverlay(t, overlay)
			if len(objs) == 0 {
				t.Fatal("the overlay renders nothing")
			}
			ns := find(t, objs, "Namespace", systemNamespace)
			if err := apply(t.Context(), admin, ns, client.DryRunAll); err != nil {
				t.Fatalf("Namespace: %v", err)
			}
			if err := apply(t.Context(), admin, ns); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("failed to create the Namespace: %v", err)
			}
			for _, o := range objs {
				if err := apply(t.Context(), admin, o, client.DryRunAll); err != nil {
					t.Errorf("%s %s was not accepted: %v", o.GetKind(), o.GetName(), err)
				}
			}
			// The Namespace enforces the restricted Pod Security Standard,
			// and the API server's PodSecurity admission checks a pod made
			// from the Deployment's template against it; its Priority
			// admission needs the PriorityClass to exist.
			applyKinds(t, objs, "PriorityClass")
			if err := admin.Create(t.Context(), templatePod(t, objs), client.DryRunAll); err != nil {
				t.Errorf("the Deployment's pods would be refused: %v", err)
			}
		})
	}
	t.Run("a pod that may run as root is refused in the namespace", func(t *testing.T) {
		pod := templatePod(t, renderOverlay(t, "self"))
		pod.Spec.SecurityContext.RunAsNonRoot = nil
		err := admin.Create(t.Context(), pod, client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "restricted") {
			t.Errorf("got %v, want a PodSecurity refusal", err)
		}
	})
}

// templatePod returns a pod of the Deployment's template in its namespace.
func templatePod(t *testing.T, objs []*unstructured.Unstructured) *corev1.Pod {
	t.Helper()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "gatemesh-", Namespace: systemNamespace},
		Spec:       deployment(t, objs).Spec.Template.Spec,
	}
}

// TestDryRunRefusesMisspeltFields shows that the dry-run above has teeth:
// a misspelt field, in a built-in kind or in a cert-manager kind, is
// refused rather than dropped.
func TestDryRunRefusesMisspeltFields(t *testing.T) {
	objs := renderOverlay(t, "cert-manager")
	if err := apply(t.Context(), admin, find(t, objs, "Namespace", systemNamespace)); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		kind, name string
		path       []string
	}{
		"a Deployment with spec.replica":  {kind: "Deployment", name: "gatemesh", path: []string{"spec", "replica"}},
		"a Certificate with spec.dnsName": {kind: "Certificate", name: certificateName, path: []string{"spec", "dnsName"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := find(t, objs, tc.kind, tc.name).DeepCopy()
			if err := unstructured.SetNestedField(o.Object, "x", tc.path...); err != nil {
				t.Fatal(err)
			}
			err := apply(t.Context(), admin, o, client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), tc.path[len(tc.path)-1]) {
				t.Errorf("got %v, want an error naming the field", err)
			}
		})
	}
}

// TestOverlaysShape pins what the overlays must keep: the base's webhooks
// unchanged, the mode flag, and the names that tie objects together.
func TestOverlaysShape(t *testing.T) {
	base := readYAML(t, filepath.Join(repoRoot, "manifests", "base", "mutatingwebhookconfiguration.yaml"))
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			objs := renderOverlay(t, overlay)
			mwc := find(t, objs, "MutatingWebhookConfiguration", webhookConfigName)
			if diff := cmp.Diff(base.Object["webhooks"], mwc.Object["webhooks"]); diff != "" {
				t.Errorf("the overlay changes the base's webhooks (-base,+overlay):\n%s", diff)
			}
			dep := deployment(t, objs)
			if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
				t.Errorf("replicas %v, want 2", dep.Spec.Replicas)
			}
			args := dep.Spec.Template.Spec.Containers[0].Args
			if !slices.Contains(args, "--cert-mode="+overlay) {
				t.Errorf("args %q lack --cert-mode=%s", args, overlay)
			}
			checkPolicyConfigMap(t, objs, dep)
			switch overlay {
			case "cert-manager":
				checkCertManagerOverlay(t, objs, dep, mwc)
			case "self":
				checkSelfOverlay(t, objs, mwc)
			}
		})
	}
}

func checkCertManagerOverlay(t *testing.T, objs []*unstructured.Unstructured, dep *deploymentSpec, mwc *unstructured.Unstructured) {
	if got := mwc.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != systemNamespace+"/"+certificateName {
		t.Errorf("cert-manager.io/inject-ca-from is %q", got)
	}
	cert := find(t, objs, "Certificate", certificateName)
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	want := []string{serviceName + "." + systemNamespace + ".svc", serviceName + "." + systemNamespace + ".svc.cluster.local"}
	if diff := cmp.Diff(want, dnsNames); diff != "" {
		t.Errorf("serving Certificate dnsNames (-want,+got):\n%s", diff)
	}
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	mountPath := ""
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secretName {
			for _, m := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
				if m.Name == v.Name {
					mountPath = m.MountPath
				}
			}
		}
	}
	if args := dep.Spec.Template.Spec.Containers[0].Args; mountPath == "" || !slices.Contains(args, "--cert-dir="+mountPath) {
		t.Errorf("the Secret %s is not mounted at --cert-dir (mounted at %q, args %q)", secretName, mountPath, args)
	}
	for _, kind := range []string{"Issuer"} {
		for _, name := range []string{"gatemesh-selfsigned", "gatemesh-ca"} {
			find(t, objs, kind, name)
		}
	}
	find(t, objs, "Certificate", "gatemesh-ca")
}

func checkSelfOverlay(t *testing.T, objs []*unstructured.Unstructured, mwc *unstructured.Unstructured) {
	find(t, objs, "Secret", selfSecretName)
	role := find(t, objs, "Role", "gatemesh-certs")
	clusterRole := find(t, objs, "ClusterRole", "gatemesh-webhook-config")
	for _, r := range []*unstructured.Unstructured{role, clusterRole} {
		rules, _, _ := unstructured.NestedSlice(r.Object, "rules")
		for _, rule := range rules {
			names, _, _ := unstructured.NestedStringSlice(rule.(map[string]any), "resourceNames")
			if len(names) != 1 || (names[0] != selfSecretName && names[0] != mwc.GetName()) {
				t.Errorf("%s %s: a rule is not limited to gatemesh's own object: resourceNames %q", r.GetKind(), r.GetName(), names)
			}
		}
	}
}

// checkPolicyConfigMap checks that the policy file the Deployment mounts is
// one gatemesh accepts.
func checkPolicyConfigMap(t *testing.T, objs []*unstructured.Unstructured, dep *deploymentSpec) {
	var cmName string
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	if !strings.HasPrefix(cmName, "gatemesh-policy") {
		t.Fatalf("the Deployment mounts no policy ConfigMap (found %q)", cmName)
	}
	data, _, _ := unstructured.NestedString(find(t, objs, "ConfigMap", cmName).Object, "data", "config.yaml")
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := policy.ReadFile(path)
	if err == nil {
		_, err = policy.New(cfg)
	}
	if err != nil {
		t.Errorf("the shipped policy file is invalid: %v", err)
	}
}

// deploymentSpec is the part of a Deployment these checks read.
type deploymentSpec struct {
	Spec struct {
		Replicas *int32 `json:"replicas"`
		Template struct {
			Spec corev1.PodSpec `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

func deployment(t *testing.T, objs []*unstructured.Unstructured) *deploymentSpec {
	t.Helper()
	var d deploymentSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(t, objs, "Deployment", "gatemesh").Object, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}
