package admit

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
)

// TLSConfig is how the webhook server speaks TLS. The metrics server
// speaks it the same way, without asking for client certificates.
type TLSConfig struct {
	// TLS13Only refuses TLS 1.2. Default: TLS 1.2 is the minimum, which
	// every supported API server speaks, with the AEAD suites of
	// CipherSuites12 only.
	TLS13Only bool
	// EnableHTTP2 offers HTTP/2. Default: off, so that the server is not
	// exposed to HTTP/2 Rapid Reset (CVE-2023-44487); the API server speaks
	// HTTP/1.1 to webhooks just as well.
	EnableHTTP2 bool
	// ClientCAFile, when set, is a PEM bundle of the CAs that sign the API
	// server's client certificate (its --proxy-client-cert-file or an
	// admission kubeconfig's); clients without such a certificate are
	// refused. Default: no client certificate is asked for.
	ClientCAFile string
	// ClientCertNames, with ClientCAFile, accepts a client certificate only
	// when its Subject common name or one of its DNS names is in the list;
	// any other certificate fails the handshake, even one the CA signed.
	// Default: empty, so any certificate the CA signed is accepted.
	ClientCertNames []string
}

// CipherSuites12 returns the TLS 1.2 cipher suites served: ECDHE key
// exchange (forward secrecy) with an AEAD cipher, AES-GCM or
// ChaCha20-Poly1305. The ECDHE CBC suites Go also enables by default are
// left out. TLS 1.3's suites are not configurable in Go, and are all AEAD.
func CipherSuites12() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// TLSOptions turns c into options for controller-runtime's webhook server.
// A client CA that cannot be read, or names without a client CA, make the
// returned error.
func (c TLSConfig) TLSOptions() ([]func(*tls.Config), error) {
	opts := []func(*tls.Config){c.protocol}
	if slices.Contains(c.ClientCertNames, "") {
		return nil, errors.New("a client certificate name must not be empty")
	}
	if c.ClientCAFile == "" {
		if len(c.ClientCertNames) > 0 {
			return nil, errors.New("client certificate names need a client CA")
		}
		return opts, nil
	}
	pem, err := os.ReadFile(c.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client CA %s holds no PEM certificate", c.ClientCAFile)
	}
	names := slices.Clone(c.ClientCertNames)
	return append(opts, func(t *tls.Config) {
		t.ClientCAs = pool
		t.ClientAuth = tls.RequireAndVerifyClientCert
		if len(names) > 0 {
			t.VerifyConnection = func(cs tls.ConnectionState) error { return allowedClient(cs, names) }
		}
	}), nil
}

// MetricsTLSOptions are the options of the metrics server: the webhook
// server's protocol versions, cipher suites and ALPN, but no client
// certificate, since scrapers authenticate with a bearer token.
func (c TLSConfig) MetricsTLSOptions() []func(*tls.Config) {
	return []func(*tls.Config){c.protocol}
}

// protocol sets the versions, the TLS 1.2 cipher suites and ALPN.
func (c TLSConfig) protocol(t *tls.Config) {
	t.MinVersion = tls.VersionTLS12
	t.CipherSuites = CipherSuites12()
	if c.TLS13Only {
		t.MinVersion = tls.VersionTLS13
	}
	if !c.EnableHTTP2 {
		t.NextProtos = []string{"http/1.1"}
	}
}

// allowedClient accepts the verified client certificate of cs when its
// common name or a DNS name is one of names. It runs on every handshake,
// resumed ones included, after the chain has been verified against the
// client CAs.
func allowedClient(cs tls.ConnectionState, names []string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no client certificate")
	}
	leaf := cs.PeerCertificates[0]
	if slices.Contains(names, leaf.Subject.CommonName) {
		return nil
	}
	for _, dns := range leaf.DNSNames {
		if slices.Contains(names, dns) {
			return nil
		}
	}
	return fmt.Errorf("client certificate %q (DNS names %q) is not in the allowed client certificate names", leaf.Subject.CommonName, leaf.DNSNames)
}
