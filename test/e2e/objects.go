package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldOwner is the field manager of everything these helpers write, as
// kubectl's would be.
const FieldOwner = "gatemesh-e2e"

// ReadManifests decodes every object in the YAML files at path, a file or a
// directory (its .yaml and .yml files, in name order, not recursively), in
// order. Empty documents are skipped.
func ReadManifests(path string) ([]*unstructured.Unstructured, error) {
	files := []string{path}
	if info, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("failed to read manifests: %w", err)
	} else if info.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("failed to read manifests: %w", err)
		}
		files = files[:0]
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		slices.Sort(files)
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("failed to read manifests: %w", err)
		}
		docs, err := decodeYAML(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		objs = append(objs, docs...)
	}
	return objs, nil
}

func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read document %d: %w", i, err)
		}
		js, err := yaml.ToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("failed to decode document %d: %w", i, err)
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("failed to decode document %d: %w", i, err)
		}
		objs = append(objs, u)
	}
}

// Apply server-side applies obj as FieldOwner, like
// `kubectl apply --server-side`, and returns what the API server stored.
// obj is not modified.
func Apply(ctx context.Context, c client.Client, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out := obj.DeepCopy()
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(out), client.FieldOwner(FieldOwner)); err != nil {
		return nil, fmt.Errorf("failed to apply %s: %w", Describe(obj), err)
	}
	return out, nil
}

// Describe names obj as kubectl does: kind/name, with its namespace.
func Describe(obj client.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if obj.GetNamespace() == "" {
		return kind + " " + obj.GetName()
	}
	return kind + " " + obj.GetNamespace() + "/" + obj.GetName()
}

// EnsureNamespace creates the namespace name, or adds labels to it when it
// exists (kubectl create namespace, then kubectl label --overwrite).
func EnsureNamespace(ctx context.Context, c client.Client, name string, labels map[string]string) error {
	ns := &corev1.Namespace{}
	err := c.Get(ctx, client.ObjectKey{Name: name}, ns)
	switch {
	case apierrors.IsNotFound(err):
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		if err := c.Create(ctx, ns); err != nil {
			return fmt.Errorf("failed to create namespace %s: %w", name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("failed to get namespace %s: %w", name, err)
	}
	if len(labels) == 0 {
		return nil
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	for k, v := range labels {
		ns.Labels[k] = v
	}
	if err := c.Patch(ctx, ns, patch); err != nil {
		return fmt.Errorf("failed to label namespace %s: %w", name, err)
	}
	return nil
}

// PodFromTemplate is the pod a Deployment's ReplicaSet would create: its
// template's metadata and spec, named after the Deployment with a random
// suffix. envtest runs no controllers, so tests and the demo create it
// themselves. d is not modified.
func PodFromTemplate(d *appsv1.Deployment) *corev1.Pod {
	t := d.Spec.Template.DeepCopy()
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: d.Name + "-",
			Namespace:    d.Namespace,
			Labels:       t.Labels,
			Annotations:  t.Annotations,
		},
		Spec: t.Spec,
	}
}

// CreatePodFor reads the Deployment namespace/name as stored, with the API
// server's defaults, and creates the pod its ReplicaSet would. It returns
// the pod as stored.
func CreatePodFor(ctx context.Context, c client.Client, namespace, name string) (*corev1.Pod, error) {
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, d); err != nil {
		return nil, fmt.Errorf("failed to get deployment %s/%s: %w", namespace, name, err)
	}
	pod := PodFromTemplate(d)
	if err := c.Create(ctx, pod); err != nil {
		return nil, fmt.Errorf("failed to create a pod for deployment %s/%s: %w", namespace, name, err)
	}
	return pod, nil
}
