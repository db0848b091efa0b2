package attack

import (
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"
)

// The header flood: connections that each send the headers of a POST
// claiming a body of floodClaim bytes, then nothing. A server that sizes
// its buffer by Content-Length holds floodConns x 7 MiB for no byte sent.
const (
	floodConns = 100
	floodClaim = 7 << 20 // 7,340,032 bytes, as in issue 10
	// floodHold is how long the connections wait before the normal review.
	floodHold = 3 * time.Second
	// floodBoundMiB bounds the webhook's peak RSS throughout.
	floodBoundMiB = 100
)

// TestHeaderFlood opens floodConns TLS connections to /mutate-pod that
// each send only the headers of a 7 MiB POST and wait; meanwhile a normal
// pod review must be answered, and the webhook's peak RSS must stay under
// floodBoundMiB.
func TestHeaderFlood(t *testing.T) {
	w := startWebhook(t)
	basePeak, _ := w.memory(t)

	cfg := tlsConfig(t)
	head := fmt.Sprintf("POST /mutate-pod?timeout=5s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n", w.addr, floodClaim)
	conns := make([]net.Conn, 0, floodConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	for i := range floodConns {
		c, err := tls.DialWithDialer(dialer, "tcp", w.addr, cfg)
		if err != nil {
			t.Fatalf("flood: failed to open connection %d: %v", i+1, err)
		}
		conns = append(conns, c)
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(head)); err != nil {
			t.Fatalf("flood: failed to send the headers on connection %d: %v", i+1, err)
		}
	}
	time.Sleep(floodHold)
	holdPeak, _ := w.memory(t)

	start := time.Now()
	answer, err := post(httpsClient(t, 1), w, "/mutate-pod?timeout=5s", suite.podReview)
	took := time.Since(start)
	if err != nil {
		t.Errorf("normal review during the flood: %v", err)
	} else if err := checkPodAnswer(answer); err != nil {
		t.Errorf("normal review during the flood: %v", err)
	}
	// Connections the server has closed read EOF at once; open ones time out.
	open := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++
			}
		}
	}
	peak, rss := w.memory(t)
	t.Logf("header flood: %d connections claiming %d bytes each, held %s: peak RSS %.1f MiB (bound %d MiB; "+
		"%.1f MiB before the flood, %.1f MiB after holding, %.1f MiB now); %d connections still open; "+
		"normal pod review answered in %s (err %v)",
		floodConns, floodClaim, floodHold, peak, floodBoundMiB, basePeak, holdPeak, rss, open, took.Round(time.Millisecond), err)
	if peak >= floodBoundMiB {
		t.Errorf("header flood: the webhook's peak RSS is %.1f MiB, over the bound of %d MiB", peak, floodBoundMiB)
	}
}
