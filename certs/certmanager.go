package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// CertManager is the Source for a directory that cert-manager fills: Files,
// gated on the cert-manager Certificate that issues them. It is not ready
// until the Certificate has the condition Ready=True and the files have
// been read; until then it logs, whenever what it sees changes, the
// Certificate's name and Ready condition and what is missing. Once ready it
// stays ready whatever the Certificate later says (a renewal that fails
// leaves the current certificate in place, still valid), unless the
// certificate served expires.
type CertManager struct {
	*Files
	reader client.Reader
	name   types.NamespacedName
	ready  atomic.Bool

	mu     sync.Mutex
	logged string
}

var (
	_ Source                         = (*CertManager)(nil)
	_ manager.LeaderElectionRunnable = (*CertManager)(nil)
)

// NewCertManager returns a CertManager that serves the files in dir once
// the Certificate called name, read through r, is Ready. r needs
// cert-manager's types in its scheme (NewScheme); it should not be a
// cached client, so that only get on that one Certificate is needed.
func NewCertManager(r client.Reader, name types.NamespacedName, dir string, opts ...Option) *CertManager {
	return &CertManager{Files: NewFiles(dir, opts...), reader: r, name: name}
}

// Start watches the files and, until ready, reads the Certificate every
// poll interval.
func (c *CertManager) Start(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- c.Files.Start(ctx) }()
	for c.evaluate(ctx) != nil {
		select {
		case <-ctx.Done():
			return <-errc
		case err := <-errc:
			return err
		case <-c.o.clock.After(c.o.poll):
		}
	}
	return <-errc
}

// GetCertificate returns the certificate read from the files. It is served
// as soon as it is there, even before the Certificate is Ready: readiness,
// not the handshake, keeps requests away until then.
func (c *CertManager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.Files.GetCertificate(hello)
}

// Check is ready once the Certificate was Ready and the files were read.
func (c *CertManager) Check(req *http.Request) error {
	if c.ready.Load() {
		return c.Files.Check(req)
	}
	ctx := context.Background()
	if req != nil {
		ctx = req.Context()
	}
	return c.evaluate(ctx)
}

// evaluate reads the Certificate and the files' state, logs it when it
// changed, and returns nil when both are ready.
func (c *CertManager) evaluate(ctx context.Context) error {
	if c.ready.Load() {
		return nil
	}
	condition, certErr := c.certificateCondition(ctx)
	filesErr := c.Files.Check(nil)

	var err error
	switch {
	case certErr != nil && filesErr != nil:
		err = fmt.Errorf("%w; %w", certErr, filesErr)
	case certErr != nil:
		err = certErr
	case filesErr != nil:
		err = filesErr
	}
	files := "read"
	if filesErr != nil {
		files = filesErr.Error()
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		if c.ready.CompareAndSwap(false, true) {
			c.o.log.Info("The serving certificate is ready", "certificate", klog.KRef(c.name.Namespace, c.name.Name),
				"condition", condition)
		}
		return nil
	}
	if state := condition + "|" + files; state != c.logged {
		c.logged = state
		c.o.log.Info("Waiting for the serving certificate", "certificate", klog.KRef(c.name.Namespace, c.name.Name),
			"condition", condition, "files", files)
	}
	return err
}

// certificateCondition returns the Certificate's Ready condition as text,
// and an error unless it is Ready=True.
func (c *CertManager) certificateCondition(ctx context.Context) (string, error) {
	var cert cmapi.Certificate
	err := c.reader.Get(ctx, c.name, &cert)
	switch {
	case meta.IsNoMatchError(err):
		return "unknown", fmt.Errorf("cert-manager Certificate %s: the cert-manager.io/v1 API is not installed: %w", c.name, err)
	case apierrors.IsNotFound(err):
		return "unknown", fmt.Errorf("cert-manager Certificate %s does not exist", c.name)
	case err != nil:
		return "unknown", fmt.Errorf("failed to get cert-manager Certificate %s: %w", c.name, err)
	}
	cond := readyCondition(&cert)
	if cond == nil {
		return "Ready missing", fmt.Errorf("cert-manager Certificate %s has no Ready condition yet", c.name)
	}
	text := fmt.Sprintf("Ready=%s", cond.Status)
	if cond.Reason != "" || cond.Message != "" {
		text += fmt.Sprintf(" (%s: %s)", cond.Reason, cond.Message)
	}
	if cond.Status != cmmeta.ConditionTrue {
		return text, fmt.Errorf("cert-manager Certificate %s is not ready: %s", c.name, text)
	}
	return text, nil
}

func readyCondition(cert *cmapi.Certificate) *cmapi.CertificateCondition {
	for i := range cert.Status.Conditions {
		if cert.Status.Conditions[i].Type == cmapi.CertificateConditionReady {
			return &cert.Status.Conditions[i]
		}
	}
	return nil
}
