package attack

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Steady load for the shutdown: loadRate pod reviews a second over TLS,
// for loadBefore before SIGTERM, never more than loadMax in all.
const (
	loadRate   = 50
	loadBefore = 3 * time.Second
	loadMax    = 5000
	// readyzEvery is how often the load client polls /readyz, standing in
	// for the endpoint removal that stops the API servers' calls.
	readyzEvery = 100 * time.Millisecond
)

// TestShutdownUnderLoad sends SIGTERM to a webhook answering loadRate pod
// reviews a second, with the shutdown delay the Deployment ships. The load
// client stops sending once /readyz fails, as the API servers stop once
// the pod leaves the Service's endpoints. The process must exit, cleanly,
// within the Deployment's grace period less its preStop sleep (the kubelet
// runs preStop first, within the same grace period), and no review may
// fail.
//
// In "stalled", one more client sends the headers and half the body of a
// pod review, then nothing: a request the server must not wait for past
// its deadline (the ?timeout= the API server sends), or the shutdown
// outlives the grace period.
func TestShutdownUnderLoad(t *testing.T) {
	t.Run("steady", func(t *testing.T) { shutdownUnderLoad(t, false) })
	t.Run("stalled", func(t *testing.T) { shutdownUnderLoad(t, true) })
}

func shutdownUnderLoad(t *testing.T, stall bool) {
	grace, preStop := suite.shipped.grace, suite.shipped.preStop
	w := startWebhook(t, "--shutdown-delay", suite.shipped.shutdownDelay)
	budget := grace - preStop
	if stall {
		c := stalledReview(t, w)
		defer c.Close()
	}

	client := httpsClient(t, 16)
	var (
		stopping              atomic.Bool
		sent, answered        atomic.Int64
		mu                    sync.Mutex
		failures              []string
		wg                    sync.WaitGroup
		sigterm, readyzFailed time.Time
	)
	pollerDone := make(chan struct{})
	go func() {
		defer close(pollerDone)
		for range time.Tick(readyzEvery) {
			if !w.ready() {
				mu.Lock()
				readyzFailed = time.Now()
				mu.Unlock()
				stopping.Store(true)
				return
			}
			select {
			case <-w.exited:
				stopping.Store(true)
				return
			default:
			}
		}
	}()
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(time.Second / loadRate)
		defer tick.Stop()
		for range tick.C {
			if stopping.Load() || sent.Load() >= loadMax {
				return
			}
			sent.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				body, err := post(client, w, "/mutate-pod?timeout=5s", suite.podReview)
				if err == nil {
					err = checkPodAnswer(body)
				}
				if err == nil {
					answered.Add(1)
					return
				}
				mu.Lock()
				if len(failures) < 10 {
					failures = append(failures, err.Error())
				}
				mu.Unlock()
			}()
		}
	}()

	time.Sleep(loadBefore)
	sigterm = time.Now()
	before := sent.Load()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("shutdown: failed to send SIGTERM: %v", err)
	}
	var exit time.Duration
	select {
	case <-w.exited:
		exit = time.Since(sigterm)
	case <-time.After(grace + 15*time.Second):
		t.Fatalf("shutdown: the webhook had not exited %s after SIGTERM; its log:\n%s", grace+15*time.Second, w.log())
	}
	<-loadDone
	<-pollerDone
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	stoppedAfter := "never"
	if !readyzFailed.IsZero() {
		stoppedAfter = readyzFailed.Sub(sigterm).Round(time.Millisecond).String()
	}
	failed := sent.Load() - answered.Load()
	t.Logf("shutdown under load (stalled request: %t): %d pod reviews/s; SIGTERM after %d reviews; readiness failed %s after SIGTERM; "+
		"exited %s after SIGTERM (budget %s: grace period %s less preStop %s; exit: %v); %d reviews sent, %d answered, %d failed",
		stall, loadRate, before, stoppedAfter, exit.Round(time.Millisecond), budget, grace, preStop,
		w.err, sent.Load(), answered.Load(), failed)
	if want := int64(loadRate * loadBefore.Seconds() / 2); before < want {
		t.Errorf("load: only %d reviews were sent before SIGTERM, fewer than %d: the machine is too busy for this test to prove anything", before, want)
	}
	if failed > 0 {
		t.Errorf("shutdown: %d of %d reviews failed, first ones: %q", failed, sent.Load(), failures)
	}
	if readyzFailed.IsZero() {
		t.Errorf("shutdown: /readyz never failed before the webhook exited: the load balancer would still send to it")
	}
	if exit > budget {
		t.Errorf("shutdown: the webhook exited %s after SIGTERM, over the budget of %s", exit.Round(time.Millisecond), budget)
	}
	if w.err != nil {
		t.Errorf("shutdown: the webhook exited with %v; its log:\n%s", w.err, w.log())
	}
}

// stalledReview opens a TLS connection to /mutate-pod and sends the headers
// and half the body of a pod review with a 5s deadline, then nothing.
func stalledReview(t *testing.T, w *webhook) net.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", w.addr, tlsConfig(t))
	if err != nil {
		t.Fatalf("stall: failed to connect: %v", err)
	}
	body := suite.podReview
	head := fmt.Sprintf("POST /mutate-pod?timeout=5s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n", w.addr, len(body))
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(append([]byte(head), body[:len(body)/2]...)); err != nil {
		c.Close()
		t.Fatalf("stall: failed to send half a review: %v", err)
	}
	return c
}
