package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatemesh/gatemesh/certs"
)

// The values of --cert-mode.
const (
	// certModeFiles serves tls.crt and tls.key from --cert-dir, reloaded
	// when they change. It is the default because it needs nothing from the
	// cluster: no API access beyond namespaces, no CRD.
	certModeFiles = "files"
	// certModeCertManager serves the files cert-manager writes into
	// --cert-dir and is not ready until the Certificate --certificate-name
	// is Ready. The shipped manifests default to it.
	certModeCertManager = "cert-manager"
	// certModeSelf generates and rotates the certificates itself, in the
	// Secret --cert-secret-name, and patches caBundle.
	certModeSelf = "self"
)

// certOptions are the serving certificate settings.
type certOptions struct {
	Mode              string
	Namespace         string
	ServiceName       string
	WebhookConfigName string
	SecretName        string
	CertificateName   string
	Validity          time.Duration
	CAValidity        time.Duration
	ExtraHosts        string
}

func addCertFlags(fs *pflag.FlagSet, o *certOptions) {
	fs.StringVar(&o.Mode, "cert-mode", certModeFiles,
		`where the serving certificate comes from: "files" (tls.crt and tls.key in --cert-dir), `+
			`"cert-manager" (files in --cert-dir from the Certificate --certificate-name; not ready until it is Ready) `+
			`or "self" (generated, stored in the Secret --cert-secret-name, caBundle patched, renewed at 2/3 of its validity)`)
	fs.StringVar(&o.Namespace, "namespace", "gatemesh-system",
		"namespace of gatemesh's Service, its Secret (self mode) and its Certificate (cert-manager mode)")
	fs.StringVar(&o.ServiceName, "service-name", "gatemesh-webhook",
		"the webhook Service; the self-managed certificate is for <service>.<namespace>.svc and .svc.cluster.local")
	fs.StringVar(&o.WebhookConfigName, "webhook-config-name", "gatemesh",
		"the MutatingWebhookConfiguration whose webhooks get caBundle (self mode)")
	fs.StringVar(&o.SecretName, "cert-secret-name", "gatemesh-webhook-certs",
		"the Secret holding the self-managed CA and serving certificate, shared by the replicas (self mode)")
	fs.StringVar(&o.CertificateName, "certificate-name", "gatemesh-serving",
		"the cert-manager Certificate that issues the serving certificate (cert-manager mode)")
	fs.DurationVar(&o.Validity, "cert-validity", certs.DefaultServingValidity,
		"validity of the self-managed serving certificate, renewed at 2/3 of it (self mode)")
	fs.DurationVar(&o.CAValidity, "ca-validity", certs.DefaultCAValidity,
		"validity of the self-managed CA, renewed at 2/3 of it (self mode)")
	fs.StringVar(&o.ExtraHosts, "cert-extra-hosts", "",
		"more DNS names or IP addresses for the self-managed serving certificate, as a,b (self mode)")
}

// validate checks the certificate flags.
func (o *certOptions) validate() error {
	switch o.Mode {
	case certModeFiles, certModeCertManager, certModeSelf:
	default:
		return fmt.Errorf("invalid --cert-mode %q: supported values: %q, %q, %q", o.Mode, certModeFiles, certModeCertManager, certModeSelf)
	}
	names := []struct {
		flag, value string
		check       func(string) []string
	}{
		{"namespace", o.Namespace, validation.IsDNS1123Label},
		{"service-name", o.ServiceName, validation.IsDNS1123Label},
		{"webhook-config-name", o.WebhookConfigName, validation.IsDNS1123Subdomain},
		{"cert-secret-name", o.SecretName, validation.IsDNS1123Subdomain},
		{"certificate-name", o.CertificateName, validation.IsDNS1123Subdomain},
	}
	for _, n := range names {
		if msgs := n.check(n.value); len(msgs) > 0 {
			return fmt.Errorf("invalid --%s %q: %s", n.flag, n.value, strings.Join(msgs, "; "))
		}
	}
	if o.Validity <= 0 || o.CAValidity <= o.Validity {
		return fmt.Errorf("invalid --cert-validity %s and --ca-validity %s: both must be positive and the CA's longer", o.Validity, o.CAValidity)
	}
	return nil
}

// hosts returns the self-managed certificate's host names.
func (o *certOptions) hosts() []string {
	hosts := certs.ServiceHosts(o.ServiceName, o.Namespace)
	for _, h := range strings.Split(o.ExtraHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// newCertSource returns the serving certificate source for o.Certs. The
// API modes read and write through their own uncached client, so that RBAC
// can name the single Secret, webhook configuration and Certificate.
func newCertSource(o *serveOptions, cfg *rest.Config) (certs.Source, error) {
	c := o.Certs
	if c.Mode == certModeFiles {
		return certs.NewFiles(o.CertDir), nil
	}
	scheme, err := certs.NewScheme()
	if err != nil {
		return nil, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("failed to create client: %w", err)
	}
	if c.Mode == certModeCertManager {
		return certs.NewCertManager(cl, types.NamespacedName{Namespace: c.Namespace, Name: c.CertificateName}, o.CertDir), nil
	}
	return certs.NewSelf(cl, certs.SelfConfig{
		Secret:               types.NamespacedName{Namespace: c.Namespace, Name: c.SecretName},
		WebhookConfiguration: c.WebhookConfigName,
		Hosts:                c.hosts(),
		ServingValidity:      c.Validity,
		CAValidity:           c.CAValidity,
	})
}
