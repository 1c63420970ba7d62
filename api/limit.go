package api

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/tallyhq/tally"
)

// In-flight limits, the defaults of Config.
const (
	DefaultMaxInFlight      = 1024
	DefaultMaxInFlightBytes = 256 << 20
)

// limiter bounds the requests being served and the request body bytes they
// hold, so that a flood is answered 503 at once instead of queueing until
// memory runs out. Bytes are those declared by Content-Length, or received
// when more (chunked bodies), plus what gzip bodies decompress to.
type limiter struct {
	maxN, maxBytes int64
	n, bytes       atomic.Int64
}

// reservation is what one request holds of the limiter.
type reservation struct {
	l    *limiter
	mu   sync.Mutex
	held int64
	done bool
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

// acquire admits a request or returns an EUnavailable error.
func (l *limiter) acquire(r *http.Request) (*reservation, error) {
	if l.n.Add(1) > l.maxN {
		l.n.Add(-1)
		return nil, busy("requests")
	}
	res := &reservation{l: l}
	if r.ContentLength > 0 {
		if err := res.charge(r.ContentLength); err != nil {
			l.n.Add(-1)
			return nil, err
		}
	}
	return res, nil
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
	res.l.n.Add(-1)
}

// countedBody charges the bytes of a body received beyond its declared
// length (all of them when none was declared).
type countedBody struct {
	io.ReadCloser
	res      *reservation
	declared int64
	received int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	before := b.received
	b.received += int64(n)
	if extra := b.received - max(before, b.declared); extra > 0 {
		if cerr := b.res.charge(extra); cerr != nil {
			return 0, cerr
		}
	}
	return n, err
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
	res, err := s.limit.acquire(r)
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
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countedBody{ReadCloser: r.Body, res: res, declared: max(r.ContentLength, 0)}
	}
	next.ServeHTTP(w, r)
}
