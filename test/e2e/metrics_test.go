package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestMetricsNeedAnAuthorizedToken scrapes the metrics server that `webhook
// serve` runs by default, as Prometheus would, with ServiceAccount tokens:
// the API server authenticates each (TokenReview) and authorizes it for get
// on /metrics (SubjectAccessReview) under RBAC.
func TestMetricsNeedAnAuthorizedToken(t *testing.T) {
	ctx := testCtx(t)
	c := suite.cp.Client
	ns := namespace(t, "metrics", nil)
	reader := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: unique("gatemesh-e2e-metrics-reader")},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: reader.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "prometheus"}},
	}
	objs := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prometheus"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stranger"}},
		reader, binding,
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// The test's context has ended by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, o := range []client.Object{binding, reader} {
			if err := c.Delete(ctx, o); err != nil {
				t.Error(err)
			}
		}
	})
	cs, err := kubernetes.NewForConfig(suite.cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	token := func(sa string) string {
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}

	// One more replica, with the metrics server, on ports nothing else
	// uses.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	w, err := suite.cp.StartWebhook(suite.ctx, WithPort(freePort(t)), WithMetrics(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Stop(); err != nil {
			t.Error(err)
		}
	})

	// The webhook's certificate, verified with envtest's CA, as a
	// ServiceMonitor's tlsConfig would.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(suite.cp.Env.WebhookInstallOptions.LocalServingCAData)
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	scrape := func(bearer string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/metrics", nil)
		if err != nil {
			return 0, "", err
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		return resp.StatusCode, string(body), err
	}

	prometheus := token("prometheus")
	// The metrics server starts beside the webhook server: wait for it.
	deadline := time.Now().Add(readyTimeout)
	for {
		code, body, err := scrape(prometheus)
		if err == nil && code == http.StatusOK {
			if !strings.Contains(body, "gatemesh_mutations_total") && !strings.Contains(body, "controller_runtime_") {
				t.Errorf("the authorized scrape has no gatemesh or controller-runtime metrics:\n%.2000s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an authorized token did not get /metrics within %s: %d %v\n%.500s", readyTimeout, code, err, body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	cases := map[string]struct {
		token string
		want  int
	}{
		"an unbound ServiceAccount's token is forbidden": {token: token("stranger"), want: http.StatusForbidden},
		"no token is unauthorized":                       {want: http.StatusUnauthorized},
		// The API server's TokenReview answers a token it cannot verify
		// with an error, which controller-runtime's filter turns into 500.
		"a forged token is refused": {
			token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06YWRtaW4ifQ.c2lnbmF0dXJl", want: http.StatusInternalServerError,
		},
		"the bound ServiceAccount's token gets the metrics": {token: prometheus, want: http.StatusOK},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, body, err := scrape(tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.want {
				t.Errorf("status %d, want %d: %.300s", code, tc.want, body)
			}
			if code != http.StatusOK && strings.Contains(body, "gatemesh_") {
				t.Errorf("a refused scrape got metrics")
			}
		})
	}

	t.Run("plain HTTP gets no metrics", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("plain HTTP got %s", resp.Status)
			}
		}
	})
	t.Run("a CBC-only TLS 1.2 client is refused", func(t *testing.T) {
		cbc := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cbc)
		if err == nil {
			conn.Close()
			t.Errorf("the metrics server accepted %s", tls.CipherSuiteName(conn.ConnectionState().CipherSuite))
		}
	})
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
