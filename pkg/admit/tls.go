package admit

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSConfig is how the webhook server speaks TLS.
type TLSConfig struct {
	// TLS13Only refuses TLS 1.2. Default: TLS 1.2 is the minimum, which
	// every supported API server speaks.
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
}

// TLSOptions turns c into options for controller-runtime's webhook server.
// A client CA that cannot be read makes the returned error.
func (c TLSConfig) TLSOptions() ([]func(*tls.Config), error) {
	opts := []func(*tls.Config){func(t *tls.Config) {
		t.MinVersion = tls.VersionTLS12
		if c.TLS13Only {
			t.MinVersion = tls.VersionTLS13
		}
		if !c.EnableHTTP2 {
			t.NextProtos = []string{"http/1.1"}
		}
	}}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s holds no PEM certificate", c.ClientCAFile)
		}
		opts = append(opts, func(t *tls.Config) {
			t.ClientCAs = pool
			t.ClientAuth = tls.RequireAndVerifyClientCert
		})
	}
	return opts, nil
}
