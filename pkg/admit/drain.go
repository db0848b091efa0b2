package admit

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// drain orders a graceful shutdown: once stop ends, its readiness check
// fails at once, and delay later the context after returns ends, which
// shuts the webhook server down and lets every request in flight finish.
//
// delay should cover how long the cluster takes to notice the failed
// readiness probe and update the Service's endpoints: a few probe periods.
type drain struct{ draining atomic.Bool }

// after returns a context that ends delay after stop does.
func (d *drain) after(stop context.Context, delay time.Duration) context.Context {
	ctx, cancel := context.WithCancel(context.WithoutCancel(stop))
	go func() {
		<-stop.Done()
		d.draining.Store(true)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx
}

// check is the readiness check: it fails once shutdown began.
func (d *drain) check(*http.Request) error {
	if d.draining.Load() {
		return errors.New("shutting down")
	}
	return nil
}
