package install

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/certs"
	"github.com/gatemesh/gatemesh/pkg/admit"
)

// lostWrite is what Self logs when the API server refused its write of the
// Secret because another replica's came first.
const lostWrite = "Another replica wrote the Secret first"

// setupSelf applies, for real, what the self overlay gives gatemesh: its
// Namespace, ServiceAccount, RBAC and empty Secret; and empties the Secret.
func setupSelf(t *testing.T) {
	t.Helper()
	applyKinds(t, renderOverlay(t, "self"),
		"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret")
	emptySecret(t)
}

// emptySecret leaves the Secret as the manifests create it.
func emptySecret(t *testing.T) {
	t.Helper()
	var s corev1.Secret
	if err := admin.Get(t.Context(), client.ObjectKey{Namespace: systemNamespace, Name: selfSecretName}, &s); err != nil {
		t.Fatal(err)
	}
	s.Data = nil
	if err := admin.Update(t.Context(), &s); err != nil {
		t.Fatal(err)
	}
}

// newSelf returns a self-managed source that acts as gatemesh's
// ServiceAccount, for the Service's names and 127.0.0.1 (where the tests'
// webhook configuration sends requests).
func newSelf(t *testing.T, rec *logRecorder, name string, validity time.Duration) *certs.Self {
	t.Helper()
	return newSelfWith(t, clientFor(t, asServiceAccount()), rec, name, validity)
}

func newSelfWith(t *testing.T, c client.Client, rec *logRecorder, name string, validity time.Duration) *certs.Self {
	t.Helper()
	src, err := certs.NewSelf(c, certs.SelfConfig{
		Secret:               types.NamespacedName{Namespace: systemNamespace, Name: selfSecretName},
		WebhookConfiguration: webhookConfigName,
		Hosts:                append(certs.ServiceHosts(serviceName, systemNamespace), "127.0.0.1"),
		ServingValidity:      validity,
	}, certs.WithLogger(rec.logger(name)))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// checkOneCA checks that the Secret holds exactly one CA, ECDSA P-256 and
// valid for 10 years, and a serving certificate it signed, and that every
// webhook's caBundle is exactly that CA. It returns both certificates.
func checkOneCA(t *testing.T) (ca, serving *x509.Certificate) {
	t.Helper()
	return checkOneCAIn(t, systemNamespace)
}

// checkOneCAIn is checkOneCA for an install in namespace ns.
func checkOneCAIn(t *testing.T, ns string) (ca, serving *x509.Certificate) {
	t.Helper()
	var s corev1.Secret
	if err := admin.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: selfSecretName}, &s); err != nil {
		t.Fatal(err)
	}
	cas := parsePEM(t, s.Data[certs.CABundleKey])
	if len(cas) != 1 {
		t.Fatalf("the Secret holds %d CA certificates, want exactly 1", len(cas))
	}
	ca = cas[0]
	servings := parsePEM(t, s.Data[certs.TLSCertKey])
	serving = servings[0]
	checkP256(t, "CA", ca)
	checkP256(t, "serving certificate", serving)
	if !ca.IsCA || serving.CheckSignatureFrom(ca) != nil {
		t.Errorf("the serving certificate is not signed by the CA (CA IsCA=%v)", ca.IsCA)
	}
	if life := ca.NotAfter.Sub(ca.NotBefore); life < certs.DefaultCAValidity || life > certs.DefaultCAValidity+10*time.Minute {
		t.Errorf("CA valid for %s, want 10 years", life)
	}

	mwc := &unstructured.Unstructured{}
	mwc.SetAPIVersion("admissionregistration.k8s.io/v1")
	mwc.SetKind("MutatingWebhookConfiguration")
	if err := admin.Get(t.Context(), client.ObjectKey{Name: webhookConfigName}, mwc); err != nil {
		t.Fatal(err)
	}
	hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
	for _, h := range hooks {
		b64, _, _ := unstructured.NestedString(h.(map[string]any), "clientConfig", "caBundle")
		bundle, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || !bytes.Equal(bundle, s.Data[certs.CABundleKey]) {
			t.Errorf("webhook %v: caBundle is not the Secret's CA (decode error %v)", h.(map[string]any)["name"], err)
		}
	}
	return ca, serving
}

func checkP256(t *testing.T, what string, c *x509.Certificate) {
	t.Helper()
	if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("%s key is %T, want ECDSA P-256", what, c.PublicKey)
	}
}

func parsePEM(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatal("no PEM certificate")
	}
	return out
}

// TestSelfManagedReplicasAgreeOnOneCA starts webhook instances together
// against one empty Secret, as a fresh install's two replicas do, and
// checks that exactly one CA ends up in the Secret and in caBundle, and
// that every instance serves the one serving certificate.
func TestSelfManagedReplicasAgreeOnOneCA(t *testing.T) {
	setupSelf(t)
	createWebhookConfiguration(t, "https://127.0.0.1:1/mutate-pod", "https://127.0.0.1:1/mutate-backend")

	t.Run("two webhook instances", func(t *testing.T) {
		for round := 1; round <= 3; round++ {
			emptySecret(t)
			rec := newLogRecorder(t)
			a := newInstance(t, asServiceAccount(), newSelf(t, rec, "a", 0), freePort(t))
			b := newInstance(t, asServiceAccount(), newSelf(t, rec, "b", 0), freePort(t))
			a.start()
			b.start()
			a.waitReady(t, 30*time.Second)
			b.waitReady(t, 30*time.Second)
			ca, serving := checkOneCA(t)
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			for _, i := range []*instance{a, b} {
				got, err := i.servedCertificate(roots)
				if err != nil {
					t.Fatalf("round %d: handshake with %s trusting the Secret's CA: %v", round, i.webhookAddr, err)
				}
				if got.SerialNumber.Cmp(serving.SerialNumber) != 0 {
					t.Errorf("round %d: %s serves serial %x, the Secret holds %x", round, i.webhookAddr, got.SerialNumber, serving.SerialNumber)
				}
			}
			t.Logf("round %d: one CA; writes refused by the API server: %d", round, rec.count(lostWrite))
			a.stop()
			b.stop()
		}
	})

	// Eight sources all read the empty Secret (a barrier holds each first
	// read until every one has read, so that the race happens on any
	// machine) and all write: the API server accepts one write and refuses
	// the others on resourceVersion, and they adopt the winner's.
	t.Run("eight replicas released at once", func(t *testing.T) {
		emptySecret(t)
		rec := newLogRecorder(t)
		srcs := make([]*certs.Self, 8)
		ctx, cancel := context.WithCancel(t.Context())
		barrier := newReadBarrier(ctx, len(srcs))
		for i := range srcs {
			c := &firstReadWaits{Client: clientFor(t, asServiceAccount()), barrier: barrier}
			srcs[i] = newSelfWith(t, c, rec, fmt.Sprintf("replica-%d", i), 0)
		}
		var wg sync.WaitGroup
		release := make(chan struct{})
		for _, s := range srcs {
			wg.Go(func() {
				<-release
				_ = s.Start(ctx)
			})
		}
		close(release)
		err := waitFor(30*time.Second, func() bool {
			return !slices.ContainsFunc(srcs, func(s *certs.Self) bool { return s.Check(nil) != nil })
		})
		cancel()
		wg.Wait()
		if err != nil {
			t.Fatal("the replicas did not all become ready")
		}
		_, serving := checkOneCA(t)
		for i, s := range srcs {
			c, _ := s.GetCertificate(nil)
			if c.Leaf.SerialNumber.Cmp(serving.SerialNumber) != 0 {
				t.Errorf("replica %d serves serial %x, the Secret holds %x", i, c.Leaf.SerialNumber, serving.SerialNumber)
			}
		}
		lost := rec.count(lostWrite)
		t.Logf("writes refused by the API server: %d", lost)
		if lost == 0 {
			t.Error("no write was refused, so the replicas did not race; the test proves nothing")
		}
	})
}

// readBarrier releases its waiters once n of them have arrived, or when
// ctx ends.
type readBarrier struct {
	ctx     context.Context
	arrived atomic.Int32
	n       int32
	all     chan struct{}
}

func newReadBarrier(ctx context.Context, n int) *readBarrier {
	return &readBarrier{ctx: ctx, n: int32(n), all: make(chan struct{})}
}

func (b *readBarrier) arriveAndWait() {
	if b.arrived.Add(1) == b.n {
		close(b.all)
	}
	select {
	case <-b.all:
	case <-b.ctx.Done():
	}
}

// firstReadWaits holds a replica's first read of a Secret at the barrier,
// after the read: every replica then writes against the same
// resourceVersion.
type firstReadWaits struct {
	client.Client
	barrier *readBarrier
	once    sync.Once
}

func (c *firstReadWaits) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := c.Client.Get(ctx, key, obj, opts...)
	if _, ok := obj.(*corev1.Secret); ok {
		c.once.Do(c.barrier.arriveAndWait)
	}
	return err
}

// TestSelfManagedRotationUnderLoad runs two webhook instances whose serving
// certificate is valid for 3 seconds, so it is renewed about every 2, and
// admits pods throughout: through the API server (pods created in a
// labelled namespace, sent by the shipped webhook configuration) and
// directly, on a new TLS connection per review that trusts only the
// Secret's CA. Not one request may fail, and the certificate must change
// at least twice under that load.
func TestSelfManagedRotationUnderLoad(t *testing.T) {
	const (
		validity = 3 * time.Second
		loadFor  = 7 * time.Second
	)
	setupSelf(t)
	portA, portB := freePort(t), freePort(t)
	createWebhookConfiguration(t,
		fmt.Sprintf("https://127.0.0.1:%d%s", portA, admit.PodPath),
		fmt.Sprintf("https://127.0.0.1:%d%s", portB, admit.BackendPath))
	rec := newLogRecorder(t)
	a := newInstance(t, asServiceAccount(), newSelf(t, rec, "a", validity), portA)
	b := newInstance(t, asServiceAccount(), newSelf(t, rec, "b", validity), portB)
	a.start()
	b.start()
	a.waitReady(t, 30*time.Second)
	b.waitReady(t, 30*time.Second)
	ca, _ := checkOneCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "rotation-" + rand.String(5), Labels: map[string]string{"gatemesh.io/injection": "enabled"},
	}}
	if err := admin.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	// The API server reads webhook configurations from an informer: wait
	// until it has seen the caBundle before counting.
	if err := waitFor(20*time.Second, func() bool { return createGatewayPod(t.Context(), ns.Name) == nil }); err != nil {
		t.Fatalf("no pod was admitted before the load: %v", createGatewayPod(t.Context(), ns.Name))
	}

	var (
		apiOK, directOK atomic.Int64
		mu              sync.Mutex
		failures        []string
		serials         = map[string]bool{}
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf("%s: ", time.Now().Format("15:04:05.000"))+fmt.Sprintf(format, args...))
	}
	deadline := time.Now().Add(loadFor)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := createGatewayPod(t.Context(), ns.Name); err != nil {
					fail("through the API server: %v", err)
					continue
				}
				apiOK.Add(1)
			}
		})
	}
	for w := range 2 {
		wg.Go(func() {
			targets := []*instance{a, b}
			for n := 0; time.Now().Before(deadline); n++ {
				serial, err := postReview(targets[(n+w)%2].webhookAddr, roots, ns.Name)
				if err != nil {
					fail("direct to %s: %v", targets[(n+w)%2].webhookAddr, err)
					continue
				}
				directOK.Add(1)
				mu.Lock()
				serials[serial] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	t.Logf("in %s: %d pods admitted through the API server, %d reviews sent directly, %d serving certificates seen, %d renewals written, %d writes refused",
		loadFor, apiOK.Load(), directOK.Load(), len(serials), rec.count("Wrote the certificate Secret", "serving_renewal"), rec.count(lostWrite))
	if len(failures) > 0 {
		t.Errorf("%d requests failed; the first: %q", len(failures), failures[:min(5, len(failures))])
	}
	if len(serials) < 3 {
		t.Errorf("saw %d serving certificates under load, want at least 3 (two rotations)", len(serials))
	}
	if apiOK.Load() < 10 {
		t.Errorf("only %d pods were admitted through the API server", apiOK.Load())
	}
	if after, _ := checkOneCA(t); !after.Equal(ca) {
		t.Error("the CA changed; only the serving certificate should rotate")
	}
}

// gatewayPod is a Gloo gateway proxy pod, which the shipped webhook
// configuration sends to gatemesh.
func gatewayPod(namespace string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "gateway-proxy-", Namespace: namespace,
			Labels: map[string]string{"gloo": "gateway-proxy"},
		},
		Spec: corev1.PodSpec{
			// envtest runs without the ServiceAccount admission plugin, which
			// would set this; the injected istio-token volume needs it.
			ServiceAccountName: "default",
			Containers:         []corev1.Container{{Name: "gateway-proxy", Image: "quay.io/solo-io/gloo-envoy-wrapper:1.20.0"}},
		},
	}
}

// createGatewayPod creates a gateway pod through the API server and checks
// that gatemesh injected it.
func createGatewayPod(ctx context.Context, namespace string) error {
	pod := gatewayPod(namespace)
	if err := admin.Create(ctx, pod); err != nil {
		return err
	}
	if !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == "istio-proxy" }) {
		return fmt.Errorf("pod %s was admitted without injection", pod.Name)
	}
	return nil
}

// postReview sends an AdmissionReview for a gateway pod to the webhook at
// addr on a new TLS connection trusting only roots, checks the answer, and
// returns the serial number of the certificate served.
func postReview(addr string, roots *x509.CertPool, namespace string) (string, error) {
	pod := gatewayPod(namespace)
	pod.Name = "direct-" + rand.String(8)
	raw, err := json.Marshal(pod)
	if err != nil {
		return "", err
	}
	uid := types.UID(rand.String(16))
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       uid,
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: namespace, Name: pod.Name, Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		return "", err
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{
			RootCAs: roots, ServerName: serviceName + "." + systemNamespace + ".svc", MinVersion: tls.VersionTLS12,
		},
	}}
	resp, err := hc.Post("https://"+addr+admit.PodPath, "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s, decode error %v", resp.Status, err)
	}
	if r := review.Response; r == nil || r.UID != uid || !r.Allowed || len(r.Patch) == 0 {
		return "", fmt.Errorf("unexpected answer %+v", review.Response)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Text(16), nil
}
