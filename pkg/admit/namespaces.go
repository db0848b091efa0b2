// Package admit adapts gatemesh's pure mutators to admission requests: it
// looks up what the mutators need from the API server, runs them, and turns
// their result into an admission response carrying a JSON patch.
package admit

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Namespaces looks up a namespace's labels.
type Namespaces interface {
	Namespace(ctx context.Context, name string) (policy.Namespace, error)
}

// CachedNamespaces reads namespaces' metadata through a controller-runtime
// reader, normally the manager's cache, so that an admission costs no API
// call. A namespace created a moment ago may not be in the cache yet; on a
// miss it asks Live, normally the manager's uncached API reader, when set.
type CachedNamespaces struct {
	Reader client.Reader
	Live   client.Reader
	// Synced, when set, reports whether the cache has synced; from then on
	// a namespace missing from it does not exist, and Live is not asked.
	Synced func() bool
}

var _ Namespaces = (*CachedNamespaces)(nil)

// NamespaceMetadata is the object CachedNamespaces reads: namespace metadata
// only, so the cache holds no namespace specs or statuses.
func NamespaceMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("Namespace"))
	m.APIVersion = "v1"
	return m
}

// Namespace returns the namespace named name.
func (c *CachedNamespaces) Namespace(ctx context.Context, name string) (policy.Namespace, error) {
	m := NamespaceMetadata()
	err := c.Reader.Get(ctx, client.ObjectKey{Name: name}, m)
	if apierrors.IsNotFound(err) && c.Live != nil && (c.Synced == nil || !c.Synced()) {
		err = c.Live.Get(ctx, client.ObjectKey{Name: name}, m)
	}
	if err != nil {
		return policy.Namespace{}, fmt.Errorf("failed to get namespace %q: %w", name, err)
	}
	return policy.Namespace{Name: name, Labels: m.Labels}, nil
}

// cacheOnly is implemented by Namespaces that can answer from their cache
// alone. The backend handler reads many namespaces for one review from the
// cache, and lets at most one of them reach the API server.
type cacheOnly interface {
	// CacheOnly returns lookups that never ask the API server: a namespace
	// missing from the cache is NotFound.
	CacheOnly() Namespaces
}

var _ cacheOnly = (*CachedNamespaces)(nil)

// CacheOnly returns c without Live.
func (c *CachedNamespaces) CacheOnly() Namespaces {
	return &CachedNamespaces{Reader: c.Reader}
}

// StaticNamespaces answers from a fixed map, for tests and offline use. A
// namespace missing from the map has no labels.
type StaticNamespaces map[string]map[string]string

var _ Namespaces = StaticNamespaces{}

// Namespace returns the namespace named name.
func (s StaticNamespaces) Namespace(_ context.Context, name string) (policy.Namespace, error) {
	return policy.Namespace{Name: name, Labels: s[name]}, nil
}
