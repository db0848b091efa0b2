package certs

import (
	"context"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

var testCertificate = types.NamespacedName{Namespace: "gatemesh-system", Name: "gatemesh-serving"}

func certificate(conds ...cmapi.CertificateCondition) *cmapi.Certificate {
	return &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: testCertificate.Namespace, Name: testCertificate.Name},
		Status:     cmapi.CertificateStatus{Conditions: conds},
	}
}

func ready(status cmmeta.ConditionStatus, reason, message string) cmapi.CertificateCondition {
	return cmapi.CertificateCondition{Type: cmapi.CertificateConditionReady, Status: status, Reason: reason, Message: message}
}

func TestCertManagerCheck(t *testing.T) {
	noMatch := interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
		return &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "cert-manager.io", Kind: "Certificate"}}
	}}
	cases := map[string]struct {
		cert      *cmapi.Certificate
		funcs     *interceptor.Funcs
		files     bool
		wantError string // empty: ready
	}{
		"cert-manager is not installed": {
			funcs: &noMatch, files: true, wantError: "cert-manager.io/v1 API is not installed",
		},
		"the Certificate does not exist": {
			files: true, wantError: "cert-manager Certificate gatemesh-system/gatemesh-serving does not exist",
		},
		"the Certificate has no Ready condition yet": {
			cert: certificate(), files: true, wantError: "has no Ready condition yet",
		},
		"the Certificate is not Ready": {
			cert: certificate(ready(cmmeta.ConditionFalse, "DoesNotExist", "Issuing certificate as Secret does not exist")), files: true,
			wantError: "is not ready: Ready=False (DoesNotExist: Issuing certificate as Secret does not exist)",
		},
		"the Certificate is Ready but the files are missing": {
			cert: certificate(ready(cmmeta.ConditionTrue, "Ready", "")), wantError: "no serving certificate files",
		},
		"neither": {
			cert: certificate(), wantError: "has no Ready condition yet; no serving certificate files",
		},
		"the Certificate is Ready and the files are there": {
			cert: certificate(ready(cmmeta.ConditionTrue, "Ready", "Certificate is up to date and has not expired")), files: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := newCertManagerClient(t, tc.cert, tc.funcs)
			dir := t.TempDir()
			if tc.files {
				writeFiles(t, dir, time.Now())
			}
			cm := NewCertManager(c, testCertificate, dir, WithPollInterval(10*time.Millisecond))
			runSource(t, cm.Files)
			if tc.files {
				waitUntil(t, func() bool { return cm.Files.Check(nil) == nil })
			} else {
				waitUntil(t, func() bool { return cm.Files.lastErr.Load() != nil })
			}
			err := cm.Check(nil)
			switch {
			case tc.wantError == "" && err != nil:
				t.Errorf("not ready: %v", err)
			case tc.wantError != "" && (err == nil || !strings.Contains(err.Error(), tc.wantError)):
				t.Errorf("Check = %v, want an error containing %q", err, tc.wantError)
			}
		})
	}
}

// TestCertManagerStaysReady: once ready, a Certificate that is no longer
// Ready (a renewal failing, say) does not take the replica out of service:
// the certificate served is still valid.
func TestCertManagerStaysReady(t *testing.T) {
	cert := certificate(ready(cmmeta.ConditionTrue, "Ready", ""))
	c := newCertManagerClient(t, cert, nil)
	dir := t.TempDir()
	writeFiles(t, dir, time.Now())
	cm := NewCertManager(c, testCertificate, dir, WithPollInterval(10*time.Millisecond))
	runSource(t, cm)
	waitUntil(t, func() bool { return cm.Check(nil) == nil })

	cert.Status.Conditions = []cmapi.CertificateCondition{ready(cmmeta.ConditionFalse, "Failed", "the issuer is down")}
	if err := c.Status().Update(context.Background(), cert); err != nil {
		t.Fatal(err)
	}
	if err := cm.Check(nil); err != nil {
		t.Errorf("not ready after the Certificate went not Ready: %v", err)
	}
}

func newCertManagerClient(t *testing.T, cert *cmapi.Certificate, funcs *interceptor.Funcs) client.Client {
	t.Helper()
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&cmapi.Certificate{})
	if cert != nil {
		b = b.WithObjects(cert)
	}
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	return b.Build()
}
