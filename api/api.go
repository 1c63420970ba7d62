// Package api is Tally's HTTP layer: routing, request validation driven by
// the embedded OpenAPI document, content negotiation, and the one mapping of
// domain errors to HTTP statuses.
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"

	"github.com/tallyhq/tally"
)

// DefaultMaxBody is the request body limit when Config.MaxBody is 0.
const DefaultMaxBody = 1 << 20

// Config is what the HTTP layer needs. Zero values mean the defaults;
// negative limits are an error.
type Config struct {
	Store   tally.Store
	MaxBody int64        // POST /event body limit in bytes; 0 means DefaultMaxBody
	Logger  *slog.Logger // nil discards
	// Registry receives the HTTP metrics and is what /metrics serves; nil
	// means a private registry, never the global default.
	Registry *prometheus.Registry
	NewID    func() tally.ID // nil means tally.NewID
	// Now is the clock that relative date ranges (date_range) are
	// resolved with, and the retention measured by; nil means time.Now.
	Now func() time.Time
	// Retention, when set, refuses events already older than it (the
	// server deletes them in the background anyway).
	Retention tally.Retention

	// MaxBatchEvents and MaxBatchBytes bound one POST /events request: its
	// events and its body's bytes after decompression (defaults
	// DefaultMaxBatchEvents, DefaultMaxBatchBytes).
	MaxBatchEvents int
	MaxBatchBytes  int64

	// APIKeys, when not empty, are the keys that writes (POST, DELETE)
	// must present as `Authorization: Bearer <key>`; with AuthReads,
	// GET /event/{id} and GET /report too. /healthz, /readyz, /metrics,
	// /openapi.* and /ui stay open.
	APIKeys   []string
	AuthReads bool

	// MaxInFlight bounds the requests served at once and MaxInFlightBytes
	// the request body bytes they hold (as received, plus what gzip bodies
	// decompress to); beyond either the answer is 503 with Retry-After. Defaults DefaultMaxInFlight, DefaultMaxInFlightBytes;
	// /healthz and /readyz are exempt. MaxInFlightBytes may not be below
	// MaxBody or MaxBatchBytes.
	MaxInFlight      int
	MaxInFlightBytes int64

	// MinBodyRate (bytes per second) and BodyRateGrace: a request body
	// must arrive at MinBodyRate on average once BodyRateGrace has passed
	// since its headers, else it is cut with 408 (defaults
	// DefaultMinBodyRate, DefaultBodyRateGrace). Bodies still arriving do
	// not count against MaxInFlight, only against MaxInFlightBytes with
	// the bytes received so far. The http.Server's ReadTimeout, if any,
	// still bounds the whole request, and is answered 408 too.
	MinBodyRate   int64
	BodyRateGrace time.Duration
}

// server holds the state shared by the handlers.
type server struct {
	store          tally.Store
	maxBody        int64
	maxBatchEvents int
	maxBatchBytes  int64
	log            *slog.Logger
	newID          func() tally.ID
	now            func() time.Time
	retention      tally.Retention
	spec           *spec
	events         *eventDecoder
	metrics        *metrics
	keys           *keyring // nil: no keys, everything open
	authReads      bool
	limit          *limiter
	minBodyRate    int64
	bodyRateGrace  time.Duration
	mux            *http.ServeMux
}

// NewHandler returns the HTTP API. It fails when the embedded document does
// not load or does not match the routes.
func NewHandler(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: Config.Store is nil")
	}
	if cfg.MaxBody < 0 || cfg.MaxBatchEvents < 0 || cfg.MaxBatchBytes < 0 || cfg.MaxInFlight < 0 || cfg.MaxInFlightBytes < 0 ||
		cfg.MinBodyRate < 0 || cfg.BodyRateGrace < 0 {
		return nil, errors.New("api: negative limit in Config")
	}
	s := &server{
		store:          cfg.Store,
		maxBody:        orDefault(cfg.MaxBody, DefaultMaxBody),
		maxBatchEvents: orDefault(cfg.MaxBatchEvents, DefaultMaxBatchEvents),
		maxBatchBytes:  orDefault(cfg.MaxBatchBytes, DefaultMaxBatchBytes),
		log:            cfg.Logger,
		newID:          cfg.NewID,
		now:            cfg.Now,
		retention:      cfg.Retention,
		authReads:      cfg.AuthReads,
		limit: &limiter{
			maxN:     int64(orDefault(cfg.MaxInFlight, DefaultMaxInFlight)),
			maxBytes: orDefault(cfg.MaxInFlightBytes, DefaultMaxInFlightBytes),
		},
		minBodyRate:   orDefault(cfg.MinBodyRate, DefaultMinBodyRate),
		bodyRateGrace: orDefault(cfg.BodyRateGrace, DefaultBodyRateGrace),
		mux:           http.NewServeMux(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.limit.maxBytes < max(s.maxBody, s.maxBatchBytes) {
		// A body at the size limit would be refused as busy forever.
		return nil, fmt.Errorf("api: MaxInFlightBytes %d is below the body limits (%d, %d)", s.limit.maxBytes, s.maxBody, s.maxBatchBytes)
	}
	if len(cfg.APIKeys) > 0 {
		var err error
		if s.keys, err = newKeyring(cfg.APIKeys); err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
	} else if cfg.AuthReads {
		return nil, errors.New("api: AuthReads without APIKeys")
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.newID == nil {
		s.newID = tally.NewID
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var err error
	if s.metrics, err = newMetrics(reg); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if s.spec, err = loadSpec(); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if s.events, err = newEventDecoder(s.spec.doc.Components.Schemas["EventInput"].Value); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	if err := s.routes(reg); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return s.middleware(s.mux), nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Offered response types, for content negotiation.
const (
	typeJSON = "application/json"
	typeCSV  = "text/csv"
	typeYAML = "application/yaml"
)

// routes registers every route. Each API route must be an operation of the
// document (it is validated against it), and every operation of the
// document must be registered.
func (s *server) routes(reg *prometheus.Registry) error {
	r := &router{s: s, seen: make(map[string]bool)}
	r.apiBody("POST /event", bodyRead, s.handleCreateEvent, typeJSON)
	r.apiBody("POST /events", bodyStreamed, s.handleCreateEvents, typeJSON)
	r.api("GET /event/{event_id}", s.handleGetEvent, typeJSON)
	r.api("DELETE /event/{event_id}", s.handleDeleteEvent, typeJSON)
	r.api("DELETE /events", s.handleDeleteEvents, typeJSON)
	r.api("GET /report", s.handleReport, typeJSON, typeCSV)
	r.api("GET /healthz", s.handleHealth, typeJSON)
	r.api("GET /readyz", s.handleReady, typeJSON)
	r.api("GET /openapi.json", s.handleOpenAPIJSON, typeJSON)
	// JSON too: the contract answers every Accept that lists application/json.
	r.api("GET /openapi.yaml", s.handleOpenAPIYAML, typeYAML, "text/yaml", typeJSON)
	// Browsers and scrapers negotiate these themselves: no JSON negotiation.
	r.raw("GET /metrics", s.metrics.handler(reg))
	uiDoc, err := s.uiDocument()
	if err != nil {
		return err
	}
	ui := v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       "Tally API",
		SwaggerJSON: "/ui/openapi.json",
		BasePath:    "/ui/",
		SettingsUI:  map[string]string{"validatorUrl": "null"},
	})
	r.raw("GET /ui", ui)
	s.mux.Handle("GET /ui/", s.jsonNotFound(ui)) // the UI's assets, not part of the API document
	s.mux.Handle("GET /ui/openapi.json", s.adapt(func(w http.ResponseWriter, _ *http.Request) error {
		writeJSONBytes(w, http.StatusOK, uiDoc)
		return nil
	}))
	if r.err != nil {
		return r.err
	}
	for key := range s.spec.ops {
		if !r.seen[key] {
			return fmt.Errorf("operation %q of openapi.yaml has no handler", key)
		}
	}
	// Other methods on a known path: 405 with Allow. The method-less pattern
	// is less specific than the method ones, so it only sees the others.
	for path, methods := range s.spec.methods() {
		s.mux.Handle(path, s.adapt(methodNotAllowed(methods)))
	}
	s.mux.Handle("/", s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		return tally.Errorf(tally.ENotFound, "no such path: %s", r.URL.Path)
	}))
	return nil
}

type router struct {
	s    *server
	seen map[string]bool
	err  error
}

// api registers a handler without a request body behind the API key check
// and the common checks of the document's operation for pattern.
func (r *router) api(pattern string, h handlerFunc, offers ...string) {
	r.apiBody(pattern, bodyRead, h, offers...)
}

// bodyMode is who reads a request body; the handler validates it.
type bodyMode uint8

const (
	// bodyRead: read whole before the handler runs, within the body
	// limit, and checked to be JSON.
	bodyRead bodyMode = iota
	// bodyStreamed: left to the handler, which reads it as it arrives.
	bodyStreamed
)

func (r *router) apiBody(pattern string, mode bodyMode, h handlerFunc, offers ...string) {
	op, err := r.s.spec.operation(pattern)
	if err != nil {
		r.err = errors.Join(r.err, err)
		return
	}
	r.seen[pattern] = true
	op.bodyMode = mode
	r.s.mux.Handle(pattern, r.s.adapt(r.s.authorized(op, r.s.validated(op, offers, h))))
}

// raw registers a documented route whose handler answers by itself.
func (r *router) raw(pattern string, h http.Handler) {
	op, err := r.s.spec.operation(pattern)
	if err != nil {
		r.err = errors.Join(r.err, err)
		return
	}
	r.seen[pattern] = true
	r.s.mux.Handle(pattern, r.s.adapt(r.s.authorized(op, r.s.validated(op, nil, func(w http.ResponseWriter, req *http.Request) error {
		h.ServeHTTP(w, req)
		return nil
	}))))
}

// handlerFunc is a handler that leaves writing errors to adapt.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// adapt turns a handlerFunc into an http.Handler; it is the one place where
// an error becomes a response.
func (s *server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[string]int{
	tally.EInvalid:      http.StatusBadRequest,
	tally.ENotFound:     http.StatusNotFound,
	tally.EConflict:     http.StatusConflict,
	tally.ETooLarge:     http.StatusRequestEntityTooLarge,
	tally.EUnauthorized: http.StatusUnauthorized,
	tally.EForbidden:    http.StatusForbidden,
	tally.ETimeout:      http.StatusRequestTimeout,
	tally.EUnavailable:  http.StatusServiceUnavailable,
	tally.EInternal:     http.StatusInternalServerError,
	// A report over raw events that passed the store's scan deadline: the
	// request is valid but must be narrowed; retrying it unchanged would
	// fail again, so not 503.
	tally.ETooExpensive: http.StatusUnprocessableEntity,
	// Codes of the HTTP layer itself.
	eNotAcceptable:    http.StatusNotAcceptable,
	eUnsupportedMedia: http.StatusUnsupportedMediaType,
	eMethodNotAllowed: http.StatusMethodNotAllowed,
}

// Error codes that only exist at the HTTP edge.
const (
	eNotAcceptable    = "not_acceptable"
	eUnsupportedMedia = "unsupported_media_type"
	eMethodNotAllowed = "method_not_allowed"
)

// errorBody is the contract's error answer.
type errorBody struct {
	Message string       `json:"message"`
	Errors  []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Field   string `json:"field,omitempty"`
	In      string `json:"in,omitempty"`
	Message string `json:"message"`
}

// requestError is an EInvalid error with one entry per problem found.
type requestError struct {
	errs []fieldError
}

func (e *requestError) Error() string { return joinMessages(e.errs) }

func joinMessages(errs []fieldError) string {
	msg := ""
	for i, fe := range errs {
		if i > 0 {
			msg += "; "
		}
		msg += fe.Message
	}
	return msg
}

func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var body errorBody
	var re *requestError
	code := tally.ErrorCode(err)
	switch {
	case errors.As(err, &re):
		code = tally.EInvalid
		body = errorBody{Message: joinMessages(re.errs), Errors: re.errs}
	case code == tally.EInternal && r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		// The client left and its request was stopped: nothing failed
		// here, and the access log records the lost answer (499).
		body.Message = "request canceled"
	case code == tally.EInternal:
		s.log.ErrorContext(r.Context(), "internal error", "request_id", requestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "err", err)
		body.Message = "internal error"
	default:
		body.Message = tally.ErrorMessage(err)
		var te *tally.Error
		if errors.As(err, &te) && te.Field != "" {
			body.Errors = []fieldError{{Field: te.Field, Message: te.Message}}
		}
		if code == tally.EUnavailable {
			s.log.WarnContext(r.Context(), "unavailable", "request_id", requestID(r.Context()), "err", err)
		}
	}
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	// Messages quote what clients sent; bounded, a 100 KB parameter does
	// not come back twice.
	body.Message = truncate(body.Message)
	if code == tally.EUnavailable || code == tally.EInternal {
		body.Message += unknownOutcome(r)
	}
	for i := range body.Errors {
		body.Errors[i].Message = truncate(body.Errors[i].Message)
	}
	if status == http.StatusServiceUnavailable {
		// Busy (requests, bytes or report scans in flight) or store
		// unreachable: all pass.
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, body)
}

// unknownOutcome is what the message of a 500 or 503 adds for a write:
// on MongoDB an outage can cut the answer after the write was applied, so
// the client cannot know whether it was, and must learn that resending is
// safe. It is (ids make writes idempotent); the busy 503s, which never
// reach the store, say it too, which is still true.
func unknownOutcome(r *http.Request) string {
	switch r.Pattern {
	case "POST /event":
		return "; the event may have been stored: resending it with the same id is safe (409 if it was stored; an event sent without an id may be stored twice)"
	case "POST /events":
		return "; some events may have been stored: resending it with the same ids is safe (those stored count as duplicates; events sent without an id may be stored twice)"
	case "DELETE /event/{event_id}":
		return "; the event may have been deleted: resending it is safe (404 if it was)"
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return "; the write may have taken effect"
	}
	return ""
}

// maxMessage bounds an error message, in bytes.
const maxMessage = 512

func truncate(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	return strings.ToValidUTF8(msg[:maxMessage], "") + "…"
}

// jsonNotFound answers h's 404s with the error JSON, like every other
// unknown path: Swagger UI's file server writes them as plain text.
func (s *server) jsonNotFound(h http.Handler) http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		nf := &notFoundWriter{ResponseWriter: w}
		h.ServeHTTP(nf, r)
		if nf.notFound {
			return tally.Errorf(tally.ENotFound, "no such path: %s", r.URL.Path)
		}
		return nil
	})
}

// notFoundWriter swallows a 404 and its body, for jsonNotFound to answer.
type notFoundWriter struct {
	http.ResponseWriter
	notFound bool
}

func (w *notFoundWriter) WriteHeader(code int) {
	if code == http.StatusNotFound {
		w.notFound = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *notFoundWriter) Write(b []byte) (int, error) {
	if w.notFound {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *notFoundWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func methodNotAllowed(methods []string) handlerFunc {
	allow := ""
	for i, m := range methods {
		if i > 0 {
			allow += ", "
		}
		allow += m
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return tally.Errorf(eMethodNotAllowed, "method %s not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)
	}
}
