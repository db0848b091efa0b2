package main

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/certs"
	"github.com/gatemesh/gatemesh/pkg/policy"
)

// servingSecrets are where the serving certificate lives: cert-manager's
// (manifests/overlays/cert-manager) and self mode's (--cert-secret-name).
var servingSecrets = []string{"gatemesh-serving-tls", "gatemesh-webhook-certs"}

// install checks gatemesh's installation: the webhook configuration, its
// caBundle against the serving certificate, and the Service's ready
// endpoints. It reports every check, and action needed when one fails.
func (ck *checker) install(o *checkOptions) (int, error) {
	code := checkOK
	fail := func(format string, args ...any) {
		fmt.Fprintf(ck.out, "  FAIL "+format+"\n", args...)
		code = checkActionNeeded
	}
	ok := func(format string, args ...any) { fmt.Fprintf(ck.out, "  ok   "+format+"\n", args...) }
	fmt.Fprintf(ck.out, "install in namespace %s:\n", o.installNamespace)

	var pool *x509.CertPool
	mwc := &admissionv1.MutatingWebhookConfiguration{}
	switch err := ck.c.Get(ck.ctx, types.NamespacedName{Name: o.webhookConfig}, mwc); {
	case err != nil:
		fail("MutatingWebhookConfiguration %s: %v", o.webhookConfig, err)
	case len(mwc.Webhooks) == 0:
		fail("MutatingWebhookConfiguration %s has no webhooks", o.webhookConfig)
	default:
		ok("MutatingWebhookConfiguration %s: %d webhooks", o.webhookConfig, len(mwc.Webhooks))
		pool = x509.NewCertPool()
		for _, w := range mwc.Webhooks {
			cas, err := certs.ParseCertificates(w.ClientConfig.CABundle)
			if err != nil || len(cas) == 0 {
				fail("webhook %s: caBundle holds no certificate (%v)", w.Name, err)
				continue
			}
			for _, ca := range cas {
				pool.AddCert(ca)
			}
			ok("webhook %s: caBundle holds %d certificates", w.Name, len(cas))
		}
		ck.podMatchConditions(mwc, ok, fail)
	}

	ck.servingCert(o, pool, ok, fail)

	var slices discoveryv1.EndpointSliceList
	err := ck.c.List(ck.ctx, &slices, client.InNamespace(o.installNamespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: o.serviceName})
	if err != nil {
		return 0, fmt.Errorf("failed to list the endpoints of Service %s/%s: %w", o.installNamespace, o.serviceName, err)
	}
	ready := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready++
			}
		}
	}
	if ready == 0 {
		fail("Service %s: no ready endpoints: the API server cannot call gatemesh", o.serviceName)
	} else {
		ok("Service %s: %d ready endpoints", o.serviceName, ready)
	}
	return code, nil
}

// servingCert verifies the serving certificate in its Secret against the
// caBundle's CAs, for the Service's host name.
func (ck *checker) servingCert(o *checkOptions, pool *x509.CertPool, ok, fail func(string, ...any)) {
	host := certs.ServiceHosts(o.serviceName, o.installNamespace)[0]
	for _, name := range servingSecrets {
		sec := &corev1.Secret{}
		if err := ck.c.Get(ck.ctx, types.NamespacedName{Namespace: o.installNamespace, Name: name}, sec); err != nil {
			continue
		}
		chain, err := certs.ParseCertificates(sec.Data[corev1.TLSCertKey])
		if err != nil || len(chain) == 0 {
			fail("Secret %s: %s holds no certificate (%v)", name, corev1.TLSCertKey, err)
			return
		}
		if pool == nil {
			fail("Secret %s: serving certificate not verified: no caBundle", name)
			return
		}
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err = chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: pool, Intermediates: inter, CurrentTime: time.Now()})
		if err != nil {
			fail("Secret %s: the caBundle does not verify the serving certificate for %s: %v", name, host, err)
			return
		}
		ok("Secret %s: the caBundle verifies the serving certificate for %s, valid until %s", name, host, chain[0].NotAfter.Format(time.RFC3339))
		return
	}
	fmt.Fprintf(ck.out, "  --   serving certificate not checked: none of the Secrets %v in %s\n", servingSecrets, o.installNamespace)
}

// podWebhook is the name of gatemesh's pod webhook in its configuration.
const podWebhook = "pods.gatemesh.io"

// podMatchConditions checks that the pod webhook's matchConditions select
// the pods the policy's gateway proxy selectors select
// (policy.PodMatchExpression): a policy that selects pods the webhook's
// conditions leave out is never asked about them.
func (ck *checker) podMatchConditions(mwc *admissionv1.MutatingWebhookConfiguration, ok, fail func(string, ...any)) {
	want, err := policy.PodMatchExpression(ck.pol.Config().Selection.GatewayProxies)
	if err != nil {
		fail("policy: %v", err)
		return
	}
	spaces := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, w := range mwc.Webhooks {
		if w.Name != podWebhook {
			continue
		}
		for _, mc := range w.MatchConditions {
			if spaces(mc.Expression) == spaces(want) {
				ok("webhook %s: matchConditions select the policy's gateway proxies", w.Name)
				return
			}
		}
		fail("webhook %s: no matchCondition selects exactly the policy's gateway proxies; set its expression to:\n%s", w.Name, want)
		return
	}
	fail("MutatingWebhookConfiguration %s has no webhook %s", mwc.Name, podWebhook)
}
