package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// patchCABundle sets caBundle to bundle (PEM) in every webhook of the
// MutatingWebhookConfiguration, and reports whether every webhook's
// caBundle already held signer before. The configuration is read and
// written as unstructured, so that fields newer than this program's
// Kubernetes API survive, and written with the resourceVersion read.
func (s *Self) patchCABundle(ctx context.Context, bundle []byte, signer *x509.Certificate) (hadSigner bool, err error) {
	name := s.cfg.WebhookConfiguration
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("MutatingWebhookConfiguration"))
		if err := s.client.Get(ctx, client.ObjectKey{Name: name}, u); err != nil {
			return err
		}
		webhooks, _, err := unstructured.NestedSlice(u.Object, "webhooks")
		if err != nil {
			return err
		}
		if len(webhooks) == 0 {
			return fmt.Errorf("MutatingWebhookConfiguration %s has no webhooks", name)
		}
		hadSigner = true
		changed := false
		want := base64.StdEncoding.EncodeToString(bundle)
		for i, w := range webhooks {
			hook, ok := w.(map[string]any)
			if !ok {
				return fmt.Errorf("MutatingWebhookConfiguration %s: webhooks[%d] is not an object", name, i)
			}
			cur, _, _ := unstructured.NestedString(hook, "clientConfig", "caBundle")
			if !holds(cur, signer) {
				hadSigner = false
			}
			if cur != want {
				if err := unstructured.SetNestedField(hook, want, "clientConfig", "caBundle"); err != nil {
					return err
				}
				changed = true
			}
		}
		if !changed {
			return nil
		}
		if err := unstructured.SetNestedSlice(u.Object, webhooks, "webhooks"); err != nil {
			return err
		}
		if err := s.client.Update(ctx, u); err != nil {
			return err
		}
		s.o.log.Info("Patched caBundle", "webhookConfiguration", name, "webhooks", len(webhooks))
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("failed to patch caBundle of MutatingWebhookConfiguration %s: %w", name, err)
	}
	return hadSigner, nil
}

// holds reports whether the base64 PEM bundle b64 holds c.
func holds(b64 string, c *x509.Certificate) bool {
	pemBytes, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return false
	}
	certs, err := ParseCertificates(pemBytes)
	if err != nil {
		return false
	}
	for _, have := range certs {
		if bytes.Equal(have.Raw, c.Raw) {
			return true
		}
	}
	return false
}
