// Command load drives gatemesh's real webhook server (controller-runtime's
// webhook server with gatemesh's handlers, TLS on 127.0.0.1) with concurrent
// keep-alive clients posting AdmissionReviews for pods, Upstreams and
// Backends, and reports throughput, latency percentiles, errors and the
// server's peak RSS. It is bounded in time and count, sends only to
// loopback, and stops by itself.
//
//	go run ./test/load -clients 64 -duration 10s          # closed loop: as fast as it goes
//	go run ./test/load -clients 64 -rate 1000 -duration 10s # open loop at 1,000 reviews/s
//
// The server runs in a child process (this binary re-executed), so that its
// peak RSS is its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	if os.Getenv(serverEnv) != "" {
		if err := runServer(); err != nil {
			fmt.Fprintln(os.Stderr, "load server:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.IntVar(&o.clients, "clients", 64, "concurrent keep-alive clients")
	flag.IntVar(&o.rate, "rate", 0, "reviews per second to offer (open loop); 0 sends as fast as the clients go")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (at most 2m)")
	flag.IntVar(&o.maxRequests, "max-requests", 2_000_000, "stop after this many reviews")
	flag.StringVar(&o.serverMemLimit, "server-gomemlimit", "", "GOMEMLIMIT for the server process (the manifests set it from the memory limit); empty inherits")
	flag.StringVar(&o.serverCPUProfile, "server-cpuprofile", "", "write the server's CPU profile to this file (for go tool pprof)")
	flag.Parse()
	if o.duration > 2*time.Minute || o.duration <= 0 || o.clients < 1 || o.clients > 1024 || o.maxRequests < 1 {
		fmt.Fprintln(os.Stderr, "load: -duration must be in (0, 2m], -clients in [1, 1024], -max-requests positive")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+time.Minute)
	defer cancel()
	res, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	res.print(os.Stdout, o)
	if res.errors > 0 {
		os.Exit(1)
	}
}
