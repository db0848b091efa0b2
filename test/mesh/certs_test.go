package mesh

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	gmcerts "github.com/gatemesh/gatemesh/certs"
)

// trust is what a workload certificate must match: istiod's root and the
// pod's SPIFFE identity.
type trust struct {
	rootPEM []byte
	roots   *x509.CertPool
	spiffe  string // spiffe://<trust domain>/ns/<ns>/sa/<sa>
}

func newTrust(rootPEM []byte, spiffe string) (*trust, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		return nil, fmt.Errorf("istiod's root certificate is not PEM")
	}
	return &trust{rootPEM: rootPEM, roots: roots, spiffe: spiffe}, nil
}

// checkPair checks a certificate chain and private key: the key matches the
// leaf, the leaf carries the identity and the chain leads to the root. It
// returns the leaf's serial number, which changes on every rotation.
func (tr *trust) checkPair(chainPEM, keyPEM []byte) (string, error) {
	if _, err := tls.X509KeyPair(chainPEM, keyPEM); err != nil {
		return "", fmt.Errorf("private key does not match certificate: %w", err)
	}
	certs, err := gmcerts.ParseCertificates(chainPEM)
	if err != nil {
		return "", err
	}
	leaf := certs[0]
	var uris []string
	for _, u := range leaf.URIs {
		uris = append(uris, u.String())
	}
	if !slices.Contains(uris, tr.spiffe) {
		return "", fmt.Errorf("leaf certificate's URI SANs are %q, want %s", uris, tr.spiffe)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots: tr.roots, Intermediates: inter, CurrentTime: time.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return "", fmt.Errorf("leaf certificate does not chain to istiod's root: %w", err)
	}
	return leaf.SerialNumber.String(), nil
}

// checkRoot checks that caPEM is istiod's root.
func (tr *trust) checkRoot(caPEM []byte) error {
	got, err := gmcerts.ParseCertificates(caPEM)
	if err != nil {
		return err
	}
	want, err := gmcerts.ParseCertificates(tr.rootPEM)
	if err != nil {
		return err
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(c *x509.Certificate) bool { return bytes.Equal(c.Raw, w.Raw) }) {
			return fmt.Errorf("trusted CA lacks istiod's root %q", w.Subject)
		}
	}
	return nil
}

// agentFiles are what the agent writes to OUTPUT_CERTS and sds reads.
var agentFiles = []string{"cert-chain.pem", "key.pem", "root-cert.pem"}

// filesPresent reports whether the agent has written all its files.
func filesPresent(dir string) bool {
	for _, f := range agentFiles {
		if info, err := os.Stat(filepath.Join(dir, f)); err != nil || info.Size() == 0 {
			return false
		}
	}
	return true
}

// checkFiles checks the agent's files in dir: a matching pair with the
// pod's identity chained to the root, the root itself, and modes that let
// sds, another user in the pod's fsGroup, read them.
func (tr *trust) checkFiles(dir string) error {
	read := map[string][]byte{}
	for _, f := range agentFiles {
		path := filepath.Join(dir, f)
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", f, err)
		}
		info, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("failed to stat %s: %w", f, err)
		}
		if info.Mode().Perm()&0o044 != 0o044 {
			return fmt.Errorf("%s has mode %v: the sds container, another user, cannot read it", f, info.Mode().Perm())
		}
		read[f] = data
	}
	if _, err := tr.checkPair(read["cert-chain.pem"], read["key.pem"]); err != nil {
		return fmt.Errorf("cert-chain.pem and key.pem: %w", err)
	}
	if err := tr.checkRoot(read["root-cert.pem"]); err != nil {
		return fmt.Errorf("root-cert.pem: %w", err)
	}
	return nil
}
