package install

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/admit"
)

// TestChartAppliesWithServerSideDryRun applies every object the chart
// renders in each certificate mode to the API server with a strict
// server-side dry-run, as `helm template | kubectl apply --server-side
// --dry-run=server -f -` would, into a namespace of the test's (Helm does
// not create it unless told to).
func TestChartAppliesWithServerSideDryRun(t *testing.T) {
	for _, mode := range certModes {
		t.Run(mode, func(t *testing.T) {
			ns := "helm-dry-run-" + mode
			createNamespace(t, ns)
			objs := renderChart(t, ns, chartModeSets(mode)...)
			applyKinds(t, objs, "PriorityClass")
			for _, o := range objs {
				if err := apply(t.Context(), admin, o, client.DryRunAll); err != nil {
					t.Errorf("%s %s was not accepted: %v", o.GetKind(), o.GetName(), err)
				}
			}
			pod := templatePod(t, objs)
			pod.Namespace = ns
			if err := admin.Create(t.Context(), pod, client.DryRunAll); err != nil {
				t.Errorf("the Deployment's pods would be refused: %v", err)
			}
		})
	}
}

// TestInstallInAnotherNamespace installs gatemesh in a namespace other
// than gatemesh-system, in each certificate mode, once from the overlay
// after `kustomize edit set namespace` and once from the chart: every
// object is applied for real, and the binary runs with the Deployment's
// args as that namespace's ServiceAccount, under exactly the RBAC the
// install grants (and in self mode the ValidatingAdmissionPolicy). It must
// become ready (self: generating its certificates in its own namespace and
// patching its caBundle; cert-manager: once its Certificate is Ready and the
// files are there, as cert-manager would make them), inject a gateway pod
// created through the API server, win the leader election and reconcile,
// serve /metrics to a token bound to gatemesh-metrics-reader (and 401
// without one), and be refused everything it was not granted.
func TestInstallInAnotherNamespace(t *testing.T) {
	for _, mode := range certModes {
		installs := map[string]func(ns string) []*unstructured.Unstructured{
			"kustomize": func(ns string) []*unstructured.Unstructured { return renderOverlayIn(t, mode, ns) },
			"helm":      func(ns string) []*unstructured.Unstructured { return renderChart(t, ns, chartModeSets(mode)...) },
		}
		for how, renderIn := range installs {
			t.Run(how+" "+mode, func(t *testing.T) {
				ns := how + "-" + mode + "-" + otherNamespace
				objs := renderIn(ns)
				createNamespace(t, ns)
				installForReal(t, objs)
				var cm certManagerFiles
				if mode == "cert-manager" {
					cm = issueLikeCertManager(t, ns)
				}
				run := startBinary(t, objs, ns, cm)
				var ca *x509.Certificate
				if mode == "self" {
					ca, _ = checkOneCAIn(t, ns)
				}
				run.checkInjects(t)
				run.checkReconciles(t, ns)
				run.checkMetrics(t, ns)
				checkRefused(t, ns, mode)
				if out := run.out.String(); strings.Contains(out, "forbidden") {
					t.Errorf("the binary was refused something it needs:\n%s", out)
				}
				run.terminate(t)
				if mode == "self" {
					checkCABundleMayChange(t, ns, ca.Raw)
				}
			})
		}
	}
}

// issueLikeCertManager does what cert-manager would for the install's
// serving Certificate in ns: the serving files (for the Service's name and
// 127.0.0.1) signed by a CA, and the Certificate Ready. It returns the files'
// directory and the CA for caBundle (what cainjector copies).
func issueLikeCertManager(t *testing.T, ns string) certManagerFiles {
	t.Helper()
	ca, caKey := newTestCA(t)
	dir := t.TempDir()
	writeServingFiles(t, dir, ca, caKey)
	setReadyCondition(t, types.NamespacedName{Namespace: ns, Name: certificateName},
		cmmeta.ConditionTrue, "Ready", "Certificate is up to date and has not expired")
	return certManagerFiles{certDir: dir, caBundle: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})}
}

// createNamespace creates ns unless it exists (envtest never deletes one:
// it runs no namespace controller).
func createNamespace(t *testing.T, ns string) {
	t.Helper()
	err := admin.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// installForReal applies every object but the webhook configuration
// (startBinary creates it, pointed at the binary) and deletes the
// cluster-wide ones when the test ends, so that the next install's
// bindings name its own ServiceAccount.
func installForReal(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "MutatingWebhookConfiguration" {
			continue
		}
		if err := apply(t.Context(), admin, o); err != nil {
			t.Fatalf("failed to apply %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		if o.GetNamespace() == "" && o.GetKind() != "Namespace" && o.GetKind() != "PriorityClass" {
			t.Cleanup(func() {
				if err := admin.Delete(context.Background(), o.DeepCopy()); err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("failed to delete %s %s: %v", o.GetKind(), o.GetName(), err)
				}
			})
		}
	}
}

// checkRefused checks that the ServiceAccount of the install in ns may do
// nothing beyond what it needs: no Secret but its own, no other webhook
// configuration, no field of its own but caBundle, no workloads.
func checkRefused(t *testing.T, ns, mode string) {
	t.Helper()
	sa := clientFor(t, asServiceAccountIn(ns))
	ctx := t.Context()
	other := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "not-gatemesh-" + ns}}
	if err := admin.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), other) })

	forbidden := map[string]func() error{
		"listing Secrets cluster-wide": func() error { return sa.List(ctx, &corev1.SecretList{}) },
		"listing Secrets in its own namespace": func() error {
			return sa.List(ctx, &corev1.SecretList{}, client.InNamespace(ns))
		},
		"reading another Secret in its own namespace": func() error {
			return sa.Get(ctx, types.NamespacedName{Namespace: ns, Name: "gatemesh-ca"}, &corev1.Secret{})
		},
		"updating another webhook configuration": func() error {
			var m admissionregistrationv1.MutatingWebhookConfiguration
			if err := admin.Get(ctx, client.ObjectKeyFromObject(other), &m); err != nil {
				return err
			}
			m.Labels = map[string]string{"x": "y"}
			return sa.Update(ctx, &m)
		},
		"deleting its own webhook configuration": func() error {
			return sa.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: webhookConfigName}})
		},
		"creating a pod": func() error {
			return sa.Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}},
			}, client.DryRunAll)
		},
		"changing its own Deployment": func() error {
			var d appsv1.Deployment
			if err := admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: "gatemesh"}, &d); err != nil {
				return err
			}
			return sa.Update(ctx, &d, client.DryRunAll)
		},
	}
	for what, do := range forbidden {
		if err := do(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: got %v, want Forbidden", what, err)
		}
	}

	if mode == "cert-manager" {
		// cainjector writes caBundle: gatemesh may not write its webhook
		// configuration at all, nor read any Secret.
		var m admissionregistrationv1.MutatingWebhookConfiguration
		if err := admin.Get(ctx, types.NamespacedName{Name: webhookConfigName}, &m); err != nil {
			t.Fatal(err)
		}
		if err := sa.Update(ctx, &m, client.DryRunAll); !apierrors.IsForbidden(err) {
			t.Errorf("updating its own webhook configuration: got %v, want Forbidden", err)
		}
		err := sa.Get(ctx, types.NamespacedName{Namespace: ns, Name: "gatemesh-serving-tls"}, &corev1.Secret{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("reading its serving certificate's Secret: got %v, want Forbidden (the kubelet mounts it)", err)
		}
		return
	}
	// RBAC lets it update its own webhook configuration; the
	// ValidatingAdmissionPolicy refuses every change but caBundle.
	refusedByPolicy := map[string]struct {
		change func(*admissionregistrationv1.MutatingWebhookConfiguration)
		want   string
	}{
		"a webhook's failurePolicy": {func(m *admissionregistrationv1.MutatingWebhookConfiguration) {
			ignore := admissionregistrationv1.Ignore
			m.Webhooks[0].FailurePolicy = &ignore
		}, "may change only the webhooks' clientConfig.caBundle"},
		"a webhook's URL": {func(m *admissionregistrationv1.MutatingWebhookConfiguration) {
			u := "https://attacker.example/mutate"
			m.Webhooks[0].ClientConfig.URL = &u
		}, "may change only the webhooks' clientConfig.caBundle"},
		"a webhook's namespaceSelector": {func(m *admissionregistrationv1.MutatingWebhookConfiguration) {
			m.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{}
		}, "may change only the webhooks' clientConfig.caBundle"},
		"a webhook removed": {func(m *admissionregistrationv1.MutatingWebhookConfiguration) {
			m.Webhooks = m.Webhooks[1:]
		}, "may change only the webhooks' clientConfig.caBundle"},
		"a label": {func(m *admissionregistrationv1.MutatingWebhookConfiguration) {
			m.Labels["gatemesh.io/x"] = "y"
		}, "may not change the labels"},
	}
	for what, tc := range refusedByPolicy {
		var err error
		// The API server starts enforcing a new policy within moments.
		_ = waitFor(10*time.Second, func() bool {
			var m admissionregistrationv1.MutatingWebhookConfiguration
			if err = admin.Get(ctx, types.NamespacedName{Name: webhookConfigName}, &m); err != nil {
				return false
			}
			tc.change(&m)
			err = sa.Update(ctx, &m, client.DryRunAll)
			return err != nil
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("changing %s: got %v, want the ValidatingAdmissionPolicy's refusal %q", what, err, tc.want)
		}
	}
}

// checkCABundleMayChange checks that the policy still lets the
// ServiceAccount replace caBundle (the binary did so when it started): here
// with the CA itself again, but decoded and re-encoded as a single
// certificate, a byte-different bundle.
func checkCABundleMayChange(t *testing.T, ns string, caDER []byte) {
	t.Helper()
	sa := clientFor(t, asServiceAccountIn(ns))
	var m admissionregistrationv1.MutatingWebhookConfiguration
	if err := admin.Get(t.Context(), types.NamespacedName{Name: webhookConfigName}, &m); err != nil {
		t.Fatal(err)
	}
	bundle := []byte("-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(caDER) + "\n-----END CERTIFICATE-----\n")
	for i := range m.Webhooks {
		m.Webhooks[i].ClientConfig.CABundle = bundle
	}
	if err := sa.Update(t.Context(), &m, client.DryRunAll); err != nil {
		t.Errorf("a caBundle-only update by gatemesh was refused: %v", err)
	}
}

// checkReconciles checks that the binary won the leader election (its Lease
// in ns) and that its reconciler works under the install's RBAC: an
// Upstream pointing at a namespace outside the mesh is left alone, and is
// stamped once that namespace joins the mesh, with no write to the
// Upstream in between.
func (r *binaryRun) checkReconciles(t *testing.T, ns string) {
	t.Helper()
	ctx := t.Context()
	var lease coordinationv1.Lease
	err := waitFor(30*time.Second, func() bool {
		return admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: admit.LeaderElectionID}, &lease) == nil &&
			lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != ""
	})
	if err != nil {
		t.Fatalf("no replica holds the Lease %s/%s; the binary's output:\n%s", ns, admit.LeaderElectionID, r.out.String())
	}
	suffix := rand.String(5)
	gateway, target := "recon-gw-"+suffix, "recon-target-"+suffix
	for _, n := range []string{gateway, target} {
		createNamespace(t, n)
	}
	up := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gloo.solo.io/v1", "kind": "Upstream",
		"metadata": map[string]any{"name": "httpbin", "namespace": gateway},
		"spec": map[string]any{"kube": map[string]any{
			"serviceName": "httpbin", "serviceNamespace": target, "servicePort": int64(8000),
		}},
	}}
	if err := admin.Create(ctx, up); err != nil {
		t.Fatal(err)
	}
	if _, has, _ := unstructured.NestedMap(up.Object, "spec", "sslConfig"); has {
		t.Fatalf("the Upstream was stamped before its target joined the mesh: %v", up.Object)
	}
	var nsObj corev1.Namespace
	if err := admin.Get(ctx, types.NamespacedName{Name: target}, &nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["istio.io/rev"] = "1-28"
	if err := admin.Update(ctx, &nsObj); err != nil {
		t.Fatal(err)
	}
	err = waitFor(30*time.Second, func() bool {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(up), up); err != nil {
			return false
		}
		_, has, _ := unstructured.NestedMap(up.Object, "spec", "sslConfig")
		return has
	})
	if err != nil {
		t.Fatalf("the reconciler did not stamp the Upstream when its target joined the mesh: %v; the binary's output:\n%s", up.Object, r.out.String())
	}
}
