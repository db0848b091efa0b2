package admit

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSOptions(t *testing.T) {
	dir, _ := writeServingCert(t)
	caFile := filepath.Join(dir, "tls.crt")
	notPEM := filepath.Join(dir, "garbage")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		cfg        TLSConfig
		wantMin    uint16
		wantProtos []string
		wantAuth   tls.ClientAuthType
		wantErr    string
	}{
		"the defaults: TLS 1.2, HTTP/1.1 only, no client certificate": {
			cfg: TLSConfig{}, wantMin: tls.VersionTLS12, wantProtos: []string{"http/1.1"}, wantAuth: tls.NoClientCert,
		},
		"TLS 1.3 only, HTTP/2 allowed": {
			cfg: TLSConfig{TLS13Only: true, EnableHTTP2: true}, wantMin: tls.VersionTLS13, wantProtos: []string{"h2"}, wantAuth: tls.NoClientCert,
		},
		"a client CA requires client certificates": {
			cfg: TLSConfig{ClientCAFile: caFile}, wantMin: tls.VersionTLS12, wantProtos: []string{"http/1.1"}, wantAuth: tls.RequireAndVerifyClientCert,
		},
		"a missing client CA is an error":     {cfg: TLSConfig{ClientCAFile: filepath.Join(dir, "nope")}, wantErr: "failed to read client CA"},
		"a client CA without PEM is an error": {cfg: TLSConfig{ClientCAFile: notPEM}, wantErr: "holds no PEM certificate"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts, err := tc.cfg.TLSOptions()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := &tls.Config{NextProtos: []string{"h2"}} // controller-runtime's starting point
			for _, o := range opts {
				o(c)
			}
			if c.MinVersion != tc.wantMin || strings.Join(c.NextProtos, ",") != strings.Join(tc.wantProtos, ",") || c.ClientAuth != tc.wantAuth {
				t.Errorf("min %x protos %v auth %v; want %x %v %v", c.MinVersion, c.NextProtos, c.ClientAuth, tc.wantMin, tc.wantProtos, tc.wantAuth)
			}
		})
	}
}
