package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	clients     int
	rate        int
	duration    time.Duration
	maxRequests int
	// serverMemLimit is the server's GOMEMLIMIT, as the manifests set it
	// from the container's memory limit.
	serverMemLimit string
	// serverCPUProfile, if set, is where the server writes its CPU profile.
	serverCPUProfile string
}

type result struct {
	sent, errors int
	elapsed      time.Duration
	latencies    []time.Duration
	peakRSS      int64 // bytes
	firstError   string
}

// run starts the server, loads it, and stops it.
func run(ctx context.Context, o options) (*result, error) {
	dir, pool, err := writeCert()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	child := exec.CommandContext(ctx, self)
	child.Env = append(os.Environ(), serverEnv+"=1", portEnv+"="+strconv.Itoa(port), certDirEnv+"="+dir)
	if o.serverMemLimit != "" {
		child.Env = append(child.Env, "GOMEMLIMIT="+o.serverMemLimit)
	}
	if o.serverCPUProfile != "" {
		child.Env = append(child.Env, cpuProfileEnv+"="+o.serverCPUProfile)
	}
	child.Stderr = io.Discard
	if os.Getenv("GATEMESH_LOAD_SERVER_STDERR") != "" {
		child.Stderr = os.Stderr
	}
	if err := child.Start(); err != nil {
		return nil, fmt.Errorf("failed to start the server: %w", err)
	}
	defer func() {
		_ = child.Process.Signal(syscall.SIGTERM)
		_ = child.Wait()
	}()

	addr := "127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: o.clients, MaxConnsPerHost: o.clients, IdleConnTimeout: time.Minute,
	}}
	if err := waitReady(ctx, client, addr); err != nil {
		return nil, err
	}
	bodies, err := reviews(client, addr)
	if err != nil {
		return nil, err
	}
	res := drive(ctx, client, addr, bodies, o)
	res.peakRSS = peakRSS(child.Process.Pid)
	return res, nil
}

// drive sends reviews until the duration or the count is reached.
func drive(ctx context.Context, client *http.Client, addr string, bodies []request, o options) *result {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var next atomic.Int64
	var mu sync.Mutex
	res := &result{}
	var ticks <-chan time.Time
	start := time.Now()
	if o.rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(o.rate))
		defer t.Stop()
		ticks = t.C
	}
	// In open loop, work carries each review's scheduled start, so a slow
	// answer delays the latency of the ones queued behind it too.
	work := make(chan time.Time, o.clients)
	if ticks != nil {
		go func() {
			defer close(work)
			for {
				select {
				case <-ctx.Done():
					return
				case at := <-ticks:
					work <- at
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			errs, first := 0, ""
			for {
				scheduled := time.Now()
				if ticks != nil {
					at, ok := <-work
					if !ok {
						break
					}
					scheduled = at
				} else if ctx.Err() != nil {
					break
				}
				n := next.Add(1)
				if n > int64(o.maxRequests) {
					break
				}
				r := bodies[int(n)%len(bodies)]
				if err := send(client, addr, r); err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
				}
				lat = append(lat, time.Since(scheduled))
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			res.errors += errs
			if res.firstError == "" {
				res.firstError = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.sent = len(res.latencies)
	return res
}

// send posts one review and checks the answer: HTTP 200, allowed, and a
// patch exactly when the first answer to the same review had one. It looks
// at the bytes rather than decoding the review, to keep the client's share
// of the machine's two cores small.
func send(client *http.Client, addr string, r request) error {
	resp, err := client.Post("https://"+addr+r.path, "application/json", bytes.NewReader(r.body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d: %s", r.name, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if !bytes.Contains(b, []byte(`"allowed":true`)) || bytes.Contains(b, []byte(`"patch":`)) != r.patched {
		return fmt.Errorf("%s: unexpected response %.200s", r.name, b)
	}
	return nil
}

func waitReady(ctx context.Context, client *http.Client, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := client.Get("https://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the server did not come up within 30s")
}

// peakRSS reads the process's high-water resident set size from procfs.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return -1
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *result) print(w io.Writer, o options) {
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	mode := "closed loop"
	if o.rate > 0 {
		mode = fmt.Sprintf("open loop at %d/s", o.rate)
	}
	fmt.Fprintf(w, "gatemesh load: %d clients, %s, %s\n", o.clients, mode, o.duration)
	fmt.Fprintf(w, "  reviews      %d (%.0f/s)\n", r.sent, float64(r.sent)/r.elapsed.Seconds())
	fmt.Fprintf(w, "  latency      p50 %s  p99 %s  p99.9 %s  max %s\n",
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(0.999).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	fmt.Fprintf(w, "  errors       %d\n", r.errors)
	if r.firstError != "" {
		fmt.Fprintf(w, "  first error  %s\n", r.firstError)
	}
	fmt.Fprintf(w, "  server RSS   peak %.1f MiB\n", float64(r.peakRSS)/(1<<20))
}
