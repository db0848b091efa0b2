package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestNewCAAndServing(t *testing.T) {
	ca, err := newCA(t0, DefaultCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := newServing(ca, []string{"svc.ns.svc", "svc.ns.svc.cluster.local", "127.0.0.1"}, t0, DefaultServingValidity)
	if err != nil {
		t.Fatal(err)
	}
	for name, kp := range map[string]*keyPair{"CA": ca, "serving": serving} {
		if k, ok := kp.cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
			t.Errorf("%s key is %T, want ECDSA P-256", name, kp.cert.PublicKey)
		}
	}
	if !ca.cert.IsCA || !ca.cert.MaxPathLenZero || ca.cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("the CA is not a CA: IsCA %v, MaxPathLenZero %v, key usage %v", ca.cert.IsCA, ca.cert.MaxPathLenZero, ca.cert.KeyUsage)
	}
	if err := serving.cert.CheckSignatureFrom(ca.cert); err != nil {
		t.Errorf("serving certificate not signed by the CA: %v", err)
	}
	if serving.cert.IsCA || !cmp.Equal(serving.cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("serving certificate: IsCA %v, ExtKeyUsage %v", serving.cert.IsCA, serving.cert.ExtKeyUsage)
	}
	if diff := cmp.Diff([]string{"svc.ns.svc", "svc.ns.svc.cluster.local"}, serving.cert.DNSNames); diff != "" {
		t.Errorf("DNS names (-want,+got):\n%s", diff)
	}
	if len(serving.cert.IPAddresses) != 1 || !serving.cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("IP addresses %v", serving.cert.IPAddresses)
	}
	windows := map[string]struct {
		kp                  *keyPair
		notBefore, notAfter time.Time
	}{
		"CA: 10 years, from 5 minutes before":    {ca, t0.Add(-5 * time.Minute), t0.Add(DefaultCAValidity)},
		"serving: 1 year, from 5 minutes before": {serving, t0.Add(-5 * time.Minute), t0.Add(DefaultServingValidity)},
	}
	for name, w := range windows {
		if !w.kp.cert.NotBefore.Equal(w.notBefore) || !w.kp.cert.NotAfter.Equal(w.notAfter) {
			t.Errorf("%s: valid %s to %s", name, w.kp.cert.NotBefore, w.kp.cert.NotAfter)
		}
	}
	again, err := parseKeyPair(serving.certPEM, serving.keyPEM)
	if err != nil || !again.cert.Equal(serving.cert) {
		t.Errorf("the PEM key pair does not parse back: %v", err)
	}
}

func TestRenewAtTwoThirds(t *testing.T) {
	cases := map[string]struct {
		validity time.Duration
		want     time.Time
	}{
		"a year, backdated 5 minutes": {365 * 24 * time.Hour, t0.Add(-5*time.Minute + (365*24*time.Hour+5*time.Minute)/3*2)},
		"3 seconds, backdated 0.3s":   {3 * time.Second, t0.Add(1900 * time.Millisecond)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			nb, na := validityWindow(t0, tc.validity)
			if got := RenewAt(&x509.Certificate{NotBefore: nb, NotAfter: na}); !got.Equal(tc.want) {
				t.Errorf("RenewAt = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseKeyPairRefusesBadPairs(t *testing.T) {
	ca, err := newCA(t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := newCA(t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ cert, key []byte }{
		"a key of another certificate": {ca.certPEM, other.keyPEM},
		"no certificate":               {nil, ca.keyPEM},
		"no key":                       {ca.certPEM, nil},
		"garbage":                      {[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), ca.keyPEM},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseKeyPair(tc.cert, tc.key); err == nil {
				t.Error("accepted")
			}
		})
	}
}
