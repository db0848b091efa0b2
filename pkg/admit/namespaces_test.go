package admit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// countingReader answers namespace Gets from a map of labels, counting
// them; a namespace missing from the map is NotFound.
type countingReader struct {
	client.Reader
	namespaces map[string]map[string]string
	gets       atomic.Int64
}

func (r *countingReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.gets.Add(1)
	l, ok := r.namespaces[key.Name]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, key.Name)
	}
	obj.SetName(key.Name)
	obj.SetLabels(l)
	return nil
}

// meshNamespaces names n namespaces prefix0 ... prefix<n-1>, all in the
// mesh.
func meshNamespaces(prefix string, n int) map[string]map[string]string {
	m := map[string]map[string]string{}
	for i := range n {
		m[fmt.Sprintf("%s%d", prefix, i)] = map[string]string{"istio-injection": "enabled"}
	}
	return m
}

// staticUpstreamReview is a CREATE of a static Upstream with one host in
// each of namespaces.
func staticUpstreamReview(namespaces []string) admission.Request {
	hosts := make([]string, len(namespaces))
	for i, ns := range namespaces {
		hosts[i] = fmt.Sprintf(`{"addr":"svc.%s.svc.cluster.local","port":80}`, ns)
	}
	raw := upstreamJSON(`{"static":{"hosts":[`+strings.Join(hosts, ",")+`]}}`, "")
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Kind: upstreamKind, Operation: admissionv1.Create, Namespace: "gloo-system", Name: "static",
		Object: runtime.RawExtension{Raw: []byte(raw)},
	}}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// TestBackendLookupsAreBounded reviews a static Upstream naming 1,000
// namespaces against a counting cache and API server: the review reads
// the cache at most once per namespace, stops at the first namespace
// outside the mesh, and costs at most one API call, none once the cache
// has synced.
func TestBackendLookupsAreBounded(t *testing.T) {
	const n = 1000
	inMesh := meshNamespaces("ns-", n)
	oneOut := meshNamespaces("ns-", n)
	oneOut["ns-500"] = map[string]string{}
	cases := map[string]struct {
		cache, live map[string]map[string]string
		synced      bool
		targets     []string
		reason      policy.Reason
		mtls        string
		// maxCacheGets and maxLiveGets bound the reads; wantLive is exact.
		maxCacheGets int64
		wantLive     int64
	}{
		"all in the mesh and cached: every namespace read from the cache, no API call": {
			cache: inMesh, live: inMesh, synced: true, targets: names("ns-", n),
			mtls: "istio", maxCacheGets: n, wantLive: 0,
		},
		"none exists, cache synced: no API call, and the second miss ends it": {
			cache: nil, live: nil, synced: true, targets: names("gone-", n),
			mtls: "disabled", maxCacheGets: 2, wantLive: 0,
		},
		"none cached, cache not synced: the second miss ends it before any API call": {
			cache: nil, live: inMesh, synced: false, targets: names("ns-", n),
			mtls: "disabled", maxCacheGets: 2, wantLive: 0,
		},
		"the one namespace not cached, cache not synced: one API call": {
			cache: nil, live: inMesh, synced: false, targets: names("ns-", 1),
			mtls: "istio", maxCacheGets: 2, wantLive: 1,
		},
		"one namespace just created, not yet cached: one API call finds it in the mesh": {
			cache: without(inMesh, "ns-7"), live: inMesh, synced: false, targets: names("ns-", n),
			mtls: "istio", maxCacheGets: n + 1, wantLive: 1,
		},
		"one namespace outside the mesh: the reads stop there": {
			cache: oneOut, live: oneOut, synced: true, targets: names("ns-", n),
			mtls: "disabled", maxCacheGets: n / 2, wantLive: 0,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cache, live := &countingReader{namespaces: tc.cache}, &countingReader{namespaces: tc.live}
			ns := &CachedNamespaces{Reader: cache, Live: live, Synced: func() bool { return tc.synced }}
			h := &BackendHandler{Policy: newBackendPolicy(t), Namespaces: ns}
			req := staticUpstreamReview(tc.targets)
			resp := h.Handle(context.Background(), req)
			if err := resp.Complete(req); err != nil { // encode the patch, as the endpoint does
				t.Fatal(err)
			}
			if !resp.Allowed {
				t.Fatalf("not allowed: %+v", resp.Result)
			}
			if got := mtlsStamp(t, resp); got != tc.mtls {
				t.Errorf("gatemesh.io/mtls stamped %q, want %q", got, tc.mtls)
			}
			if got := cache.gets.Load(); got > tc.maxCacheGets {
				t.Errorf("%d cache reads, want at most %d", got, tc.maxCacheGets)
			}
			if got := live.gets.Load(); got != tc.wantLive {
				t.Errorf("%d API calls, want %d", got, tc.wantLive)
			}
		})
	}
}

func without(m map[string]map[string]string, name string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for k, v := range m {
		if k != name {
			out[k] = v
		}
	}
	return out
}

// mtlsStamp is the gatemesh.io/mtls value resp's patch writes.
func mtlsStamp(t *testing.T, resp admission.Response) string {
	t.Helper()
	var ops []struct {
		Path  string
		Value json.RawMessage
	}
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatalf("patch %s: %v", resp.Patch, err)
	}
	for _, op := range ops {
		var ann map[string]string
		if op.Path == "/metadata/annotations" && json.Unmarshal(op.Value, &ann) == nil {
			return ann["gatemesh.io/mtls"]
		}
	}
	t.Fatalf("no annotations in patch %s", resp.Patch)
	return ""
}

func TestCachedNamespaces(t *testing.T) {
	labels := map[string]map[string]string{"web": {"a": "b"}}
	cases := map[string]struct {
		cache, live map[string]map[string]string
		synced      bool
		want        policy.Namespace
		notFound    bool
		wantLive    int64
	}{
		"a cached namespace":                          {cache: labels, synced: true, want: policy.Namespace{Name: "web", Labels: labels["web"]}},
		"a miss before the cache synced asks the API": {live: labels, want: policy.Namespace{Name: "web", Labels: labels["web"]}, wantLive: 1},
		"a miss once the cache synced does not exist": {live: labels, synced: true, notFound: true},
		"a miss the API server does not know either":  {notFound: true, wantLive: 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cache, live := &countingReader{namespaces: tc.cache}, &countingReader{namespaces: tc.live}
			c := &CachedNamespaces{Reader: cache, Live: live, Synced: func() bool { return tc.synced }}
			got, err := c.Namespace(context.Background(), "web")
			if tc.notFound {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("error = %v, want NotFound", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); !tc.notFound && diff != "" {
				t.Errorf("namespace mismatch (-want,+got):\n%s", diff)
			}
			if n := live.gets.Load(); n != tc.wantLive {
				t.Errorf("%d API calls, want %d", n, tc.wantLive)
			}
			if _, err := c.CacheOnly().Namespace(context.Background(), "web"); tc.cache == nil && !apierrors.IsNotFound(err) {
				t.Errorf("CacheOnly on a miss: error = %v, want NotFound", err)
			}
			if n := live.gets.Load(); n != tc.wantLive {
				t.Errorf("CacheOnly asked the API server")
			}
		})
	}
}
