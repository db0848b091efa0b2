package attack

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// webhook is one `webhook serve` process.
type webhook struct {
	cmd     *exec.Cmd
	addr    string // the webhook server, host:port
	probe   string // /healthz and /readyz
	metrics string // /metrics
	logPath string
	exited  chan struct{} // closed once the process has exited
	err     error         // its exit, once exited is closed
}

// startupTimeout bounds how long a webhook takes to become ready.
const startupTimeout = 60 * time.Second

// startWebhook runs the binary on envtest's webhook host, port and
// certificates, with its own probe and (plain HTTP) metrics ports and the
// Deployment's memory limit, and waits until /readyz answers 200: the
// server listens and the namespace cache has synced. args come after the suite's flags, so
// they can override them. The process is stopped when the test ends.
func startWebhook(t *testing.T, args ...string) *webhook {
	t.Helper()
	opts := suite.cp.Env.WebhookInstallOptions
	w := &webhook{
		addr:    net.JoinHostPort(opts.LocalServingHost, strconv.Itoa(opts.LocalServingPort)),
		probe:   freeAddr(t),
		metrics: freeAddr(t),
		logPath: filepath.Join(t.TempDir(), "webhook.log"),
		exited:  make(chan struct{}),
	}
	logFile, err := os.Create(w.logPath)
	if err != nil {
		t.Fatalf("failed to create the webhook's log: %v", err)
	}
	flags := []string{"serve",
		"--kubeconfig", suite.kubeconfig,
		"--cert-mode", "files", "--cert-dir", opts.LocalServingCertDir,
		"--webhook-host", opts.LocalServingHost, "--webhook-port", strconv.Itoa(opts.LocalServingPort),
		"--health-probe-bind-address", w.probe, "--metrics-bind-address", w.metrics, "--metrics-secure=false",
		"--shutdown-delay", "2s",
	}
	w.cmd = exec.Command(suite.binary, append(flags, args...)...)
	w.cmd.Stdout, w.cmd.Stderr = logFile, logFile
	w.cmd.Env = suite.shipped.environ()
	if err := w.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("failed to start the webhook: %v", err)
	}
	go func() {
		w.err = w.cmd.Wait()
		logFile.Close()
		close(w.exited)
	}()
	t.Cleanup(func() { w.stop(t) })

	deadline := time.Now().Add(startupTimeout)
	for !w.ready() {
		select {
		case <-w.exited:
			t.Fatalf("start: the webhook exited before it was ready (%v); its log:\n%s", w.err, w.log())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("start: the webhook was not ready within %s; its log:\n%s", startupTimeout, w.log())
		}
	}
	return w
}

// stop sends SIGTERM and waits for the exit, killing the process after a
// minute. It is safe to call on a process that has exited.
func (w *webhook) stop(t *testing.T) {
	select {
	case <-w.exited:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(time.Minute):
		_ = w.cmd.Process.Kill()
		<-w.exited
		t.Errorf("stop: the webhook did not exit within a minute of SIGTERM and was killed")
	}
}

// ready reports whether /readyz answers 200.
func (w *webhook) ready() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + w.probe + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// log returns the end of the webhook's log, for failure messages.
func (w *webhook) log() string {
	data, err := os.ReadFile(w.logPath)
	if err != nil {
		return fmt.Sprintf("(failed to read the log: %v)", err)
	}
	const tail = 4 << 10
	if len(data) > tail {
		data = append([]byte("..."), data[len(data)-tail:]...)
	}
	return string(data)
}

// memory returns the process's peak resident set (VmHWM) and its current
// one (VmRSS), in MiB.
func (w *webhook) memory(t *testing.T) (peak, now float64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("failed to read the webhook's memory: %v", err)
	}
	kib := func(field string) float64 {
		for line := range strings.Lines(string(data)) {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				if err != nil {
					t.Fatalf("failed to parse %s in /proc status: %v", field, err)
				}
				return n
			}
		}
		t.Fatalf("no %s in the webhook's /proc status", field)
		return 0
	}
	return kib("VmHWM") / 1024, kib("VmRSS") / 1024
}

// metric sums the samples of the series name whose labels include every
// one of labels (each as `key="value"`), from the webhook's /metrics.
func (w *webhook) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + w.metrics + "/metrics")
	if err != nil {
		t.Fatalf("failed to scrape the webhook's metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("failed to scrape the webhook's metrics: %s", resp.Status)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
lines:
	for sc.Scan() {
		// name{labels} value: label values may hold spaces, the value not.
		line := sc.Text()
		cut := strings.LastIndexByte(line, ' ')
		if cut < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		series, value := line[:cut], line[cut+1:]
		if metric, _, _ := strings.Cut(series, "{"); metric != name {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(series, l) {
				continue lines
			}
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("failed to parse the metric %q: %v", line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("failed to read the webhook's metrics: %v", err)
	}
	return sum
}

// tlsConfig trusts envtest's webhook serving CA.
func tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(suite.cp.Env.WebhookInstallOptions.LocalServingCAData) {
		t.Fatal("internal error: envtest's webhook CA is not PEM")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// httpsClient sends reviews to the webhook as the API server does: over
// TLS, keeping connections alive.
func httpsClient(t *testing.T, conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     tlsConfig(t),
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
		},
	}
}

// freeAddr returns a free port on 127.0.0.1.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("failed to find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// errStatus is an answer other than 200.
var errStatus = errors.New("unexpected status")

// post sends body to the webhook's path and returns the answer's body when
// its status is 200.
func post(c *http.Client, w *webhook, path string, body []byte) ([]byte, error) {
	resp, err := c.Post("https://"+w.addr+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(resp.Body); err != nil {
		return nil, fmt.Errorf("failed to read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w %s: %.200s", errStatus, resp.Status, out.Bytes())
	}
	return out.Bytes(), nil
}
