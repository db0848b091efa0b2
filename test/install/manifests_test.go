package install

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	// The names the manifests give gatemesh's objects.
	systemNamespace   = "gatemesh-system"
	serviceAccount    = "gatemesh"
	webhookConfigName = "gatemesh"
	selfSecretName    = "gatemesh-webhook-certs"
	certificateName   = "gatemesh-serving"
	serviceName       = "gatemesh-webhook"

	fieldOwner = "gatemesh-install-test"
)

// overlays are the directories under manifests/overlays users apply.
var overlays = []string{"cert-manager", "self"}

// render builds a kustomization as `kubectl apply -k` would.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("failed to render %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range m.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("failed to read %s from %s: %v", r.CurId(), dir, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			t.Fatalf("failed to read %s from %s: %v", r.CurId(), dir, err)
		}
		objs = append(objs, u)
	}
	return objs
}

// repoRootPath returns the path of a file in the repository.
func repoRootPath(elem ...string) string {
	return filepath.Join(append([]string{repoRoot}, elem...)...)
}

// renderOverlay renders manifests/overlays/<name>.
func renderOverlay(t *testing.T, name string) []*unstructured.Unstructured {
	t.Helper()
	return render(t, filepath.Join(repoRoot, "manifests", "overlays", name))
}

// apply server-side-applies obj as `kubectl apply --server-side
// --validate=strict` would: unknown or duplicated fields are errors.
func apply(ctx context.Context, c client.Client, obj *unstructured.Unstructured, opts ...client.PatchOption) error {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	opts = append([]client.PatchOption{client.ForceOwnership, client.FieldOwner(fieldOwner), client.FieldValidation("Strict")}, opts...)
	return c.Patch(ctx, obj.DeepCopy(), client.RawPatch(types.ApplyPatchType, data), opts...)
}

// applyKinds applies, for real, the objects of the given kinds from objs.
func applyKinds(t *testing.T, objs []*unstructured.Unstructured, kinds ...string) {
	t.Helper()
	for _, o := range objs {
		for _, k := range kinds {
			if o.GetKind() == k {
				if err := apply(t.Context(), admin, o); err != nil {
					t.Fatalf("failed to apply %s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
		}
	}
}

// find returns the object of kind and name in objs, or fails.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the rendered manifests", kind, name)
	return nil
}

// asServiceAccount returns a config that acts as gatemesh's ServiceAccount,
// so that what it does is limited by the manifests' RBAC.
func asServiceAccount() *rest.Config {
	return asServiceAccountIn(systemNamespace)
}

// asServiceAccountIn returns a config that acts as the gatemesh
// ServiceAccount of an install in namespace ns.
func asServiceAccountIn(ns string) *rest.Config {
	cfg := rest.CopyConfig(adminCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccountUser(ns)}
	return cfg
}

// serviceAccountUser is the user name of the gatemesh ServiceAccount of an
// install in namespace ns.
func serviceAccountUser(ns string) string {
	return "system:serviceaccount:" + ns + ":" + serviceAccount
}

// readYAML reads a YAML file of one object.
func readYAML(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err = yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("failed to parse %s: %v", path, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatalf("failed to parse %s: %v", path, err)
	}
	return u
}
