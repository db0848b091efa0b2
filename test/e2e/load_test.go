package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/pkg/policy"
)

// Scenario 7 sizes.
const (
	loadPods      = 200
	loadUpstreams = 200
	loadWorkers   = 32
)

// Scenario 7: 200 gateway pods and 200 Upstreams created at once, 32 at a
// time, interleaved. Every request succeeds, and every stored object is
// mutated exactly as one created alone.
func TestManyConcurrentAdmissions(t *testing.T) {
	ctx := testCtx(t)
	c := suite.cp.Client
	podNS := namespace(t, "s7-gateways", optedIn())
	upstreamNS := namespace(t, "s7-upstreams", nil)
	mesh := namespace(t, "s7-httpbin", map[string]string{istioInjection: "enabled"})

	template := gatewayPod(t, podNS)
	jobs := make(chan client.Object)
	go func() {
		defer close(jobs)
		for i := range max(loadPods, loadUpstreams) {
			if i < loadPods {
				pod := template.DeepCopy()
				pod.GenerateName, pod.Name = "", fmt.Sprintf("gateway-proxy-%03d", i)
				jobs <- pod
			}
			if i < loadUpstreams {
				jobs <- upstream(fmt.Sprintf("httpbin-%03d", i), upstreamNS, mesh)
			}
		}
	}()

	var failed atomic.Int64
	errs := make(chan error, loadPods+loadUpstreams)
	var wg sync.WaitGroup
	start := time.Now()
	for range loadWorkers {
		wg.Go(func() {
			for obj := range jobs {
				reqCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
				if err := c.Create(reqCtx, obj); err != nil {
					failed.Add(1)
					errs <- fmt.Errorf("%s: %w", Describe(obj), err)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	took := time.Since(start)
	t.Logf("created %d pods and %d Upstreams, %d at a time, in %s (%.0f admissions/s)",
		loadPods, loadUpstreams, loadWorkers, took.Round(time.Millisecond), float64(loadPods+loadUpstreams)/took.Seconds())
	if n := failed.Load(); n > 0 {
		shown := 0
		for err := range errs {
			if shown++; shown <= 5 {
				t.Errorf("request failed: %v", err)
			}
		}
		t.Fatalf("%d of %d requests failed, want none", n, loadPods+loadUpstreams)
	}

	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(podNS)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != loadPods {
		t.Errorf("stored %d pods, want %d", len(pods.Items), loadPods)
	}
	bad := 0
	for i := range pods.Items {
		if diff := cmp.Diff([]string{"gateway-proxy", "istio-proxy", "sds"}, containerNames(&pods.Items[i])); diff != "" {
			if bad++; bad <= 5 {
				t.Errorf("pod %s not injected (-want,+got):\n%s", pods.Items[i].Name, diff)
			}
		}
	}
	// One pod checked in full: the others were checked for their
	// containers above, and they are the same pod.
	if len(pods.Items) > 0 {
		checkInjected(t, template, &pods.Items[0], "istiod.istio-system.svc:15012")
	}

	upstreams := &unstructured.UnstructuredList{}
	upstreams.SetGroupVersionKind(upstreamGVK.GroupVersion().WithKind("UpstreamList"))
	if err := c.List(ctx, upstreams, client.InNamespace(upstreamNS)); err != nil {
		t.Fatal(err)
	}
	if len(upstreams.Items) != loadUpstreams {
		t.Errorf("stored %d Upstreams, want %d", len(upstreams.Items), loadUpstreams)
	}
	bad = 0
	for i := range upstreams.Items {
		u := &upstreams.Items[i]
		got, _, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "sslConfig")
		ann := u.GetAnnotations()
		if diff := cmp.Diff(suite.cp.Policy.UpstreamSSLConfig(), got); diff != "" || ann[mtlsReasonAnnot] != string(policy.ReasonTargetInMesh) {
			if bad++; bad <= 5 {
				t.Errorf("Upstream %s not stamped: reason %q, sslConfig (-want,+got):\n%s", u.GetName(), ann[mtlsReasonAnnot], diff)
			}
		}
	}
}
