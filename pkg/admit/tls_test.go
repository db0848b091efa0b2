package admit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTLSOptions(t *testing.T) {
	dir, _ := writeServingCert(t)
	caFile := filepath.Join(dir, "tls.crt")
	notPEM := filepath.Join(dir, "garbage")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		cfg        TLSConfig
		wantMin    uint16
		wantProtos []string
		wantAuth   tls.ClientAuthType
		wantVerify bool
		wantErr    string
	}{
		"the defaults: TLS 1.2, HTTP/1.1 only, no client certificate": {
			cfg: TLSConfig{}, wantMin: tls.VersionTLS12, wantProtos: []string{"http/1.1"}, wantAuth: tls.NoClientCert,
		},
		"TLS 1.3 only, HTTP/2 allowed": {
			cfg: TLSConfig{TLS13Only: true, EnableHTTP2: true}, wantMin: tls.VersionTLS13, wantProtos: []string{"h2"}, wantAuth: tls.NoClientCert,
		},
		"a client CA requires client certificates": {
			cfg: TLSConfig{ClientCAFile: caFile}, wantMin: tls.VersionTLS12, wantProtos: []string{"http/1.1"}, wantAuth: tls.RequireAndVerifyClientCert,
		},
		"client certificate names are checked on every connection": {
			cfg:     TLSConfig{ClientCAFile: caFile, ClientCertNames: []string{"kube-apiserver"}},
			wantMin: tls.VersionTLS12, wantProtos: []string{"http/1.1"}, wantAuth: tls.RequireAndVerifyClientCert, wantVerify: true,
		},
		"a missing client CA is an error":     {cfg: TLSConfig{ClientCAFile: filepath.Join(dir, "nope")}, wantErr: "failed to read client CA"},
		"a client CA without PEM is an error": {cfg: TLSConfig{ClientCAFile: notPEM}, wantErr: "holds no PEM certificate"},
		"client certificate names without a client CA are an error": {
			cfg: TLSConfig{ClientCertNames: []string{"kube-apiserver"}}, wantErr: "need a client CA",
		},
		"an empty client certificate name is an error": {
			cfg: TLSConfig{ClientCAFile: caFile, ClientCertNames: []string{""}}, wantErr: "must not be empty",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts, err := tc.cfg.TLSOptions()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := &tls.Config{NextProtos: []string{"h2"}} // controller-runtime's starting point
			for _, o := range opts {
				o(c)
			}
			if c.MinVersion != tc.wantMin || strings.Join(c.NextProtos, ",") != strings.Join(tc.wantProtos, ",") || c.ClientAuth != tc.wantAuth {
				t.Errorf("min %x protos %v auth %v; want %x %v %v", c.MinVersion, c.NextProtos, c.ClientAuth, tc.wantMin, tc.wantProtos, tc.wantAuth)
			}
			if diff := cmp.Diff(CipherSuites12(), c.CipherSuites); diff != "" {
				t.Errorf("cipher suites (-want,+got):\n%s", diff)
			}
			if (c.VerifyConnection != nil) != tc.wantVerify {
				t.Errorf("VerifyConnection set: %v, want %v", c.VerifyConnection != nil, tc.wantVerify)
			}
		})
	}
}

// TestCipherSuites12AreAEAD checks every suite against Go's own
// description: TLS 1.2, ECDHE, GCM or ChaCha20-Poly1305, none insecure.
func TestCipherSuites12AreAEAD(t *testing.T) {
	known := map[uint16]*tls.CipherSuite{}
	for _, s := range tls.CipherSuites() {
		known[s.ID] = s
	}
	for _, id := range CipherSuites12() {
		s, ok := known[id]
		if !ok {
			t.Errorf("%s is not among Go's secure suites", tls.CipherSuiteName(id))
			continue
		}
		aead := strings.Contains(s.Name, "_GCM_") || strings.Contains(s.Name, "_CHACHA20_POLY1305")
		if !strings.HasPrefix(s.Name, "TLS_ECDHE_") || !aead || s.Insecure {
			t.Errorf("%s is not ECDHE with an AEAD", s.Name)
		}
	}
}

// TestTLS12RefusesCBC handshakes over loopback: a TLS 1.2 client that
// offers only CBC suites is refused, one offering an AEAD suite is served,
// and Go's defaults alone would have served the CBC client.
func TestTLS12RefusesCBC(t *testing.T) {
	serving := servingCertificate(t)
	cbcOnly := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	}
	cases := map[string]struct {
		server   TLSConfig
		defaults bool // Go's defaults instead of the server's options
		suites   []uint16
		wantOK   bool
	}{
		"a CBC-only TLS 1.2 client is refused":     {suites: cbcOnly},
		"a TLS 1.2 client offering GCM is served":  {suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, wantOK: true},
		"a TLS 1.2 client offering ChaCha20":       {suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, wantOK: true},
		"Go's defaults alone serve the CBC client": {defaults: true, suites: cbcOnly, wantOK: true},
		"TLS 1.3 only refuses any TLS 1.2 client":  {server: TLSConfig{TLS13Only: true}, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := &tls.Config{Certificates: []tls.Certificate{serving.cert}}
			if !tc.defaults {
				opts, err := tc.server.TLSOptions()
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range opts {
					o(srv)
				}
			}
			client := &tls.Config{RootCAs: serving.pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12, CipherSuites: tc.suites}
			srvErr, clientErr := handshake(t, srv, client)
			if ok := srvErr == nil && clientErr == nil; ok != tc.wantOK {
				t.Errorf("handshake succeeded: %v, want %v (server: %v, client: %v)", ok, tc.wantOK, srvErr, clientErr)
			}
		})
	}
}

// TestClientCertNames handshakes over loopback with client certificates
// that the client CA and another CA signed, for allowed and other names.
func TestClientCertNames(t *testing.T) {
	serving := servingCertificate(t)
	ca, other := newTestCA(t, "client-ca"), newTestCA(t, "other-ca")
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	allowed := []string{"kube-apiserver", "apiserver.example.com"}
	cases := map[string]struct {
		names  []string
		client *tls.Certificate
		wantOK bool
	}{
		"an allowed common name":                  {names: allowed, client: ca.issue(t, "kube-apiserver"), wantOK: true},
		"an allowed DNS name":                     {names: allowed, client: ca.issue(t, "front-proxy", "apiserver.example.com"), wantOK: true},
		"another name the CA signed":              {names: allowed, client: ca.issue(t, "system:anonymous", "evil.example.com")},
		"an allowed name another CA signed":       {names: allowed, client: other.issue(t, "kube-apiserver")},
		"no client certificate":                   {names: allowed},
		"without names, any name the CA signed":   {client: ca.issue(t, "system:anonymous"), wantOK: true},
		"without names, still not another CA's":   {client: other.issue(t, "kube-apiserver")},
		"a name matches whole, not as a suffix":   {names: allowed, client: ca.issue(t, "x.kube-apiserver", "www.apiserver.example.com")},
		"a name matches case and all, not folded": {names: allowed, client: ca.issue(t, "Kube-Apiserver")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts, err := TLSConfig{ClientCAFile: caFile, ClientCertNames: tc.names}.TLSOptions()
			if err != nil {
				t.Fatal(err)
			}
			srv := &tls.Config{Certificates: []tls.Certificate{serving.cert}}
			for _, o := range opts {
				o(srv)
			}
			for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				client := &tls.Config{RootCAs: serving.pool, ServerName: "127.0.0.1", MaxVersion: version}
				if tc.client != nil {
					client.Certificates = []tls.Certificate{*tc.client}
				}
				srvErr, clientErr := handshake(t, srv, client)
				if ok := srvErr == nil && clientErr == nil; ok != tc.wantOK {
					t.Errorf("%s: handshake succeeded: %v, want %v (server: %v, client: %v)",
						tls.VersionName(version), ok, tc.wantOK, srvErr, clientErr)
				}
			}
		})
	}
}

// handshake serves one connection on loopback with srv and dials it with
// client. The client reads one byte, which the server writes only after
// its handshake succeeded: with TLS 1.3 the client's handshake completes
// before the server has checked the client's certificate.
func handshake(t *testing.T, srv, client *tls.Config) (srvErr, clientErr error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(conn, srv)
		if err := s.Handshake(); err != nil {
			done <- err
			return
		}
		_, err = s.Write([]byte{'k'})
		done <- err
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", l.Addr().String(), client)
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	return <-done, err
}

type testServing struct {
	cert tls.Certificate
	pool *x509.CertPool
}

// servingCertificate is a serving certificate for 127.0.0.1 and the pool
// that trusts it.
func servingCertificate(t *testing.T) testServing {
	t.Helper()
	dir, pool := writeServingCert(t)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	return testServing{cert: cert, pool: pool}
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, cn string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

// issue signs a client certificate for common name cn and DNS names dns.
func (ca testCA) issue(t *testing.T, cn string, dns ...string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
