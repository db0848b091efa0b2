package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	// DefaultServingValidity is how long a self-managed serving certificate
	// is valid: 1 year. It is renewed after 2/3 of that, about 8 months, so
	// a replica that cannot reach the API server for months still serves a
	// valid certificate.
	DefaultServingValidity = 365 * 24 * time.Hour
	// DefaultCAValidity is how long the self-managed CA is valid: 10 years.
	// Renewing it means changing caBundle, so it is kept long.
	DefaultCAValidity = 10 * 365 * 24 * time.Hour

	// maxBackdate bounds how far before its issuance a certificate is valid
	// from, to allow for clocks that run behind ours.
	maxBackdate = 5 * time.Minute
)

// keyPair is a certificate with its private key, parsed and PEM-encoded.
type keyPair struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

// tlsCertificate returns kp for a tls.Config.
func (kp *keyPair) tlsCertificate() (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(kp.certPEM, kp.keyPEM)
	if err != nil {
		return nil, fmt.Errorf("failed to load key pair: %w", err)
	}
	return &c, nil
}

// RenewAt returns when 2/3 of c's lifetime has passed, which is when it is
// renewed: the remaining third leaves room for retries and for every
// replica to pick the new certificate up.
func RenewAt(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) / 3 * 2)
}

// validityWindow returns NotBefore and NotAfter for a certificate issued at
// now: valid from a little before now (a tenth of validity, at most five
// minutes) to now+validity.
func validityWindow(now time.Time, validity time.Duration) (time.Time, time.Time) {
	return now.Add(-min(validity/10, maxBackdate)), now.Add(validity)
}

// newKeyAndTemplate generates an ECDSA P-256 key (what names it in errors)
// and a certificate template with a fresh serial, valid for validity from
// now, for newCA and newServing to fill in.
func newKeyAndTemplate(what string, now time.Time, validity time.Duration) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to generate %s key: %w", what, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	notBefore, notAfter := validityWindow(now, validity)
	return key, &x509.Certificate{SerialNumber: serial, NotBefore: notBefore, NotAfter: notAfter}, nil
}

// newCA generates a self-signed ECDSA P-256 CA certificate valid for
// validity from now.
func newCA(now time.Time, validity time.Duration) (*keyPair, error) {
	key, tmpl, err := newKeyAndTemplate("CA", now, validity)
	if err != nil {
		return nil, err
	}
	tmpl.Subject = pkix.Name{CommonName: fmt.Sprintf("gatemesh-ca@%d", now.Unix())}
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid, tmpl.IsCA, tmpl.MaxPathLenZero = true, true, true
	return sign(tmpl, tmpl, key, key)
}

// newServing generates an ECDSA P-256 serving certificate for hosts (DNS
// names or IP addresses), signed by ca and valid for validity from now.
func newServing(ca *keyPair, hosts []string, now time.Time, validity time.Duration) (*keyPair, error) {
	if len(hosts) == 0 {
		return nil, errors.New("internal error: a serving certificate needs at least one host")
	}
	key, tmpl, err := newKeyAndTemplate("serving", now, validity)
	if err != nil {
		return nil, err
	}
	tmpl.Subject = pkix.Name{CommonName: hosts[0]}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return sign(tmpl, ca.cert, key, ca.key)
}

func sign(tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) (*keyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("failed to sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to parse a certificate just signed: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("failed to encode private key: %w", err)
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("failed to generate serial number: %w", err)
	}
	return serial, nil
}

// parseKeyPair parses a PEM certificate (the first block) and its PEM
// private key, which must be ECDSA and match the certificate.
func parseKeyPair(certPEM, keyPEM []byte) (*keyPair, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported private key type %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to parse private key: %w", err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is a %T, not ECDSA", key)
	}
	if !ec.PublicKey.Equal(certs[0].PublicKey) {
		return nil, errors.New("private key does not match the certificate")
	}
	return &keyPair{cert: certs[0], key: ec, certPEM: encodeCertificates(certs[:1]), keyPEM: keyPEM}, nil
}

// ParseCertificates parses every PEM CERTIFICATE block in data; there must
// be at least one.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("failed to parse certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}

func encodeCertificates(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// ServingFiles is a CA and a serving certificate it signed, PEM-encoded, for
// callers that serve TLS outside a cluster: tests, the load harness.
type ServingFiles struct {
	CA, Cert, Key []byte
}

// NewServingFiles generates a fresh CA and a serving certificate for hosts
// (DNS names or IP addresses), valid from now for validity.
func NewServingFiles(hosts []string, now time.Time, validity time.Duration) (ServingFiles, error) {
	ca, err := newCA(now, validity)
	if err != nil {
		return ServingFiles{}, err
	}
	serving, err := newServing(ca, hosts, now, validity)
	if err != nil {
		return ServingFiles{}, err
	}
	return ServingFiles{CA: ca.certPEM, Cert: serving.certPEM, Key: serving.keyPEM}, nil
}

// Write writes the serving certificate and key into dir as tls.crt and
// tls.key, the names controller-runtime's webhook server reads.
func (f ServingFiles) Write(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), f.Cert, 0o600); err != nil {
		return fmt.Errorf("failed to write certificate: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), f.Key, 0o600); err != nil {
		return fmt.Errorf("failed to write key: %w", err)
	}
	return nil
}
