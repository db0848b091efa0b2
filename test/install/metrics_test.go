package install

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// checkMetrics scrapes the binary's /metrics as Prometheus would, with the
// token of a ServiceAccount bound to the install's gatemesh-metrics-reader
// ClusterRole: the binary, running as the install's ServiceAccount, must be
// allowed the TokenReview and SubjectAccessReview that check it (the
// install's RBAC grants both), and answers 200 with gatemesh's metrics; with
// no token, 401.
func (r *binaryRun) checkMetrics(t *testing.T, ns string) {
	t.Helper()
	ctx := t.Context()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prometheus"}}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "gatemesh-metrics-reader-" + ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "gatemesh-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa.Name}},
	}
	if err := admin.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(t.Context(), binding) })
	cs, err := kubernetes.NewForConfig(adminCfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// What is checked here is who may read, not the certificate (the
	// webhook's, checked by the admissions above).
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // see above
	}}
	scrape := func(token string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+r.metricsAddr+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET /metrics: %v; the binary's output:\n%s", err, r.out.String())
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		return resp.StatusCode, string(body)
	}
	// The binding reaches the API server's authorizer cache at once, but
	// allow it a moment.
	var code int
	var body string
	_ = waitFor(10*time.Second, func() bool {
		code, body = scrape(tr.Status.Token)
		return code == http.StatusOK
	})
	if code != http.StatusOK || !strings.Contains(body, "gatemesh_mutations_total") {
		t.Errorf("GET /metrics with the reader's token: %d, gatemesh_mutations_total there: %v; the binary's output:\n%s",
			code, strings.Contains(body, "gatemesh_mutations_total"), r.out.String())
	}
	if code, _ := scrape(""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token: %d, want 401", code)
	}
}
