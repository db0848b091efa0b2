package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
)

func TestCertFlagDefaults(t *testing.T) {
	code, _, stderr, o := runCmd(t, "", "serve")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := certOptions{
		Mode:              "files",
		Namespace:         "gatemesh-system",
		ServiceName:       "gatemesh-webhook",
		WebhookConfigName: "gatemesh",
		SecretName:        "gatemesh-webhook-certs",
		CertificateName:   "gatemesh-serving",
		Validity:          365 * 24 * time.Hour,
		CAValidity:        10 * 365 * 24 * time.Hour,
	}
	if diff := cmp.Diff(want, o.Certs); diff != "" {
		t.Errorf("defaults (-want,+got):\n%s", diff)
	}
}

func TestCertFlags(t *testing.T) {
	code, _, stderr, o := runCmd(t, "", "serve", "--cert-mode=self", "--namespace=gm", "--service-name=hook",
		"--cert-validity=1h", "--ca-validity=24h", "--cert-extra-hosts=127.0.0.1, localhost")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if o.Certs.Mode != "self" || o.Certs.Validity != time.Hour || o.Certs.CAValidity != 24*time.Hour {
		t.Errorf("options %+v", o.Certs)
	}
	want := []string{"hook.gm.svc", "hook.gm.svc.cluster.local", "127.0.0.1", "localhost"}
	if diff := cmp.Diff(want, o.Certs.hosts()); diff != "" {
		t.Errorf("hosts (-want,+got):\n%s", diff)
	}
}

func TestInvalidCertFlagsStopStartup(t *testing.T) {
	cases := map[string]struct {
		args    []string
		wantMsg string
	}{
		"an unknown mode":             {[]string{"--cert-mode=vault"}, `invalid --cert-mode "vault"`},
		"a namespace that is no name": {[]string{"--namespace=Gate_Mesh"}, "invalid --namespace"},
		"a Secret name that is none":  {[]string{"--cert-secret-name=-x"}, "invalid --cert-secret-name"},
		"a zero validity":             {[]string{"--cert-validity=0s"}, "invalid --cert-validity"},
		"a CA shorter than its leaves": {
			[]string{"--cert-validity=48h", "--ca-validity=24h"}, "the CA's longer",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, stderr, o := runCmd(t, "", append([]string{"serve"}, tc.args...)...)
			if code != 1 || o != nil {
				t.Fatalf("exit %d (want 1), started = %v", code, o != nil)
			}
			if !strings.Contains(stderr, tc.wantMsg) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantMsg)
			}
		})
	}
}

// TestCertSourceByMode builds each mode's source; nothing talks to the API
// server until the source starts.
func TestCertSourceByMode(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	for mode, want := range map[string]string{
		"files":        "*certs.Files",
		"cert-manager": "*certs.CertManager",
		"self":         "*certs.Self",
	} {
		t.Run(mode, func(t *testing.T) {
			code, _, stderr, o := runCmd(t, "", "serve", "--cert-mode="+mode)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			src, err := newCertSource(o, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%T", src); got != want {
				t.Errorf("source %s, want %s", got, want)
			}
		})
	}
}
