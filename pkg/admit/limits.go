package admit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"
)

// Limits bound the memory and work the webhook takes on at once, so that no
// client, however slow, many or large its requests, can push the process
// past its memory limit. A request beyond them is refused (429 or 503) and
// counted in gatemesh_refused_total.
type Limits struct {
	// MaxInflightBytes bounds the request bytes held in memory at once, by
	// every request together. Bytes are counted as they arrive, so a client
	// that claims a large Content-Length and sends nothing holds nothing; a
	// request whose next bytes do not fit is refused with 503. Default:
	// DefaultMaxInflightBytes.
	MaxInflightBytes int64
	// MaxInflightRequests bounds how many reviews are decoded and answered
	// at once (each may hold a decoded object as large as its body). A
	// review that finds no free slot within SlotWait is refused with 429.
	// Default: DefaultMaxInflightRequests.
	MaxInflightRequests int
	// SlotWait is how long a review waits for a free slot. Default:
	// DefaultSlotWait.
	SlotWait time.Duration
}

// Defaults of Limits. 48 MiB of bodies is seven of the largest reviews an
// API server can send, or thousands of ordinary ones; 32 decodes at once keep
// two cores busy many times over, since one takes well under a millisecond.
const (
	DefaultMaxInflightBytes    = 48 << 20
	DefaultMaxInflightRequests = 32
	DefaultSlotWait            = 2 * time.Second
)

func (l Limits) withDefaults() Limits {
	if l.MaxInflightBytes <= 0 {
		l.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if l.MaxInflightRequests <= 0 {
		l.MaxInflightRequests = DefaultMaxInflightRequests
	}
	if l.SlotWait <= 0 {
		l.SlotWait = DefaultSlotWait
	}
	return l
}

// limiter enforces Limits across every endpoint of one server.
type limiter struct {
	maxBytes int64
	bytes    atomic.Int64
	slots    chan struct{}
	wait     time.Duration
}

func newLimiter(l Limits) *limiter {
	l = l.withDefaults()
	return &limiter{maxBytes: l.MaxInflightBytes, slots: make(chan struct{}, l.MaxInflightRequests), wait: l.SlotWait}
}

// take reserves n bytes, if they fit.
func (l *limiter) take(n int64) bool {
	for {
		used := l.bytes.Load()
		if used+n > l.maxBytes {
			return false
		}
		if l.bytes.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// give releases n bytes taken before.
func (l *limiter) give(n int64) { l.bytes.Add(-n) }

// acquire takes a slot, waiting at most the limiter's wait and never past
// ctx. It reports whether it got one; release it with release.
func (l *limiter) acquire(ctx context.Context) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (l *limiter) release() { <-l.slots }

// errNoBytes means the request's next bytes did not fit in the budget.
var errNoBytes = errors.New("too many request bytes in flight")

// readChunk is how many bytes a request reserves before each read.
const readChunk = 32 << 10

// readBody reads r into dst as its bytes arrive: dst grows by at most one
// chunk ahead of what was read, and every byte it holds is reserved from
// the limiter first. It returns how many bytes it holds reserved, which the
// caller gives back when it is done with dst, also on error.
func (l *limiter) readBody(dst *bytes.Buffer, r io.Reader) (held int64, err error) {
	for {
		if !l.take(readChunk) {
			return held, errNoBytes
		}
		dst.Grow(readChunk)
		p := dst.AvailableBuffer()[:readChunk]
		n, err := r.Read(p)
		dst.Write(p[:n]) // p is dst's own free space: this only extends it
		l.give(int64(readChunk - n))
		held += int64(n)
		if errors.Is(err, io.EOF) {
			return held, nil
		}
		if err != nil {
			return held, err
		}
	}
}
