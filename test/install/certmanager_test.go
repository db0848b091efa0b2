package install

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gatemesh/gatemesh/certs"
)

// TestCertManagerReadinessWaitsForTheCertificate runs a webhook instance in
// cert-manager mode, as the cert-manager overlay's ServiceAccount, against
// the overlay's own Certificate, and moves that Certificate's status as
// cert-manager would. Readiness stays false, with a log line naming the
// Certificate and its condition, until the Certificate is Ready and the
// files exist; then it becomes true and the files' certificate is served.
func TestCertManagerReadinessWaitsForTheCertificate(t *testing.T) {
	applyKinds(t, renderOverlay(t, "cert-manager"),
		"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Issuer", "Certificate")
	key := types.NamespacedName{Namespace: systemNamespace, Name: certificateName}
	// A Certificate left Ready by an earlier run (go test -count=N against
	// one control plane) starts again as cert-manager has not seen it.
	clearStatus(t, key)
	dir := t.TempDir()
	rec := newLogRecorder(t)
	src := certs.NewCertManager(clientFor(t, asServiceAccount()), key, dir,
		certs.WithPollInterval(100*time.Millisecond), certs.WithLogger(rec.logger("certs")))
	inst := newInstance(t, asServiceAccount(), src, freePort(t))
	inst.start()

	const waiting = "Waiting for the serving certificate"
	notReady := func(step string, wantLog ...string) {
		t.Helper()
		if err := waitFor(10*time.Second, func() bool { return rec.count(wantLog...) > 0 }); err != nil {
			t.Fatalf("%s: no log line with all of %q", step, wantLog)
		}
		for range 5 {
			for _, path := range []string{"/readyz", "/readyz/certificate"} {
				if ok, body := inst.ready(path); ok {
					t.Fatalf("%s: %s passed: %s", step, path, body)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	notReady("before cert-manager has looked at the Certificate", waiting, certificateName, `"condition"="Ready missing"`)

	setReadyCondition(t, key, cmmeta.ConditionFalse, "DoesNotExist", "Issuing certificate as Secret does not exist")
	notReady("while cert-manager issues", waiting, certificateName,
		`"condition"="Ready=False (DoesNotExist: Issuing certificate as Secret does not exist)"`)

	setReadyCondition(t, key, cmmeta.ConditionTrue, "Ready", "Certificate is up to date and has not expired")
	notReady("Ready before the kubelet has mounted the Secret", waiting, certificateName,
		`"condition"="Ready=True (Ready: Certificate is up to date and has not expired)"`, "no serving certificate files")

	ca, caKey := newTestCA(t)
	writeServingFiles(t, dir, ca, caKey)
	if err := waitFor(10*time.Second, func() bool { ok, _ := inst.ready("/readyz"); return ok }); err != nil {
		_, body := inst.ready("/readyz?verbose")
		t.Fatalf("not ready after the files appeared: %s", body)
	}
	if n := rec.count("The serving certificate is ready", certificateName, "Ready=True"); n != 1 {
		t.Errorf("logged readiness %d times, want once", n)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := inst.servedCertificate(roots); err != nil {
		t.Errorf("the files' certificate is not served: %v", err)
	}
}

// setReadyCondition sets the Certificate's Ready condition through the
// status subresource, as cert-manager does.
func setReadyCondition(t *testing.T, key types.NamespacedName, status cmmeta.ConditionStatus, reason, message string) {
	t.Helper()
	var cert cmapi.Certificate
	if err := admin.Get(t.Context(), key, &cert); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	cert.Status.Conditions = []cmapi.CertificateCondition{{
		Type: cmapi.CertificateConditionReady, Status: status, Reason: reason, Message: message,
		LastTransitionTime: &now, ObservedGeneration: cert.Generation,
	}}
	if err := admin.Status().Update(t.Context(), &cert); err != nil {
		t.Fatalf("failed to update the Certificate's status: %v", err)
	}
}

// clearStatus empties the Certificate's status, as before cert-manager has
// looked at it.
func clearStatus(t *testing.T, key types.NamespacedName) {
	t.Helper()
	var cert cmapi.Certificate
	if err := admin.Get(t.Context(), key, &cert); err != nil {
		t.Fatal(err)
	}
	cert.Status = cmapi.CertificateStatus{}
	if err := admin.Status().Update(t.Context(), &cert); err != nil {
		t.Fatalf("failed to clear the Certificate's status: %v", err)
	}
}

// newTestCA returns a throwaway CA, standing in for cert-manager's CA Issuer.
func newTestCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

// writeServingFiles writes tls.key then tls.crt into dir, as the kubelet
// makes a Secret's keys appear, for the Service's name and 127.0.0.1.
func writeServingFiles(t *testing.T, dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: serviceName},
		DNSNames:    []string{serviceName + "." + systemNamespace + ".svc"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
