package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type stateKey struct{}

// reqState is what the middleware knows of a request, in its context.
type reqState struct {
	id  string
	res *reservation // of the in-flight limiter; nil when exempt
}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// requestID returns the request id the middleware put in ctx.
func requestID(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		return st.id
	}
	return ""
}

// maxRequestIDLen bounds an incoming X-Request-ID so that clients cannot
// flood the logs through it.
const maxRequestIDLen = 128

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// middleware gives every request an id, recovers from panics, logs one line
// and records metrics.
func (s *server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, &reqState{id: id}))
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if e, ok := p.(error); ok && errors.Is(e, http.ErrAbortHandler) {
					panic(p)
				}
				err := fmt.Errorf("panic: %v\n%s", p, debug.Stack())
				if !rec.wrote {
					s.writeError(rec, r, err)
				} else {
					s.log.ErrorContext(r.Context(), "panic after the answer started", "request_id", id, "err", err)
				}
			}
			route := routeLabel(r.Pattern)
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			level, lost := slog.LevelInfo, lostAnswer(r.Context(), rec)
			if lost != nil {
				// Whatever status was started, the client did not get it.
				level, status = slog.LevelWarn, statusLost
			}
			elapsed := time.Since(start)
			s.metrics.observe(route, methodLabel(r.Method), status, elapsed)
			attrs := []any{"method", r.Method, "route", route, "path", r.URL.Path,
				"status", status, "duration", elapsed, "bytes", rec.bytes, "request_id", id}
			if lost != nil {
				attrs = append(attrs, "lost", lost.Error())
			}
			s.log.Log(r.Context(), level, "request", attrs...)
		}()
		s.limited(rec, r, next)
	})
}

// statusLost is what the access log and the metrics record for an answer
// that did not reach the client: nginx's 499, "client closed request".
const statusLost = 499

// lostAnswer returns why the answer did not reach the client, or nil: a
// write or flush that failed (the server's write timeout passed, the
// connection broke), or the client gone before the answer left the
// server's buffers.
func lostAnswer(ctx context.Context, rec *recorder) error {
	if rec.err != nil {
		return rec.err
	}
	if err := ctx.Err(); err != nil && (rec.unflushed || !rec.wrote) {
		return fmt.Errorf("client gone: %w", err)
	}
	return nil
}

// routeLabel is the path part of a mux pattern: bounded cardinality, unlike
// raw paths.
func routeLabel(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	if pattern == "" || pattern == "/" {
		return "unmatched"
	}
	return pattern
}

// methodLabel keeps the metrics' cardinality bounded whatever methods
// clients invent.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// recorder remembers the status and size of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
	err    error // the first failed write or flush
	// unflushed: bytes written since the last successful flush.
	unflushed bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	r.unflushed = true
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush lets streaming handlers push what they wrote so far.
func (r *recorder) Flush() { _ = r.FlushError() }

// FlushError is Flush reporting, through http.ResponseController, whether
// the bytes left for the client. Writes below the server's buffers only
// fail here, once the write timeout has passed.
func (r *recorder) FlushError() error {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	err := http.NewResponseController(r.ResponseWriter).Flush()
	if err != nil && r.err == nil {
		r.err = err
	}
	r.unflushed = r.unflushed && err != nil
	return err
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ingest   *prometheus.CounterVec
	// The three outcomes, resolved once.
	accepted, duplicate, rejected prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	labels := []string{"route", "method", "status"}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tally_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, labels),
		ingest: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_events_ingested_total",
			Help: "Events received by POST /event and POST /events, by outcome: accepted (stored), duplicate (id already stored) or rejected (invalid).",
		}, []string{"outcome"}),
	}
	m.accepted = m.ingest.WithLabelValues("accepted")
	m.duplicate = m.ingest.WithLabelValues("duplicate")
	m.rejected = m.ingest.WithLabelValues("rejected")
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.ingest} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("register metrics: %w (one Registry per handler)", err)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, code).Inc()
	m.duration.WithLabelValues(route, method, code).Observe(d.Seconds())
}

func (m *metrics) ingested(accepted, duplicate, rejected int) {
	m.accepted.Add(float64(accepted))
	m.duplicate.Add(float64(duplicate))
	m.rejected.Add(float64(rejected))
}

func (m *metrics) handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// writeJSON writes v as the whole answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the types of this package are written; a failure is a bug.
		status = http.StatusInternalServerError
		b = []byte(`{"message":"internal error"}`)
	}
	writeJSONBytes(w, status, append(b, '\n'))
}

func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
