package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Files is the Source that reads TLSCertKey and TLSKeyKey (tls.crt and
// tls.key) from a directory. Until both are there and form a key pair it
// looks again every poll interval, so the server starts and reports what is
// missing instead of exiting; from then on controller-runtime's certwatcher
// reloads them on every change (a file watch, and a re-read every poll
// interval), keeping the last good pair when a new one does not parse.
type Files struct {
	certPath, keyPath string
	o                 options
	watcher           atomic.Pointer[certwatcher.CertWatcher]
	lastErr           atomic.Pointer[string]
}

var (
	_ Source                         = (*Files)(nil)
	_ manager.LeaderElectionRunnable = (*Files)(nil)
)

// NewFiles returns a Files reading dir.
func NewFiles(dir string, opts ...Option) *Files {
	return &Files{
		certPath: filepath.Join(dir, TLSCertKey),
		keyPath:  filepath.Join(dir, TLSKeyKey),
		o:        newOptions(opts),
	}
}

// NeedLeaderElection is false: every replica serves.
func (f *Files) NeedLeaderElection() bool { return false }

// Start waits for the files, then watches them until ctx ends.
func (f *Files) Start(ctx context.Context) error {
	log := f.o.log.WithValues("cert", f.certPath, "key", f.keyPath)
	var last string
	for {
		w, err := certwatcher.New(f.certPath, f.keyPath)
		if err == nil {
			f.watcher.Store(w.WithWatchInterval(f.o.poll))
			f.lastErr.Store(nil)
			log.Info("Loaded the serving certificate files")
			if err := w.Start(ctx); err != nil {
				return fmt.Errorf("failed to watch the serving certificate files: %w", err)
			}
			return nil
		}
		msg := err.Error()
		f.lastErr.Store(&msg)
		if msg != last {
			log.Info("Waiting for the serving certificate files", "error", msg)
			last = msg
		}
		select {
		case <-ctx.Done():
			return nil
		case <-f.o.clock.After(f.o.poll):
		}
	}
}

// GetCertificate returns the certificate last read from the files.
func (f *Files) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if w := f.watcher.Load(); w != nil {
		return w.GetCertificate(hello)
	}
	return nil, errors.New("the serving certificate files have not been read yet")
}

// Check is ready once the files were read, while their certificate has not
// expired.
func (f *Files) Check(*http.Request) error {
	w := f.watcher.Load()
	if w == nil {
		if e := f.lastErr.Load(); e != nil {
			return fmt.Errorf("no serving certificate files: %s", *e)
		}
		return fmt.Errorf("the serving certificate files %s and %s have not been read yet", f.certPath, f.keyPath)
	}
	c, err := w.GetCertificate(nil)
	if err != nil || c == nil {
		return fmt.Errorf("internal error: no certificate in the watcher: %v", err)
	}
	if c.Leaf != nil && !f.o.clock.Now().Before(c.Leaf.NotAfter) {
		return fmt.Errorf("the serving certificate in %s expired at %s", f.certPath, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
