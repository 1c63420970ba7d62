package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally"
)

// In-flight limits and the body rate floor, the defaults of Config.
const (
	DefaultMaxInFlight      = 1024
	DefaultMaxInFlightBytes = 256 << 20
	// DefaultMinBodyRate and DefaultBodyRateGrace: a body must arrive at
	// 1 KiB/s on average once 10 s have passed. An event is well under
	// 1 KiB, so any client that starts sending within the grace finishes;
	// 10 s covers a few TCP retransmissions on a poor mobile link (1+2+4 s
	// of backoff); and a 10 MiB batch at the floor would take hours, so
	// the floor never cuts a body that the server's ReadTimeout (1 min by
	// default) would let through. What it cuts is a body that stalls: after
	// 10 s instead of the ReadTimeout, holding nothing meanwhile. Apache's
	// mod_reqtimeout has the same shape (body=20,MinRate=500).
	DefaultMinBodyRate   = 1 << 10
	DefaultBodyRateGrace = 10 * time.Second
)

// limiter bounds the requests being served and the request body bytes they
// hold, so that a flood is answered 503 at once instead of queueing until
// memory runs out.
//
// Slow and stalled bodies cannot take the capacity that /report and normal
// writes need:
//   - bytes are charged as they arrive (plus what gzip bodies decompress
//     to), never as declared by Content-Length, and the buffers that hold
//     them grow with what arrived; a declared length only answers 413 when
//     it is beyond the route's limit;
//   - a request with a body takes one of the MaxInFlight slots only once
//     its body is read (admit), so bodies still arriving do not count
//     against the request limit. They are bounded instead by what they
//     hold (the byte budget) and for how long: a body below the minimum
//     rate, or past the server's ReadTimeout, is cut with 408;
//   - a request without a body takes its slot at once.
type limiter struct {
	maxN, maxBytes int64
	n, bytes       atomic.Int64
}

// reservation is what one request holds of the limiter.
type reservation struct {
	l        *limiter
	mu       sync.Mutex
	held     int64
	admitted bool // holds one of the maxN slots
	done     bool
}

func reservationOf(ctx context.Context) *reservation {
	if st := stateOf(ctx); st != nil {
		return st.res
	}
	return nil
}

func busy(what string) error {
	return tally.Errorf(tally.EUnavailable, "server busy: too many %s in flight; retry later", what)
}

// acquire returns a reservation for a request. One without a body is
// admitted at once, or refused with an EUnavailable error; one with a body
// is admitted by admit once its body is read.
func (l *limiter) acquire(hasBody bool) (*reservation, error) {
	res := &reservation{l: l}
	if !hasBody {
		if err := res.admit(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// admit takes one of the request slots for the request, once; beyond the
// limit it returns an EUnavailable error. A nil reservation (no limiter,
// or an exempt path) admits everything.
func (res *reservation) admit() error {
	if res == nil {
		return nil
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	if res.admitted || res.done {
		return nil
	}
	if res.l.n.Add(1) > res.l.maxN {
		res.l.n.Add(-1)
		return busy("requests")
	}
	res.admitted = true
	return nil
}

// admit admits the request of ctx: handlers call it once the body is read,
// before any work that the request limit is there to bound.
func admit(ctx context.Context) error {
	return reservationOf(ctx).admit()
}

// charge adds n bytes to the request's share, or fails when the total would
// pass the limit. A nil reservation (no limiter) admits everything.
func (res *reservation) charge(n int64) error {
	if res == nil || n <= 0 {
		return nil
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	if res.done {
		return nil
	}
	if res.l.bytes.Add(n) > res.l.maxBytes {
		res.l.bytes.Add(-n)
		return busy("request bytes")
	}
	res.held += n
	return nil
}

func (res *reservation) release() {
	res.mu.Lock()
	defer res.mu.Unlock()
	if res.done {
		return
	}
	res.done = true
	res.l.bytes.Add(-res.held)
	if res.admitted {
		res.l.n.Add(-1)
	}
}

// countedBody charges every byte of a body as it arrives, and cuts a body
// that arrives slower than minRate bytes per second on average once grace
// has passed since start, or after the server's ReadTimeout, with an
// ETimeout error. The floor is a read deadline on the connection, moved
// forward by every byte received: no timer, no goroutine.
type countedBody struct {
	io.ReadCloser
	res      *reservation
	rc       *http.ResponseController
	start    time.Time
	minRate  int64         // bytes per second
	grace    time.Duration // before the floor applies
	limit    time.Time     // start + the server's ReadTimeout; zero when none
	received int64
	// rateDue is whether the deadline set last is the floor's (else the
	// ReadTimeout's); finished, that the deadline is back to the server's.
	rateDue, finished bool
}

func (b *countedBody) Read(p []byte) (int, error) {
	if !b.finished {
		b.setDeadline()
	}
	n, err := b.ReadCloser.Read(p)
	b.received += int64(n)
	if cerr := b.res.charge(int64(n)); cerr != nil {
		b.finish()
		return 0, cerr
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The deadline stays where it expired: net/http discards
			// what remains of a body before it answers, and must give up
			// at once, then close the connection.
			b.finished = true
			return n, b.timeoutError()
		}
		b.finish()
	}
	return n, err
}

// setDeadline sets the read deadline to when the next byte is due: the
// received bytes buy time at minRate after grace, never beyond the
// server's ReadTimeout (counted, like the floor, from when the headers
// were read).
func (b *countedBody) setDeadline() {
	credit := time.Duration(float64(b.received) / float64(b.minRate) * float64(time.Second))
	due := b.start.Add(b.grace + credit)
	b.rateDue = true
	if !b.limit.IsZero() && !due.Before(b.limit) {
		due, b.rateDue = b.limit, false
	}
	// Not supported (a test's ResponseRecorder): no floor, nothing else
	// changes.
	_ = b.rc.SetReadDeadline(due)
}

// finish gives the connection back the server's own deadline once the
// body is done: a deadline of the floor left behind would fire in net/http's
// background read and cancel the request's context mid-handler.
func (b *countedBody) finish() {
	if b.finished {
		return
	}
	b.finished = true
	_ = b.rc.SetReadDeadline(b.limit)
}

func (b *countedBody) timeoutError() error {
	if b.rateDue {
		return tally.Errorf(tally.ETimeout, "body: not received in time: it arrived slower than %d bytes/s after the first %s; send it faster", b.minRate, b.grace)
	}
	return tally.Errorf(tally.ETimeout, "body: not received in time: the whole request must arrive within %s", b.limit.Sub(b.start).Round(time.Millisecond))
}

// chargedReader charges every byte read through it: decompressed bodies.
type chargedReader struct {
	r   io.Reader
	res *reservation
}

func (c *chargedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if cerr := c.res.charge(int64(n)); cerr != nil {
		return 0, cerr
	}
	return n, err
}

// bodyError is the error of reading a request body, when it is one of the
// limiter's (503, 408), which pass as they are; nil for any other.
func bodyError(err error) error {
	var te *tally.Error
	if errors.As(err, &te) {
		return err
	}
	return nil
}

// exemptFromLimits lists the paths a flood must not starve: probes decide
// whether the process lives.
func exemptFromLimits(path string) bool {
	return path == "/healthz" || path == "/readyz"
}

// limited admits the request through the limiter, or answers 503.
func (s *server) limited(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if exemptFromLimits(r.URL.Path) {
		next.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	hasBody := r.Body != nil && r.Body != http.NoBody
	res, err := s.limit.acquire(hasBody)
	if err != nil {
		_, r.Pattern = s.mux.Handler(r) // for the metrics' route label
		s.writeError(w, r, err)
		return
	}
	defer res.release()
	// The request is changed in place, not copied: the middleware reads
	// the pattern the mux sets on it.
	if st := stateOf(r.Context()); st != nil {
		st.res = res
	}
	if hasBody {
		b := &countedBody{ReadCloser: r.Body, res: res, rc: http.NewResponseController(w),
			start: start, minRate: s.minBodyRate, grace: s.bodyRateGrace}
		if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 {
			b.limit = start.Add(srv.ReadTimeout)
		}
		r.Body = b
	}
	next.ServeHTTP(w, r)
}
