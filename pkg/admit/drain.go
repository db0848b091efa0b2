package admit

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// Drain orders a graceful shutdown. When stop ends, the readiness check it
// returns starts failing at once, so that endpoints stop sending new
// admissions to this replica; delay later the returned context ends, and
// the manager run with it shuts the webhook server down, which lets every
// request in flight finish before the process exits.
//
// delay should cover how long the cluster takes to notice the failed
// readiness probe and update the Service's endpoints: a few probe periods.
func Drain(stop context.Context, delay time.Duration) (context.Context, healthz.Checker) {
	var draining atomic.Bool
	ctx, cancel := context.WithCancel(context.WithoutCancel(stop))
	go func() {
		<-stop.Done()
		draining.Store(true)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, func(*http.Request) error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	}
}
