package certs

import (
	"crypto/x509"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Keys of the self-managed Secret's data.
const (
	// CABundleKey holds the CA bundle that goes into caBundle: the CA that
	// signs, first, then any earlier CA that has not expired yet, so that a
	// serving certificate it signed stays trusted until replaced.
	CABundleKey = "ca.crt"
	// CAKeyKey holds the private key of the CA that signs.
	CAKeyKey = "ca.key"
	// TLSCertKey and TLSKeyKey hold the serving certificate and its key,
	// under the names a kubernetes.io/tls Secret uses.
	TLSCertKey = corev1.TLSCertKey
	TLSKeyKey  = corev1.TLSPrivateKeyKey
)

// Reason says why the self-managed Secret is written; the empty Reason
// means it is up to date. Reasons are log values.
type Reason string

// The reasons to write the Secret, by priority.
const (
	ReasonUpToDate       Reason = ""
	ReasonNoCA           Reason = "no_ca"
	ReasonCARenewal      Reason = "ca_renewal"
	ReasonNoServing      Reason = "no_serving_certificate"
	ReasonHostsChanged   Reason = "hosts_changed"
	ReasonServingRenewal Reason = "serving_renewal"
	ReasonCAExpired      Reason = "expired_ca_dropped"
)

var sentences = map[Reason]string{
	ReasonUpToDate:       "the Secret is up to date",
	ReasonNoCA:           "the Secret holds no valid CA certificate and key",
	ReasonCARenewal:      "2/3 of the CA's lifetime has passed",
	ReasonNoServing:      "the Secret holds no valid serving certificate signed by the CA",
	ReasonHostsChanged:   "the serving certificate does not cover every host name",
	ReasonServingRenewal: "2/3 of the serving certificate's lifetime has passed",
	ReasonCAExpired:      "an earlier CA in the bundle has expired",
}

// Sentence returns r as a readable sentence.
func (r Reason) Sentence() string {
	if s, ok := sentences[r]; ok {
		return s
	}
	return string(r)
}

// issuance is what a self-managed Secret must hold.
type issuance struct {
	hosts           []string
	caValidity      time.Duration
	servingValidity time.Duration
}

// plan returns the Secret data to store instead of data at now, and why.
// When nothing is due it returns data itself and ReasonUpToDate. It only
// generates what is due: a valid CA is kept when the serving certificate is
// renewed, so caBundle does not change.
func (is issuance) plan(data map[string][]byte, now time.Time) (map[string][]byte, Reason, error) {
	ca, caErr := parseKeyPair(data[CABundleKey], data[CAKeyKey])
	bundle, _ := ParseCertificates(data[CABundleKey])

	var caReason Reason
	switch {
	case caErr != nil || !ca.cert.IsCA:
		caReason, bundle = ReasonNoCA, nil
	case !now.Before(RenewAt(ca.cert)):
		caReason = ReasonCARenewal
	}
	if caReason != ReasonUpToDate {
		var err error
		if ca, err = newCA(now, is.caValidity); err != nil {
			return nil, "", err
		}
		bundle = append([]*x509.Certificate{ca.cert}, bundle...)
	}
	live := unexpired(bundle, now)
	if caReason == ReasonUpToDate && len(live) < len(bundle) {
		caReason = ReasonCAExpired
	}

	serving, servingReason := is.checkServing(data, ca, now)
	if caReason == ReasonNoCA || caReason == ReasonCARenewal {
		servingReason = ReasonNoServing
	}
	if servingReason != ReasonUpToDate {
		var err error
		if serving, err = newServing(ca, is.hosts, now, is.servingValidity); err != nil {
			return nil, "", err
		}
	}

	reason := caReason
	if reason != ReasonNoCA && reason != ReasonCARenewal && servingReason != ReasonUpToDate {
		reason = servingReason
	}
	if reason == ReasonUpToDate {
		return data, ReasonUpToDate, nil
	}
	out := maps.Clone(data)
	if out == nil {
		out = map[string][]byte{}
	}
	out[CABundleKey] = encodeCertificates(live)
	out[CAKeyKey] = ca.keyPEM
	out[TLSCertKey] = serving.certPEM
	out[TLSKeyKey] = serving.keyPEM
	return out, reason, nil
}

// checkServing returns the Secret's serving key pair and ReasonUpToDate if
// it is signed by ca, covers every host and is not due for renewal at now.
func (is issuance) checkServing(data map[string][]byte, ca *keyPair, now time.Time) (*keyPair, Reason) {
	if ca == nil {
		return nil, ReasonNoServing
	}
	kp, err := parseKeyPair(data[TLSCertKey], data[TLSKeyKey])
	if err != nil || kp.cert.CheckSignatureFrom(ca.cert) != nil {
		return nil, ReasonNoServing
	}
	for _, h := range is.hosts {
		if kp.cert.VerifyHostname(h) != nil {
			return nil, ReasonHostsChanged
		}
	}
	if !now.Before(RenewAt(kp.cert)) {
		return nil, ReasonServingRenewal
	}
	return kp, ReasonUpToDate
}

// unexpired returns the certificates in certs that are still valid at now.
func unexpired(certs []*x509.Certificate, now time.Time) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if now.Before(c.NotAfter) {
			out = append(out, c)
		}
	}
	return out
}

// servingFromData returns the serving key pair and the CA that signed it
// from Secret data that plan produced or accepted.
func servingFromData(data map[string][]byte) (serving *keyPair, signer *x509.Certificate, err error) {
	serving, err = parseKeyPair(data[TLSCertKey], data[TLSKeyKey])
	if err != nil {
		return nil, nil, fmt.Errorf("internal error: invalid serving certificate in the Secret: %w", err)
	}
	bundle, err := ParseCertificates(data[CABundleKey])
	if err != nil {
		return nil, nil, fmt.Errorf("internal error: invalid CA bundle in the Secret: %w", err)
	}
	return serving, bundle[0], nil
}
