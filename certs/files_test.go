package certs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// writeFiles writes a serving key pair valid from now into dir and returns
// its serial number.
func writeFiles(t *testing.T, dir string, now time.Time) string {
	t.Helper()
	ca, err := newCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := newServing(ca, []string{"127.0.0.1"}, now, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, TLSKeyKey), kp.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, TLSCertKey), kp.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return kp.cert.SerialNumber.String()
}

// runSource starts src until the test ends.
func runSource(t *testing.T, src Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- src.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
}

func servedSerial(src Source) string {
	c, err := src.GetCertificate(nil)
	if err != nil || c == nil || c.Leaf == nil {
		return ""
	}
	return c.Leaf.SerialNumber.String()
}

func TestFilesWaitsForTheFilesThenReloadsThem(t *testing.T) {
	dir := t.TempDir()
	f := NewFiles(dir, WithPollInterval(10*time.Millisecond))
	runSource(t, f)

	waitUntil(t, func() bool {
		err := f.Check(nil)
		return err != nil && strings.Contains(err.Error(), "no such file")
	})
	if _, err := f.GetCertificate(nil); err == nil {
		t.Error("serves without files")
	}
	first := writeFiles(t, dir, time.Now())
	waitUntil(t, func() bool { return f.Check(nil) == nil && servedSerial(f) == first })

	second := writeFiles(t, dir, time.Now())
	waitUntil(t, func() bool { return servedSerial(f) == second })
}

func TestFilesCheckReportsExpiry(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, t0)
	clk := testingclock.NewFakeClock(t0)
	f := NewFiles(dir, WithClock(clk), WithPollInterval(time.Hour))
	runSource(t, f)
	waitUntil(t, func() bool { return f.Check(nil) == nil })
	clk.SetTime(t0.Add(31 * time.Minute))
	if err := f.Check(nil); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("Check after expiry: %v", err)
	}
}
