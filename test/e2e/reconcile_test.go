package e2e

import (
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/gatemesh/gatemesh/pkg/admit"
	"github.com/gatemesh/gatemesh/pkg/policy"
	"github.com/gatemesh/gatemesh/pkg/reconcile"
)

// converge bounds how long the reconciler may take to follow a label.
const converge = 5 * time.Second

// startReplica starts one more gatemesh replica running the reconciler,
// on a port the API server does not call, electing its leader with the
// Lease named lease in default. Its writes carry manager as field manager.
func startReplica(t *testing.T, lease, manager string) *Webhook {
	t.Helper()
	return startReplicaIn(t, admit.LeaderElection{Enabled: true, Namespace: "default", ID: lease}, manager)
}

func startReplicaIn(t *testing.T, le admit.LeaderElection, manager string, opts ...WebhookOption) *Webhook {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	opts = append(opts, WithPort(port), WithReconciler(reconcile.Options{FieldManager: manager, SkipNameValidation: true}, le))
	w, err := suite.cp.StartWebhook(suite.ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Stop(); err != nil {
			t.Error(err)
		}
	})
	return w
}

// setLabel sets (value non-empty) or removes a namespace's label.
func setLabel(t *testing.T, ns, key, value string) {
	t.Helper()
	n := &corev1.Namespace{}
	ctx := testCtx(t)
	if err := suite.cp.Client.Get(ctx, client.ObjectKey{Name: ns}, n); err != nil {
		t.Fatal(err)
	}
	before := n.DeepCopy()
	if value == "" {
		delete(n.Labels, key)
	} else {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[key] = value
	}
	if err := suite.cp.Client.Patch(ctx, n, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
}

// waitStamp waits up to converge for the Upstream to carry mtls, and
// returns how long it took.
func waitStamp(t *testing.T, ns, name, mtls string) time.Duration {
	t.Helper()
	start := time.Now()
	for getObject(t, upstreamGVK, ns, name).GetAnnotations()[mtlsAnnotation] != mtls {
		if time.Since(start) > converge {
			t.Fatalf("Upstream %s/%s not stamped %s=%s within %s", ns, name, mtlsAnnotation, mtls, converge)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func createUpstream(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	if err := suite.cp.Client.Create(testCtx(t), u); err != nil {
		t.Fatal(err)
	}
}

// managers returns the field managers of the Upstream's managedFields.
func managers(t *testing.T, ns, name string) []string {
	t.Helper()
	var m []string
	for _, f := range getObject(t, upstreamGVK, ns, name).GetManagedFields() {
		m = append(m, f.Manager)
	}
	return m
}

// The seed walkthrough's order: Gloo's discovery writes the Upstream
// before httpbin's namespace joins the mesh. Labelling the namespace then
// stamps it, unlabelling unstamps it, and a user's own sslConfig is never
// touched.
func TestReconcileSeedOrder(t *testing.T) {
	startReplica(t, unique("seed-order"), "gatemesh")
	gw := namespace(t, "r-gateway", nil)
	target := namespace(t, "r-httpbin", nil)

	createUpstream(t, upstream("default-httpbin-8000", gw, target))
	checkStamp(t, getObject(t, upstreamGVK, gw, "default-httpbin-8000"), false, "disabled", policy.ReasonTargetNamespaceNotInMesh)
	user := upstream("user-tls", gw, target)
	userTLS := map[string]any{"sni": "httpbin.example", "secretRef": map[string]any{"name": "mine", "namespace": gw}}
	if err := unstructured.SetNestedField(user.Object, userTLS, "spec", "sslConfig"); err != nil {
		t.Fatal(err)
	}
	createUpstream(t, user)
	userBefore := getObject(t, upstreamGVK, gw, "user-tls")

	setLabel(t, target, revisionLabel, "1-28")
	took := waitStamp(t, gw, "default-httpbin-8000", "istio")
	checkStamp(t, getObject(t, upstreamGVK, gw, "default-httpbin-8000"), true, "istio", policy.ReasonTargetInMesh)
	t.Logf("stamped %s after the namespace joined the mesh", took.Round(time.Millisecond))

	setLabel(t, target, revisionLabel, "")
	took = waitStamp(t, gw, "default-httpbin-8000", "disabled")
	checkStamp(t, getObject(t, upstreamGVK, gw, "default-httpbin-8000"), false, "disabled", policy.ReasonTargetNamespaceNotInMesh)
	t.Logf("unstamped %s after the namespace left the mesh", took.Round(time.Millisecond))

	userAfter := getObject(t, upstreamGVK, gw, "user-tls")
	if diff := cmp.Diff(userBefore.Object, userAfter.Object); diff != "" {
		t.Errorf("the Upstream with the user's sslConfig changed (-want,+got):\n%s", diff)
	}
}

// Two replicas: only the elected one writes; once it stops, the other
// takes over.
func TestReconcileLeaderOnly(t *testing.T) {
	lease := unique("leader")
	replicas := map[string]*Webhook{"gatemesh-a": startReplica(t, lease, "gatemesh-a"), "gatemesh-b": startReplica(t, lease, "gatemesh-b")}
	leader, follower := "", ""
	select {
	case <-replicas["gatemesh-a"].Server.Manager.Elected():
		leader, follower = "gatemesh-a", "gatemesh-b"
	case <-replicas["gatemesh-b"].Server.Manager.Elected():
		leader, follower = "gatemesh-b", "gatemesh-a"
	case <-time.After(30 * time.Second):
		t.Fatal("no replica was elected within 30s")
	}
	gw := namespace(t, "r-leader-gateway", nil)
	target := namespace(t, "r-leader-httpbin", nil)
	names := []string{"u1", "u2", "u3"}
	for _, n := range names {
		createUpstream(t, upstream(n, gw, target))
	}
	setLabel(t, target, revisionLabel, "1-28")
	for _, n := range names {
		waitStamp(t, gw, n, "istio")
		if m := managers(t, gw, n); !slices.Contains(m, leader) || slices.Contains(m, follower) {
			t.Errorf("Upstream %s was written by %v, want %s (the leader) and not %s", n, m, leader, follower)
		}
	}

	if err := replicas[leader].Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-replicas[follower].Server.Manager.Elected():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not take over within 30s of the leader stopping", follower)
	}
	setLabel(t, target, revisionLabel, "")
	for _, n := range names {
		waitStamp(t, gw, n, "disabled")
		if m := managers(t, gw, n); !slices.Contains(m, follower) {
			t.Errorf("Upstream %s was written by %v after the takeover, want %s among them", n, m, follower)
		}
	}
}

// A gateway pod injected before its namespace moved to another Istio
// revision is reported, with an Event on the pod, and left running.
func TestReconcileStalePod(t *testing.T) {
	startReplica(t, unique("stale"), "gatemesh")
	ns := namespace(t, "r-stale", optedIn())
	pod := createPod(t, gatewayPod(t, ns))
	waitGauge(t, ns, 0)

	setLabel(t, ns, revisionLabel, "1-28")
	waitGauge(t, ns, 1)
	waitFor(t, "an Event on the stale pod", func() bool { return hasStaleEvent(t, ns, pod.Name) })
	if after := getPod(t, ns, pod.Name); after.UID != pod.UID {
		t.Errorf("the stale pod was replaced")
	}
	setLabel(t, ns, revisionLabel, "")
	waitGauge(t, ns, 0)
}

// waitGauge waits for gatemesh_stale_gateway_pods{namespace=ns} to be want.
func waitGauge(t *testing.T, ns string, want float64) {
	t.Helper()
	waitFor(t, "gatemesh_stale_gateway_pods to be set", func() bool {
		got, ok := staleGauge(t, ns)
		return ok && got == want
	})
}

func staleGauge(t *testing.T, ns string) (float64, bool) {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "gatemesh_stale_gateway_pods" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "namespace" && l.GetValue() == ns {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// The reconciler does its work as gatemesh's ServiceAccount under the RBAC
// of manifests/base, which both overlays apply: the Lease in
// gatemesh-system, the patch of an Upstream, the Event on a stale pod, the
// patch of a bootstrap.
func TestReconcileUnderTheManifestsRBAC(t *testing.T) {
	ctx := testCtx(t)
	if err := EnsureNamespace(ctx, suite.cp.Client, "gatemesh-system", nil); err != nil {
		t.Fatal(err)
	}
	objs, err := ReadManifests(filepath.Join(suite.cp.Root, "manifests/base/rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if _, err := Apply(ctx, suite.cp.Client, o); err != nil {
			t.Fatal(err)
		}
	}
	sa := rest.CopyConfig(suite.cp.Config)
	sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:gatemesh-system:gatemesh"}
	w := startReplicaIn(t, admit.LeaderElection{Enabled: true, Namespace: "gatemesh-system", ID: unique("rbac")}, "gatemesh", WithRestConfig(sa))
	select {
	case <-w.Server.Manager.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("not elected within 30s: no Lease in gatemesh-system")
	}

	gw := namespace(t, "r-rbac-gateway", optedIn())
	target := namespace(t, "r-rbac-httpbin", nil)
	createUpstream(t, upstream("default-httpbin-8000", gw, target))
	pod := createPod(t, gatewayPod(t, gw))
	setLabel(t, target, revisionLabel, "1-28")
	waitStamp(t, gw, "default-httpbin-8000", "istio")
	setLabel(t, gw, revisionLabel, "1-28")
	waitFor(t, "an Event on the stale pod", func() bool { return hasStaleEvent(t, gw, pod.Name) })

	boot := namespace(t, "r-rbac-bootstrap", nil)
	cm := chartConfigMap(t, chartPlain, boot)
	if err := suite.cp.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	setLabel(t, boot, injectionLabel, "enabled")
	waitFor(t, "the SDS cluster in the bootstrap", func() bool {
		return sdsCluster(t, getConfigMap(t, boot, cm.Name).Data["envoy.yaml"]) != nil
	})
}

func hasStaleEvent(t *testing.T, ns, pod string) bool {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := suite.cp.Client.List(testCtx(t), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		if e.Reason == reconcile.ReasonStalePod && e.Regarding.Name == pod {
			return true
		}
	}
	return false
}

// A gateway's bootstrap written before its namespace opted in gets the SDS
// cluster once it does, and loses it once the namespace opts out.
func TestReconcileBootstrap(t *testing.T) {
	startReplica(t, unique("bootstrap"), "gatemesh")
	ns := namespace(t, "r-bootstrap", nil)
	cm := chartConfigMap(t, chartPlain, ns)
	if err := suite.cp.Client.Create(testCtx(t), cm); err != nil {
		t.Fatal(err)
	}
	if c := sdsCluster(t, getConfigMap(t, ns, cm.Name).Data["envoy.yaml"]); c != nil {
		t.Fatalf("the bootstrap has the SDS cluster before its namespace opted in")
	}
	setLabel(t, ns, injectionLabel, "enabled")
	waitFor(t, "the SDS cluster in the bootstrap", func() bool {
		return sdsCluster(t, getConfigMap(t, ns, cm.Name).Data["envoy.yaml"]) != nil
	})
	setLabel(t, ns, injectionLabel, "")
	waitFor(t, "the SDS cluster gone from the bootstrap", func() bool {
		stored := getConfigMap(t, ns, cm.Name)
		_, marked := stored.Annotations[bootstrapMark]
		return sdsCluster(t, stored.Data["envoy.yaml"]) == nil && !marked
	})
}

// What changed while no replica reconciled is caught up on startup.
func TestReconcileOnStartup(t *testing.T) {
	gw := namespace(t, "r-startup-gateway", nil)
	target := namespace(t, "r-startup-httpbin", nil)
	createUpstream(t, upstream("default-httpbin-8000", gw, target))
	setLabel(t, target, revisionLabel, "1-28")
	time.Sleep(time.Second) // no reconciler runs: the Upstream keeps its old decision
	checkStamp(t, getObject(t, upstreamGVK, gw, "default-httpbin-8000"), false, "disabled", policy.ReasonTargetNamespaceNotInMesh)

	startReplica(t, unique("startup"), "gatemesh")
	waitStamp(t, gw, "default-httpbin-8000", "istio")
	checkStamp(t, getObject(t, upstreamGVK, gw, "default-httpbin-8000"), true, "istio", policy.ReasonTargetInMesh)
}
