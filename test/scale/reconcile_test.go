package scale

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/admit"
	"github.com/gatemesh/gatemesh/pkg/policy"
	"github.com/gatemesh/gatemesh/pkg/reconcile"
	"github.com/gatemesh/gatemesh/test/e2e"
)

var (
	upstreams  = flag.Int("upstreams", 500, "Upstreams in all, spread evenly over -namespaces")
	namespaces = flag.Int("namespaces", 10, "namespaces, each holding its share of the Upstreams, which target it")
	qps        = flag.Float64("qps", 100, "the reconciler's client-side write rate limit (serve --reconcile-qps)")
	burst      = flag.Int("burst", 200, "the reconciler's write burst (serve --reconcile-burst)")
	flipOneMax = flag.Duration("flip-one-max", 10*time.Second, "longest one namespace's flip may take to converge")
	flipAllMax = flag.Duration("flip-all-max", 3*time.Minute, "longest flipping every other namespace may take to converge")
	maxHeap    = flag.Int("max-heap-mib", 200, "most live heap the process may hold with the reconciler running, MiB")
)

var upstreamGVK = schema.GroupVersionKind{Group: "gloo.solo.io", Version: "v1", Kind: "Upstream"}

const revisionLabel = "istio.io/rev"

// upstream is one Upstream as Gloo's discovery writes it, in ns, for a
// service of ns.
func upstream(ns string, i int) *unstructured.Unstructured {
	svc := fmt.Sprintf("svc-%d", i)
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{
			"name": fmt.Sprintf("%s-%s-8000", ns, svc), "namespace": ns,
			"labels": map[string]any{"discovered_by": "kubernetesplugin", "app": svc},
		},
		"spec": map[string]any{
			"discoveryMetadata": map[string]any{"labels": map[string]any{"app": svc}},
			"kube": map[string]any{
				"selector":    map[string]any{"app": svc},
				"serviceName": svc, "serviceNamespace": ns, "servicePort": int64(8000),
			},
		},
	}}
	u.SetGroupVersionKind(upstreamGVK)
	return u
}

func TestReconcileScale(t *testing.T) {
	per := *upstreams / *namespaces
	total := per * *namespaces
	if err := resetCounters(); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := e2e.Start(e2e.WithPolicy(pol), e2e.WithLogs(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx := t.Context()
	wh, err := cp.StartWebhook(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wh.Stop() })

	names := make([]string, *namespaces)
	for i := range names {
		names[i] = fmt.Sprintf("scale-%03d", i)
		if err := e2e.EnsureNamespace(ctx, cp.Client, names[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	parallel(t, total, 16, func(i int) error {
		return cp.Client.Create(ctx, upstream(names[i/per], i%per))
	})
	t.Logf("created %d Upstreams across %d namespaces through the webhook in %s", total, *namespaces, time.Since(start).Round(time.Millisecond))
	baseline := liveHeap()

	start = time.Now()
	startReconciler(t, ctx, cp)
	waitMetric(t, "startup", 5*time.Minute, "controller_runtime_reconcile_total", map[string]string{"controller": "gatemesh-Upstream"}, float64(total))
	startup := time.Since(start)
	if w := writes(t); w != 0 {
		t.Errorf("startup wrote %v Upstreams, want none: the webhook decided them all on creation", w)
	}
	t.Logf("startup: %d Upstreams re-decided in %s, none written", total, startup.Round(time.Millisecond))

	before := versions(t, ctx, cp.Client)
	start = time.Now()
	label(t, ctx, cp.Client, names[0])
	waitMetric(t, "one namespace's flip", *flipOneMax, "gatemesh_reconcile_writes_total", map[string]string{"kind": "Upstream"}, float64(per))
	one := time.Since(start)
	time.Sleep(time.Second) // a write past the count would show now
	after := versions(t, ctx, cp.Client)
	if got := changed(before, after); got != per {
		t.Errorf("flipping one namespace changed %d Upstreams, want its %d", got, per)
	}
	checkStamped(t, ctx, cp.Client, names[:1], "istio")
	t.Logf("flip one namespace: %d Upstreams written in %s, %d changed in all", per, one.Round(time.Millisecond), changed(before, after))

	before = after
	start = time.Now()
	parallel(t, len(names)-1, 8, func(i int) error { return labelErr(ctx, cp.Client, names[i+1]) })
	waitMetric(t, "every namespace's flip", *flipAllMax, "gatemesh_reconcile_writes_total", map[string]string{"kind": "Upstream"}, float64(total))
	all := time.Since(start)
	time.Sleep(time.Second)
	after = versions(t, ctx, cp.Client)
	if got := changed(before, after); got != total-per {
		t.Errorf("flipping the other namespaces changed %d Upstreams, want %d", got, total-per)
	}
	checkStamped(t, ctx, cp.Client, names, "istio")
	conflicts, _ := counter("gatemesh_reconcile_conflicts_total", nil)
	t.Logf("flip the other %d namespaces: %d Upstreams written in %s (%.0f/s) at --reconcile-qps %v, burst %d; %v conflicts",
		len(names)-1, total-per, all.Round(time.Millisecond), float64(total-per)/all.Seconds(), *qps, *burst, conflicts)

	live := liveHeap()
	t.Logf("memory: live heap %.1f MiB with the reconciler (%.1f MiB before it started: the reconciler holds %.1f MiB); peak RSS of the process %.1f MiB",
		mib(live), mib(baseline), mib(live)-mib(baseline), mib(peakRSS()))
	if mib(live) > float64(*maxHeap) {
		t.Errorf("live heap %.1f MiB, want under %d MiB", mib(live), *maxHeap)
	}
}

// startReconciler starts a replica running the reconciler, with the rate
// limits of -qps and -burst, on a port the API server does not call.
func startReconciler(t *testing.T, ctx context.Context, cp *e2e.ControlPlane) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	w, err := cp.StartWebhook(ctx, e2e.WithPort(port), e2e.WithReconciler(
		reconcile.Options{QPS: float32(*qps), Burst: *burst, SkipNameValidation: true},
		admit.LeaderElection{Enabled: true, Namespace: "default", ID: "scale"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
}

func writes(t *testing.T) float64 {
	t.Helper()
	n, err := counter("gatemesh_reconcile_writes_total", map[string]string{"kind": "Upstream"})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitMetric waits up to limit for the metric's sum to reach want.
func waitMetric(t *testing.T, what string, limit time.Duration, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got, err := counter(name, labels)
		if err != nil {
			t.Fatal(err)
		}
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s reached %v of %v within %s", what, name, got, want, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func label(t *testing.T, ctx context.Context, c client.Client, ns string) {
	t.Helper()
	if err := labelErr(ctx, c, ns); err != nil {
		t.Fatal(err)
	}
}

// labelErr puts ns in the mesh, as `kubectl label ns <ns> istio.io/rev=1-28`.
func labelErr(ctx context.Context, c client.Client, ns string) error {
	n := &corev1.Namespace{}
	n.Name = ns
	patch := []byte(`{"metadata":{"labels":{"` + revisionLabel + `":"1-28"}}}`)
	return c.Patch(ctx, n, client.RawPatch("application/merge-patch+json", patch))
}

// versions maps every Upstream to its resourceVersion.
func versions(t *testing.T, ctx context.Context, c client.Client) map[string]string {
	t.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(upstreamGVK.GroupVersion().WithKind("UpstreamList"))
	if err := c.List(ctx, list); err != nil {
		t.Fatal(err)
	}
	v := make(map[string]string, len(list.Items))
	for _, u := range list.Items {
		v[u.GetNamespace()+"/"+u.GetName()] = u.GetResourceVersion()
	}
	return v
}

func changed(before, after map[string]string) int {
	n := 0
	for k, v := range after {
		if before[k] != v {
			n++
		}
	}
	return n
}

// checkStamped checks that every Upstream in namespaces carries mtls.
func checkStamped(t *testing.T, ctx context.Context, c client.Client, namespaces []string, mtls string) {
	t.Helper()
	for _, ns := range namespaces {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(upstreamGVK.GroupVersion().WithKind("UpstreamList"))
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, u := range list.Items {
			if got := u.GetAnnotations()["gatemesh.io/mtls"]; got != mtls {
				t.Fatalf("Upstream %s/%s has gatemesh.io/mtls=%q, want %q", ns, u.GetName(), got, mtls)
			}
		}
	}
}

// parallel runs f(0..n-1) on workers goroutines and fails on the first error.
func parallel(t *testing.T, n, workers int, f func(int) error) {
	t.Helper()
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// liveHeap is the heap allocated after a collection: what is live.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func TestMain(m *testing.M) {
	flag.Parse()
	if _, err := e2e.AssetsDir(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: scale: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
