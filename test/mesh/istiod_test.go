package mesh

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// istiodNamespace and istiodPort are where gatemesh's default policy points
// the agent (istiod[-<rev>].istio-system.svc:15012).
const (
	istiodNamespace = "istio-system"
	istiodPort      = "15012"
)

// istiod is a running pilot-discovery for one revision.
type istiod struct {
	rev        string
	host       string // its service name, istiod[-<rev>].istio-system.svc
	ip         string // the loopback address it listens on
	monitoring string // host:port of its /metrics
	proc       *proc
}

// startIstiod runs pilot-discovery for rev ("default" or a revision name)
// outside a cluster on ip, in an empty working directory under dir, with an
// admin kubeconfig for envtest's API server. It returns once istiod is
// ready and serves TLS on ip:15012.
func startIstiod(ctx context.Context, bin, dir string, cfg *rest.Config, rev, ip string) (*istiod, error) {
	name := "istiod"
	if rev != "default" {
		name += "-" + rev
	}
	work := filepath.Join(dir, name)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create istiod's directory: %w", err)
	}
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := writeKubeconfig(cfg, kubeconfig); err != nil {
		return nil, err
	}
	ports, err := freePorts(ip, 5)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return net.JoinHostPort(ip, strconv.Itoa(ports[i])) }
	cmd := exec.CommandContext(ctx, bin, "discovery",
		"--kubeconfig", kubeconfig,
		"--secureGRPCAddr="+net.JoinHostPort(ip, istiodPort),
		"--domain", "cluster.local",
		"--monitoringAddr="+addr(0), "--httpAddr="+addr(1), "--grpcAddr="+addr(2), "--httpsAddr="+addr(3),
		"--ctrlz_port="+strconv.Itoa(ports[4]), "--ctrlz_address="+ip,
	)
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"REVISION="+rev, "PILOT_CERT_PROVIDER=istiod", "POD_NAME="+name+"-test", "POD_NAMESPACE="+istiodNamespace,
		"SERVICE_ACCOUNT="+name, "CLUSTER_ID=Kubernetes", "PILOT_ENABLE_ANALYSIS=false", "KUBECONFIG="+kubeconfig,
	)
	p, err := start(name, filepath.Join(dir, name+".log"), cmd)
	if err != nil {
		return nil, err
	}
	d := &istiod{rev: rev, host: name + "." + istiodNamespace + ".svc", ip: ip, monitoring: addr(0), proc: p}
	if err := d.waitReady(ctx, addr(1)); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%w%s", err, report(p))
	}
	return d, nil
}

const istiodReadyTimeout = 90 * time.Second

func (d *istiod) waitReady(ctx context.Context, httpAddr string) error {
	deadline := time.Now().Add(istiodReadyTimeout)
	for {
		if err := d.proc.Exited(); err != nil {
			return err
		}
		if err := d.ready(ctx, httpAddr); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s: %w", d.proc.name, istiodReadyTimeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (d *istiod) ready(ctx context.Context, httpAddr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/ready", nil)
	if err != nil {
		return fmt.Errorf("internal error: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("failed to get /ready: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/ready answered %s", resp.Status)
	}
	// The agent's CA client dials this; the certificate is checked later,
	// by the agent itself.
	conn, err := tls.Dial("tcp", net.JoinHostPort(d.ip, istiodPort), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only a readiness probe
	if err != nil {
		return fmt.Errorf("failed to dial %s:%s: %w", d.ip, istiodPort, err)
	}
	return conn.Close()
}

// csrCount is istiod's count of certificate signing requests it has
// served (citadel_server_csr_count), to tell which istiod an agent used.
func (d *istiod) csrCount(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.monitoring+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("internal error: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("failed to get %s metrics: %w", d.proc.name, err)
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "citadel_server_csr_count") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("failed to parse metric line %q: %w", line, err)
		}
		total += v
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("failed to read %s metrics: %w", d.proc.name, err)
	}
	return total, nil
}

// writeKubeconfig writes cfg, an envtest admin's configuration, as a
// kubeconfig file for istiod.
func writeKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken,
	}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("failed to write kubeconfig: %w", err)
	}
	return nil
}

// freePorts returns n ports free on ip right now.
func freePorts(ip string, n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("failed to find a free port on %s: %w", ip, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
