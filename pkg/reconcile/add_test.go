package reconcile

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gatemesh/gatemesh/pkg/mutate"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// With neither CRD installed the reconciler still starts, without its
// backend controllers, and says which kinds it skipped.
func TestAddSkipsKindsWithoutCRD(t *testing.T) {
	pol, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		served []schema.GroupVersionKind
		want   []string
	}{
		"neither Gloo nor kgateway": {nil, []string{"Upstream", "Backend"}},
		"Gloo only":                 {[]schema.GroupVersionKind{mutate.UpstreamGVK}, []string{"Backend"}},
		"kgateway only":             {[]schema.GroupVersionKind{mutate.BackendGVK}, []string{"Upstream"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var skipped []string
			logger := funcr.New(func(_, args string) {
				if strings.Contains(args, "Skipping a backend kind") {
					mu.Lock()
					defer mu.Unlock()
					for _, k := range []string{"Upstream", "Backend"} {
						if strings.Contains(args, `"kind"="`+k+`"`) {
							skipped = append(skipped, k)
						}
					}
				}
			}, funcr.Options{})
			mapper := meta.NewDefaultRESTMapper(nil)
			for _, gvk := range tc.served {
				mapper.Add(gvk, meta.RESTScopeNamespace)
			}
			mgr, err := ctrl.NewManager(&rest.Config{Host: "https://127.0.0.1:1"}, ctrl.Options{
				Logger:         logger,
				Metrics:        metricsserver.Options{BindAddress: "0"},
				MapperProvider: func(*rest.Config, *http.Client) (meta.RESTMapper, error) { return mapper, nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := Add(mgr, Options{Policy: pol, SkipNameValidation: true}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, skipped); diff != "" {
				t.Errorf("kinds skipped (-want,+got):\n%s", diff)
			}
		})
	}
}
