package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
	"github.com/tallyhq/tally/discard"
	"github.com/tallyhq/tally/mongo"
	"github.com/tallyhq/tally/sqlite"
	"github.com/tallyhq/tally/web"
)

// serveConfig is everything serve needs, read once from flags and TALLY_*
// variables and validated before anything starts.
type serveConfig struct {
	Addr            string
	Store           string // "sqlite:PATH", a bare path, or a mongodb:// URI
	MaxBody         int64  // bytes
	Sync            string // SQLite synchronous mode: full or normal
	LogFormat       string // text or json
	ShutdownTimeout time.Duration
	// Retention, when set, expires older events in the background and
	// refuses to store them.
	Retention tally.Retention
	// LockWait is how long serve waits for another process to let go of
	// the SQLite file (a rolling deploy) before it fails.
	LockWait time.Duration
	// MemoryLimit is the Go runtime's soft memory limit in bytes (0: none).
	MemoryLimit int64
	// DebugAddr, when set, serves net/http/pprof there, apart from the API.
	DebugAddr string

	// Limits of the HTTP server and of the API.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int64
	MaxBatchEvents                                            int
	MaxBatchBytes                                             int64
	MaxInFlight                                               int
	MaxInFlightBytes                                          int64
	// MinBodyRate (bytes per second) and BodyRateGrace: the floor below
	// which a request body is cut with 408.
	MinBodyRate   int64
	BodyRateGrace time.Duration
	// ScanTimeout and MaxScans bound the reports read from raw events.
	ScanTimeout time.Duration
	MaxScans    int

	// APIKeys, when set, guard writes (and reads with AuthReads). They are
	// never logged.
	APIKeys   []string
	AuthReads bool
}

// defaultLockWait is serve's --lock-wait: twice the default
// --shutdown-timeout, so that a new process started beside the old one of a
// rolling deploy outlasts the old one's drain and close.
const defaultLockWait = "30s"

// envFlag registers a string flag whose default is the environment variable
// env when set, so that a flag given on the command line wins over the
// variable, which wins over the built-in default.
func envFlag(fs *flag.FlagSet, getenv func(string) string, p *string, name, env, def, usage string) {
	if v := getenv(env); v != "" {
		def = v
	}
	fs.StringVar(p, name, def, usage+" (env "+env+")")
}

// parseServeConfig reads serve's flags and environment and validates them.
func parseServeConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (serveConfig, error) {
	var raw struct {
		addr, store, maxBody, sync, logFormat, shutdown, memLimit, debugAddr     string
		lockWait, retention                                                      string
		readHeader, read, write, idle, maxHeader                                 string
		batchEvents, batchBytes, inFlight, inFlightBytes, keys, keysFile, authRd string
		minBodyRate, bodyRateGrace                                               string
		scanTimeout, maxScans                                                    string
	}
	envFlag(fs, getenv, &raw.addr, "addr", "TALLY_ADDR", ":8080", "listen `address` (port 0 picks a free port)")
	envFlag(fs, getenv, &raw.store, "store", "TALLY_STORE", "sqlite:data/tally.db", "where events are kept: sqlite:`PATH`, a bare path, a mongodb:// or mongodb+srv:// URI, or discard: (keeps nothing: a benchmarking aid, the ceiling of tally bench, never for data)")
	envFlag(fs, getenv, &raw.maxBody, "max-body", "TALLY_MAX_BODY", "1MiB", "largest accepted request `size` (bytes, KiB, MiB, GiB)")
	envFlag(fs, getenv, &raw.sync, "sync", "TALLY_SYNC", "full", "SQLite synchronous `mode`: full (survives power loss) or normal (survives a process crash)")
	envFlag(fs, getenv, &raw.logFormat, "log-format", "TALLY_LOG_FORMAT", "text", "log `format`: text or json")
	envFlag(fs, getenv, &raw.shutdown, "shutdown-timeout", "TALLY_SHUTDOWN_TIMEOUT", "15s", "how long in-flight requests may take to finish on shutdown (a `duration`)")
	envFlag(fs, getenv, &raw.retention, "retention", "TALLY_RETENTION", "off", "how long events are kept: a number of days (400d) or a `duration` (720h); older events are deleted in the background and refused on create (off keeps them for ever)")
	envFlag(fs, getenv, &raw.lockWait, "lock-wait", "TALLY_LOCK_WAIT", defaultLockWait, "how long to wait for another process to release the SQLite file before failing (a `duration`, 0 fails at once)")
	envFlag(fs, getenv, &raw.memLimit, "memory-limit", "TALLY_MEMORY_LIMIT", "200MiB", "soft limit of the Go heap (a `size`, or 0 for none): the collector works harder near it instead of letting the heap double")
	envFlag(fs, getenv, &raw.debugAddr, "debug-addr", "TALLY_DEBUG_ADDR", "", "`address` to serve /debug/pprof on, apart from the API (off when empty; keep it on loopback)")
	envFlag(fs, getenv, &raw.readHeader, "read-header-timeout", "TALLY_READ_HEADER_TIMEOUT", "5s", "how long a client may take to send the request headers (a `duration`)")
	// A 10 MiB bulk body over a slow link needs a while.
	envFlag(fs, getenv, &raw.read, "read-timeout", "TALLY_READ_TIMEOUT", "1m", "how long a client may take to send a whole request (a `duration`)")
	// Generous enough for a large CSV report.
	envFlag(fs, getenv, &raw.write, "write-timeout", "TALLY_WRITE_TIMEOUT", "2m", "how long writing a whole response may take (a `duration`)")
	envFlag(fs, getenv, &raw.idle, "idle-timeout", "TALLY_IDLE_TIMEOUT", "2m", "how long an idle keep-alive connection stays open (a `duration`)")
	envFlag(fs, getenv, &raw.maxHeader, "max-header-bytes", "TALLY_MAX_HEADER_BYTES", "64KiB", "largest accepted request header section (a `size`)")
	envFlag(fs, getenv, &raw.batchEvents, "max-batch-events", "TALLY_MAX_BATCH_EVENTS", "10000", "most events in one POST /events (a `count`)")
	envFlag(fs, getenv, &raw.batchBytes, "max-batch-bytes", "TALLY_MAX_BATCH_BYTES", "10MiB", "largest POST /events body, after decompression (a `size`)")
	envFlag(fs, getenv, &raw.inFlight, "max-in-flight", "TALLY_MAX_IN_FLIGHT", "1024", "most requests served at once; more get 503 with Retry-After (a `count`)")
	envFlag(fs, getenv, &raw.inFlightBytes, "max-in-flight-bytes", "TALLY_MAX_IN_FLIGHT_BYTES", "256MiB", "most request body bytes held at once; more get 503 with Retry-After (a `size`)")
	// Defaults: see api.DefaultMinBodyRate.
	envFlag(fs, getenv, &raw.minBodyRate, "min-body-rate", "TALLY_MIN_BODY_RATE", "1KiB", "slowest average `rate` (a size per second, /s optional) at which a request body may arrive once --min-body-rate-grace has passed; slower bodies get 408")
	envFlag(fs, getenv, &raw.bodyRateGrace, "min-body-rate-grace", "TALLY_MIN_BODY_RATE_GRACE", "10s", "how long a request body may take before --min-body-rate applies (a `duration`)")
	// Empty: the default, DefaultScanTimeout or half the write timeout if
	// that is shorter, so that the refusal can still be written.
	envFlag(fs, getenv, &raw.scanTimeout, "scan-timeout", "TALLY_SCAN_TIMEOUT", "", "how long a report over raw events (hour buckets, a zone other than UTC) may run before it is refused as too broad (a `duration`; default 30s, at most half of --write-timeout)")
	envFlag(fs, getenv, &raw.maxScans, "max-scans", "TALLY_MAX_SCANS", strconv.Itoa(tally.DefaultMaxScans), "most reports over raw events running at once; more get 503 with Retry-After (a `count`)")
	envFlag(fs, getenv, &raw.keys, "api-keys", "TALLY_API_KEYS", "", "comma-separated API `keys`; when set, POST and DELETE need Authorization: Bearer <key>")
	envFlag(fs, getenv, &raw.keysFile, "api-keys-file", "TALLY_API_KEYS_FILE", "", "a `file` of API keys, one a line (# starts a comment), added to --api-keys")
	envFlag(fs, getenv, &raw.authRd, "auth-reads", "TALLY_AUTH_READS", "false", "require an API key for GET /event and /report too (true or false)")
	if err := parseFlags(fs, args); err != nil {
		return serveConfig{}, err
	}

	cfg := serveConfig{Addr: raw.addr, Store: raw.store, Sync: raw.sync, LogFormat: raw.logFormat}
	var errs []error
	bad := func(flag, env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s (%s): %s", flag, env, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		bad("addr", "TALLY_ADDR", "%v", err)
	}
	if strings.TrimSpace(cfg.Store) == "" {
		bad("store", "TALLY_STORE", "must not be empty")
	}
	if cfg.Sync != "full" && cfg.Sync != "normal" {
		bad("sync", "TALLY_SYNC", "%q is not full or normal", cfg.Sync)
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		bad("log-format", "TALLY_LOG_FORMAT", "%q is not text or json", cfg.LogFormat)
	}
	duration := func(p *time.Duration, v, flag, env string) {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(flag, env, "%q is not a positive duration", v)
		}
		*p = d
	}
	duration(&cfg.ShutdownTimeout, raw.shutdown, "shutdown-timeout", "TALLY_SHUTDOWN_TIMEOUT")
	duration(&cfg.ReadHeaderTimeout, raw.readHeader, "read-header-timeout", "TALLY_READ_HEADER_TIMEOUT")
	duration(&cfg.ReadTimeout, raw.read, "read-timeout", "TALLY_READ_TIMEOUT")
	duration(&cfg.WriteTimeout, raw.write, "write-timeout", "TALLY_WRITE_TIMEOUT")
	duration(&cfg.IdleTimeout, raw.idle, "idle-timeout", "TALLY_IDLE_TIMEOUT")
	duration(&cfg.BodyRateGrace, raw.bodyRateGrace, "min-body-rate-grace", "TALLY_MIN_BODY_RATE_GRACE")
	if r, err := tally.ParseRetention(raw.retention); err != nil {
		bad("retention", "TALLY_RETENTION", "%s", tally.ErrorMessage(err))
	} else {
		cfg.Retention = r
	}
	if d, err := time.ParseDuration(raw.lockWait); err != nil || d < 0 {
		bad("lock-wait", "TALLY_LOCK_WAIT", "%q is not a duration of 0 or more", raw.lockWait)
	} else {
		cfg.LockWait = d
	}
	size := func(p *int64, v, flag, env string) {
		n, err := parseSize(v)
		if err != nil || n <= 0 {
			bad(flag, env, "%q is not a positive size", v)
		}
		*p = n
	}
	size(&cfg.MaxBody, raw.maxBody, "max-body", "TALLY_MAX_BODY")
	if raw.memLimit != "0" {
		size(&cfg.MemoryLimit, raw.memLimit, "memory-limit", "TALLY_MEMORY_LIMIT")
	}
	cfg.DebugAddr = raw.debugAddr
	if cfg.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.DebugAddr); err != nil {
			bad("debug-addr", "TALLY_DEBUG_ADDR", "%v", err)
		}
	}
	size(&cfg.MaxHeaderBytes, raw.maxHeader, "max-header-bytes", "TALLY_MAX_HEADER_BYTES")
	size(&cfg.MaxBatchBytes, raw.batchBytes, "max-batch-bytes", "TALLY_MAX_BATCH_BYTES")
	size(&cfg.MaxInFlightBytes, raw.inFlightBytes, "max-in-flight-bytes", "TALLY_MAX_IN_FLIGHT_BYTES")
	size(&cfg.MinBodyRate, strings.TrimSuffix(raw.minBodyRate, "/s"), "min-body-rate", "TALLY_MIN_BODY_RATE")
	count := func(p *int, v, flag, env string) {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			bad(flag, env, "%q is not a positive count", v)
		}
		*p = n
	}
	count(&cfg.MaxBatchEvents, raw.batchEvents, "max-batch-events", "TALLY_MAX_BATCH_EVENTS")
	count(&cfg.MaxInFlight, raw.inFlight, "max-in-flight", "TALLY_MAX_IN_FLIGHT")
	count(&cfg.MaxScans, raw.maxScans, "max-scans", "TALLY_MAX_SCANS")
	if raw.scanTimeout == "" {
		cfg.ScanTimeout = min(tally.DefaultScanTimeout, cfg.WriteTimeout/2)
	} else {
		duration(&cfg.ScanTimeout, raw.scanTimeout, "scan-timeout", "TALLY_SCAN_TIMEOUT")
		if cfg.WriteTimeout > 0 && cfg.ScanTimeout >= cfg.WriteTimeout {
			bad("scan-timeout", "TALLY_SCAN_TIMEOUT", "%s is not shorter than --write-timeout %s: the refusal could not be written", cfg.ScanTimeout, cfg.WriteTimeout)
		}
	}
	for _, k := range strings.Split(raw.keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.APIKeys = append(cfg.APIKeys, k)
		}
	}
	if raw.keysFile != "" {
		keys, err := readKeys(raw.keysFile)
		if err != nil {
			bad("api-keys-file", "TALLY_API_KEYS_FILE", "%v", err)
		}
		cfg.APIKeys = append(cfg.APIKeys, keys...)
	}
	switch raw.authRd {
	case "true":
		cfg.AuthReads = true
		if len(cfg.APIKeys) == 0 {
			bad("auth-reads", "TALLY_AUTH_READS", "needs API keys (--api-keys or --api-keys-file)")
		}
	case "false":
	default:
		bad("auth-reads", "TALLY_AUTH_READS", "%q is not true or false", raw.authRd)
	}
	if len(errs) > 0 {
		return serveConfig{}, usageError{errors.Join(errs...)}
	}
	return cfg, nil
}

// readKeys reads one key a line; blank lines and lines starting with # are
// skipped.
func readKeys(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no key", path)
	}
	return keys, nil
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func (c *cli) serve(ctx context.Context, args []string) (err error) {
	fs := c.newFlagSet("serve", "Run the HTTP API server until SIGINT or SIGTERM.")
	cfg, err := parseServeConfig(fs, args, c.getenv)
	if err != nil {
		return helpOK(err)
	}
	logger := newLogger(cfg.LogFormat, c.stderr)
	if cfg.MemoryLimit > 0 {
		// The cube and filters are long-lived; without a limit the heap
		// grows to twice them before each collection.
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, logger)
		if err != nil {
			return err
		}
		defer stopDebug()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := api.NewStoreMetrics(reg)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, logger, metrics.ObserveCommit)
	if err != nil {
		return err
	}
	// The store closes last, after the server has drained, so that every
	// acknowledged write is finished.
	defer func() {
		if cerr := store.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing store: %w", cerr))
		}
	}()

	handler, err := newHandler(cfg, metrics.Instrument(store), logger, reg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    int(cfg.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	addr := ln.Addr().String()
	logger.Info("listening", "addr", addr, "store", redact(cfg.Store), "max_body", cfg.MaxBody,
		"api_keys", len(cfg.APIKeys), "auth_reads", cfg.AuthReads,
		"scan_timeout", cfg.ScanTimeout, "max_scans", cfg.MaxScans)
	if c.ready != nil {
		c.ready(addr)
	}

	if cfg.Retention.Age > 0 {
		go expireEvents(ctx, store, cfg.Retention, logger)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down", "drain_timeout", cfg.ShutdownTimeout)
	// A fresh context: the signal one is already done, and draining needs
	// its own deadline.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("draining requests: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// expireInterval is how often serve deletes the events past the retention:
// often enough that none outlives it by much, rarely enough that the scan
// (a pass over the SQLite file) costs little.
const expireInterval = time.Hour

// expireEvents deletes the events past the retention at start and then
// every expireInterval (or a tenth of the retention, if shorter), until ctx
// ends.
func expireEvents(ctx context.Context, store tally.Store, r tally.Retention, logger *slog.Logger) {
	every := min(expireInterval, r.Age/10)
	for {
		n, err := r.Expire(ctx, store, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Error("retention: expiring events failed; retrying later", "deleted", n, "err", err)
		case n > 0:
			logger.Info("retention: expired events deleted", "deleted", n, "before", r.Cutoff(time.Now()))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// openStore opens the store the --store setting names. It is the one place
// that reads the setting's scheme: "sqlite:PATH" (also "sqlite://PATH") or a
// bare path means SQLite, "mongodb://" and "mongodb+srv://" MongoDB, and
// "discard:" the store that keeps nothing, only for measuring the HTTP path's
// ceiling (tally bench).
// logger receives what the SQLite store says at Open. observe, when not
// nil, is told of every write transaction of the SQLite store (group commit
// sizes and durations).
func openStore(ctx context.Context, cfg serveConfig, logger *slog.Logger, observe func(int, time.Duration)) (tally.Store, error) {
	spec := cfg.Store
	scheme, rest, ok := strings.Cut(spec, ":")
	switch {
	case ok && scheme == "sqlite":
		return openSQLite(ctx, strings.TrimPrefix(rest, "//"), cfg, logger, observe)
	case ok && scheme == "discard":
		if rest != "" {
			return nil, usageError{fmt.Errorf("--store %q: discard takes no path (write discard:)", spec)}
		}
		return discard.Store{}, nil
	case ok && (scheme == "mongodb" || scheme == "mongodb+srv"):
		// Half the write timeout, so that the 503 that says a write's
		// outcome is unknown can still be written.
		st, err := mongo.OpenOptions(ctx, spec, mongo.Options{Scans: scanLimits(cfg), Timeout: cfg.WriteTimeout / 2})
		if err != nil {
			// The URI may hold a password: name the store by its scheme only.
			return nil, fmt.Errorf("opening the %s store: %w", scheme, err)
		}
		return st, nil
	case ok && strings.HasPrefix(rest, "//"):
		return nil, usageError{fmt.Errorf("--store: unsupported scheme %q (want sqlite:PATH, a path, a mongodb:// URI or discard:)", scheme)}
	default:
		// A bare path, which may hold a colon (a Windows drive letter, say).
		return openSQLite(ctx, spec, cfg, logger, observe)
	}
}

func openSQLite(ctx context.Context, path string, cfg serveConfig, logger *slog.Logger, observe func(int, time.Duration)) (tally.Store, error) {
	if path == "" {
		return nil, usageError{errors.New("--store: the SQLite path is empty")}
	}
	st, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: cfg.Sync, CommitObserver: observe,
		LockWait: cfg.LockWait, Logger: logger, Scans: scanLimits(cfg)})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return st, nil
}

// scanLimits are the stores' limits on reports over raw events; zero
// fields (verify and repair set none) mean the defaults.
func scanLimits(cfg serveConfig) tally.ScanLimits {
	return tally.ScanLimits{Timeout: cfg.ScanTimeout, Max: cfg.MaxScans}
}

// serveDebug serves the runtime profiles on their own listener, so that they
// are never reachable through the API's address.
func serveDebug(addr string, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener: %w", err)
	}
	srv := &http.Server{Handler: debugMux(), ReadHeaderTimeout: 5 * time.Second}
	logger.Info("debug listening", "addr", ln.Addr().String())
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// debugMux serves the runtime profiles of net/http/pprof, all but
// /debug/pprof/cmdline: the command line holds --api-keys and store URIs
// with passwords, and the operator who would read it already has it (ps,
// the service's unit), so it is left out rather than redacted, which would
// need to know every flag that may hold a secret. pprof.Index answers the
// name with 404 (no such profile).
func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// redact hides the password of a store URI, for logs. It does not use
// net/url, which refuses MongoDB's lists of hosts.
func redact(spec string) string {
	scheme, rest, ok := strings.Cut(spec, "://")
	if !ok {
		return spec
	}
	authority, path, _ := strings.Cut(rest, "/")
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return spec
	}
	user, _, hasPassword := strings.Cut(authority[:at], ":")
	if !hasPassword {
		return spec
	}
	out := scheme + "://" + user + ":xxxxx" + authority[at:]
	if path != "" || strings.Contains(rest, "/") {
		out += "/" + path
	}
	return out
}

// newHandler builds the HTTP API over store, with its metrics on reg, and
// the dashboard at /.
func newHandler(cfg serveConfig, store tally.Store, logger *slog.Logger, reg *prometheus.Registry) (http.Handler, error) {
	h, err := api.NewHandler(api.Config{
		Store: store, Logger: logger, Registry: reg,
		MaxBody: cfg.MaxBody, MaxBatchEvents: cfg.MaxBatchEvents, MaxBatchBytes: cfg.MaxBatchBytes,
		MaxInFlight: cfg.MaxInFlight, MaxInFlightBytes: cfg.MaxInFlightBytes,
		MinBodyRate: cfg.MinBodyRate, BodyRateGrace: cfg.BodyRateGrace,
		APIKeys: cfg.APIKeys, AuthReads: cfg.AuthReads, Retention: cfg.Retention,
	})
	if err != nil {
		return nil, err
	}
	return web.WithDashboard(h), nil
}
