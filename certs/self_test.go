package certs

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

var testSecret = types.NamespacedName{Namespace: "gatemesh-system", Name: "gatemesh-webhook-certs"}

// testWebhookConfiguration is a MutatingWebhookConfiguration with two
// webhooks and no caBundle.
func testWebhookConfiguration() *admissionregistrationv1.MutatingWebhookConfiguration {
	hook := func(name string) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{
			Name: name, ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: "gatemesh-system", Name: "gatemesh-webhook"},
			},
		}
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "gatemesh"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{hook("pods.gatemesh.io"), hook("backends.gatemesh.io")},
	}
}

// newTestSelf returns a Self on a fake client holding objs and the webhook
// configuration, with a fake clock at t0 and a resync interval too long to
// hide the renewal time.
func newTestSelf(t *testing.T, funcs *interceptor.Funcs, objs ...client.Object) (*Self, client.Client, *testingclock.FakeClock) {
	t.Helper()
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(append(objs, testWebhookConfiguration())...)
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	c := b.Build()
	clk := testingclock.NewFakeClock(t0)
	s, err := NewSelf(c, SelfConfig{
		Secret: testSecret, WebhookConfiguration: "gatemesh", Hosts: ServiceHosts("gatemesh-webhook", "gatemesh-system"),
	}, WithClock(clk), WithResync(1000*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return s, c, clk
}

func getSecret(t *testing.T, c client.Client) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := c.Get(context.Background(), testSecret, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// caBundles returns each webhook's caBundle.
func caBundles(t *testing.T, c client.Client) (bundles [][]byte, resourceVersion string) {
	t.Helper()
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(context.Background(), client.ObjectKey{Name: "gatemesh"}, &mwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range mwc.Webhooks {
		bundles = append(bundles, w.ClientConfig.CABundle)
	}
	return bundles, mwc.ResourceVersion
}

// served returns the serial number of the certificate s serves.
func served(t *testing.T, s *Self) string {
	t.Helper()
	c, err := s.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.String()
}

func TestSelfFirstReconcile(t *testing.T) {
	s, c, _ := newTestSelf(t, nil)
	if err := s.Check(nil); err == nil {
		t.Error("ready before any certificate")
	}
	wait, err := s.reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sec := getSecret(t, c)
	bundles, _ := caBundles(t, c)
	for i, b := range bundles {
		if !bytes.Equal(b, sec.Data[CABundleKey]) {
			t.Errorf("webhook %d: caBundle is not the Secret's CA", i)
		}
	}
	serving, _, err := servingFromData(sec.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, s); got != serving.cert.SerialNumber.String() {
		t.Errorf("serves %s, the Secret holds %s", got, serving.cert.SerialNumber)
	}
	if want := RenewAt(serving.cert).Sub(t0); wait != want {
		t.Errorf("next reconcile in %s, want %s (at 2/3 of the lifetime)", wait, want)
	}
	if err := s.Check(nil); err != nil {
		t.Errorf("not ready: %v", err)
	}
}

// TestSelfAdoptsTheWinnersCertificates makes another replica write the
// Secret between this one's read and write: the API server (here the fake
// client) refuses the stale write, and this replica adopts the other's CA.
func TestSelfAdoptsTheWinnersCertificates(t *testing.T) {
	is := testIssuance
	is.hosts = ServiceHosts("gatemesh-webhook", "gatemesh-system")
	winner, _, err := is.plan(nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	empty := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testSecret.Namespace, Name: testSecret.Name}}
	cases := map[string]struct {
		existing []client.Object
		funcs    interceptor.Funcs
	}{
		"the Secret exists empty (as the manifests create it): Update conflicts": {
			existing: []client.Object{empty},
			funcs: interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				if _, ok := obj.(*corev1.Secret); ok {
					other := getSecretFrom(ctx, c)
					other.Data = winner
					if err := c.Update(ctx, other); err != nil {
						return err
					}
				}
				return c.Update(ctx, obj, opts...)
			}},
		},
		"the Secret does not exist: Create finds it created": {
			funcs: interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				if _, ok := obj.(*corev1.Secret); ok {
					other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testSecret.Namespace, Name: testSecret.Name}, Data: winner}
					if err := c.Create(ctx, other); err != nil {
						return err
					}
				}
				return c.Create(ctx, obj, opts...)
			}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, c, _ := newTestSelf(t, &tc.funcs, tc.existing...)
			if _, err := s.reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
			sec := getSecret(t, c)
			if !bytes.Equal(sec.Data[CABundleKey], winner[CABundleKey]) || !bytes.Equal(sec.Data[TLSCertKey], winner[TLSCertKey]) {
				t.Fatal("the Secret does not hold the winner's certificates")
			}
			bundles, _ := caBundles(t, c)
			for i, b := range bundles {
				if !bytes.Equal(b, winner[CABundleKey]) {
					t.Errorf("webhook %d: caBundle is not the winner's CA", i)
				}
			}
			serving, _, _ := servingFromData(winner)
			if got := served(t, s); got != serving.cert.SerialNumber.String() {
				t.Errorf("serves %s, not the winner's %s", got, serving.cert.SerialNumber)
			}
		})
	}
}

func getSecretFrom(ctx context.Context, c client.Client) *corev1.Secret {
	var s corev1.Secret
	_ = c.Get(ctx, testSecret, &s)
	return &s
}

func TestSelfRenewsAtTwoThirdsWithoutTouchingCABundle(t *testing.T) {
	s, c, clk := newTestSelf(t, nil)
	wait, err := s.reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first := served(t, s)
	_, mwcVersion := caBundles(t, c)

	clk.Step(wait - time.Second)
	if _, err := s.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if served(t, s) != first {
		t.Fatal("renewed before 2/3 of the lifetime")
	}
	clk.Step(time.Second)
	if _, err := s.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if served(t, s) == first {
		t.Fatal("not renewed at 2/3 of the lifetime")
	}
	if _, v := caBundles(t, c); v != mwcVersion {
		t.Errorf("the webhook configuration was written (resourceVersion %s -> %s); the CA did not change", mwcVersion, v)
	}
}

// TestSelfServesANewCAOnlyOnceInCABundle renews the CA: the new bundle
// (new CA and old) goes into caBundle at once, but the certificate the new
// CA signed is served only after the propagation delay.
func TestSelfServesANewCAOnlyOnceInCABundle(t *testing.T) {
	s, c, clk := newTestSelf(t, nil)
	if _, err := s.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := served(t, s)
	_, signer, _ := servingFromData(getSecret(t, c).Data)
	clk.SetTime(RenewAt(signer))

	wait, err := s.reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bundles, _ := caBundles(t, c)
	if n := len(parseAll(t, bundles[0])); n != 2 {
		t.Fatalf("caBundle holds %d CAs, want the new and the old", n)
	}
	if served(t, s) != first || wait != s.o.propagation {
		t.Fatalf("serves the new CA's certificate at once (wait %s)", wait)
	}
	clk.Step(wait)
	if _, err := s.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if served(t, s) == first {
		t.Error("still serving the old CA's certificate after the propagation delay")
	}
}

// TestSelfStartRenewsOnTime runs the loop on a fake clock: it sleeps until
// the renewal is due and then serves a new certificate.
func TestSelfStartRenewsOnTime(t *testing.T) {
	s, _, clk := newTestSelf(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Start(ctx) }()
	defer func() { cancel(); <-done }()

	waitUntil(t, func() bool { return s.Check(nil) == nil && clk.HasWaiters() })
	first := served(t, s)
	c, _ := s.GetCertificate(nil)
	clk.SetTime(RenewAt(c.Leaf).Add(-time.Second))
	time.Sleep(20 * time.Millisecond)
	if served(t, s) != first {
		t.Fatal("renewed early")
	}
	clk.SetTime(RenewAt(c.Leaf))
	waitUntil(t, func() bool { return served(t, s) != first })
}

func TestSelfCheckReportsExpiryAndErrors(t *testing.T) {
	s, _, clk := newTestSelf(t, nil)
	if _, err := s.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, _ := s.GetCertificate(nil)
	clk.SetTime(c.Leaf.NotAfter)
	if err := s.Check(nil); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("Check after expiry: %v", err)
	}

	broken, cl, _ := newTestSelf(t, nil)
	if err := cl.Delete(context.Background(), testWebhookConfiguration()); err != nil {
		t.Fatal(err)
	}
	if _, err := broken.reconcile(context.Background()); err == nil || !strings.Contains(err.Error(), "MutatingWebhookConfiguration gatemesh") {
		t.Errorf("reconcile without the webhook configuration: %v", err)
	}
	if _, err := broken.GetCertificate(nil); err == nil {
		t.Error("serves a certificate whose CA is in no caBundle")
	}
}

func TestNewSelfValidates(t *testing.T) {
	ok := SelfConfig{Secret: testSecret, WebhookConfiguration: "gatemesh", Hosts: []string{"a"}}
	cases := map[string]func(*SelfConfig){
		"no Secret name":               func(c *SelfConfig) { c.Secret.Name = "" },
		"no webhook configuration":     func(c *SelfConfig) { c.WebhookConfiguration = "" },
		"no host":                      func(c *SelfConfig) { c.Hosts = nil },
		"a CA shorter than its leaves": func(c *SelfConfig) { c.CAValidity, c.ServingValidity = time.Hour, 2*time.Hour },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			edit(&cfg)
			if _, err := NewSelf(nil, cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := NewSelf(nil, ok); err != nil {
		t.Errorf("the defaults are refused: %v", err)
	}
}

func TestHolds(t *testing.T) {
	data, _, err := testIssuance.plan(nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, signer, _ := servingFromData(data)
	if !holds(base64.StdEncoding.EncodeToString(data[CABundleKey]), signer) {
		t.Error("the bundle does not hold its own CA")
	}
	for _, b64 := range []string{"", "!!", base64.StdEncoding.EncodeToString([]byte("no pem"))} {
		if holds(b64, signer) {
			t.Errorf("%q holds the CA", b64)
		}
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
