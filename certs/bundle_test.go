package certs

import (
	"bytes"
	"crypto/x509"
	"testing"
	"time"
)

var testIssuance = issuance{
	hosts:           []string{"svc.ns.svc", "svc.ns.svc.cluster.local"},
	caValidity:      DefaultCAValidity,
	servingValidity: DefaultServingValidity,
}

// mustPlan plans from data at now and fails the test on error.
func mustPlan(t *testing.T, is issuance, data map[string][]byte, now time.Time) (map[string][]byte, Reason) {
	t.Helper()
	out, reason, err := is.plan(data, now)
	if err != nil {
		t.Fatal(err)
	}
	return out, reason
}

func TestPlan(t *testing.T) {
	fresh, reason := mustPlan(t, testIssuance, nil, t0)
	if reason != ReasonNoCA {
		t.Fatalf("an empty Secret: reason %q", reason)
	}
	serving0, _, _ := servingFromData(fresh)
	ca0 := parseAll(t, fresh[CABundleKey])[0]
	servingRenewAt := RenewAt(serving0.cert)
	caRenewAt := RenewAt(ca0)

	otherCA, _ := mustPlan(t, testIssuance, nil, t0)
	withForeignServing := clone(fresh)
	withForeignServing[TLSCertKey], withForeignServing[TLSKeyKey] = otherCA[TLSCertKey], otherCA[TLSKeyKey]
	garbledKey := clone(fresh)
	garbledKey[CAKeyKey] = []byte("not a key")
	moreHosts := testIssuance
	moreHosts.hosts = append([]string{"127.0.0.1"}, testIssuance.hosts...)

	cases := map[string]struct {
		is         issuance
		data       map[string][]byte
		now        time.Time
		want       Reason
		keepsCA    bool // the CA bundle and key are unchanged
		bundleSize int
	}{
		"an up-to-date Secret is left alone": {
			is: testIssuance, data: fresh, now: t0.Add(time.Hour), want: ReasonUpToDate, keepsCA: true, bundleSize: 1,
		},
		"just before 2/3 of the serving lifetime nothing changes": {
			is: testIssuance, data: fresh, now: servingRenewAt.Add(-time.Second), want: ReasonUpToDate, keepsCA: true, bundleSize: 1,
		},
		"at 2/3 of the serving lifetime only the serving certificate is renewed": {
			is: testIssuance, data: fresh, now: servingRenewAt, want: ReasonServingRenewal, keepsCA: true, bundleSize: 1,
		},
		"a host name the certificate lacks reissues it with the same CA": {
			is: moreHosts, data: fresh, now: t0.Add(time.Hour), want: ReasonHostsChanged, keepsCA: true, bundleSize: 1,
		},
		"a serving certificate another CA signed is replaced": {
			is: testIssuance, data: withForeignServing, now: t0.Add(time.Hour), want: ReasonNoServing, keepsCA: true, bundleSize: 1,
		},
		"a CA key that does not parse starts over": {
			is: testIssuance, data: garbledKey, now: t0.Add(time.Hour), want: ReasonNoCA, bundleSize: 1,
		},
		"at 2/3 of the CA lifetime a new CA signs, the old one stays in the bundle": {
			is: testIssuance, data: fresh, now: caRenewAt, want: ReasonCARenewal, bundleSize: 2,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, reason := mustPlan(t, tc.is, tc.data, tc.now)
			if reason != tc.want {
				t.Fatalf("reason %q (%s), want %q", reason, reason.Sentence(), tc.want)
			}
			sameCA := bytes.Equal(got[CABundleKey], tc.data[CABundleKey]) && bytes.Equal(got[CAKeyKey], tc.data[CAKeyKey])
			if sameCA != tc.keepsCA {
				t.Errorf("CA unchanged = %v, want %v", sameCA, tc.keepsCA)
			}
			bundle := parseAll(t, got[CABundleKey])
			if len(bundle) != tc.bundleSize {
				t.Errorf("%d CAs in the bundle, want %d", len(bundle), tc.bundleSize)
			}
			serving, signer, err := servingFromData(got)
			if err != nil {
				t.Fatal(err)
			}
			if err := serving.cert.CheckSignatureFrom(signer); err != nil {
				t.Errorf("the serving certificate is not signed by the bundle's first CA: %v", err)
			}
			if !tc.now.Before(RenewAt(serving.cert)) {
				t.Error("the serving certificate is already due for renewal")
			}
			for _, h := range tc.is.hosts {
				if err := serving.cert.VerifyHostname(h); err != nil {
					t.Error(err)
				}
			}
			if again, reason := mustPlan(t, tc.is, got, tc.now); reason != ReasonUpToDate || !bytes.Equal(again[TLSCertKey], got[TLSCertKey]) {
				t.Errorf("planning again changes the Secret: %q", reason)
			}
		})
	}
}

func TestPlanDropsAnExpiredCA(t *testing.T) {
	// A serving validity over half the CA's keeps the serving certificate
	// current when the old CA expires, so the drop is the only change.
	is := testIssuance
	is.servingValidity = 6 * 365 * 24 * time.Hour
	fresh, _ := mustPlan(t, is, nil, t0)
	oldCA := parseAll(t, fresh[CABundleKey])[0]
	renewed, reason := mustPlan(t, is, fresh, RenewAt(oldCA))
	if reason != ReasonCARenewal || len(parseAll(t, renewed[CABundleKey])) != 2 {
		t.Fatalf("CA renewal: reason %q", reason)
	}
	got, reason := mustPlan(t, is, renewed, oldCA.NotAfter.Add(time.Second))
	if reason != ReasonCAExpired {
		t.Fatalf("reason %q, want %q", reason, ReasonCAExpired)
	}
	bundle := parseAll(t, got[CABundleKey])
	if len(bundle) != 1 || bundle[0].Equal(oldCA) {
		t.Errorf("the bundle still holds the expired CA (%d certificates)", len(bundle))
	}
	if !bytes.Equal(got[TLSCertKey], renewed[TLSCertKey]) {
		t.Error("the serving certificate changed")
	}
}

func TestEveryReasonHasASentence(t *testing.T) {
	for _, r := range []Reason{ReasonUpToDate, ReasonNoCA, ReasonCARenewal, ReasonNoServing, ReasonHostsChanged, ReasonServingRenewal, ReasonCAExpired} {
		if s := r.Sentence(); s == "" || s == string(r) {
			t.Errorf("reason %q has no sentence", r)
		}
	}
}

func parseAll(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	certs, err := ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func clone(data map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range data {
		out[k] = bytes.Clone(v)
	}
	return out
}
