package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
	"github.com/tallyhq/tally/mongo"
	"github.com/tallyhq/tally/sqlite"
	"github.com/tallyhq/tally/tools/discard"
	"github.com/tallyhq/tally/web"
)

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
		ml := newMemoryLimit(cfg.MemoryLimit)
		mlCtx, stop := context.WithCancel(ctx)
		defer stop()
		go ml.follow(mlCtx, 2*time.Second, logger)
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
	store, err := openStore(ctx, cfg, logger)
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
	// A store that measures its own work (its writer's commits) exports
	// it; the API times every call to it alike.
	if c, ok := store.(prometheus.Collector); ok {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering the store's metrics: %w", err)
		}
	}
	timed, err := api.InstrumentStore(store, reg)
	if err != nil {
		return err
	}

	handler, err := newHandler(cfg, timed, logger, reg)
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

// storeKind is the kind of store a --store setting names.
type storeKind string

const (
	storeSQLite  storeKind = "SQLite"
	storeMongo   storeKind = "MongoDB"
	storeDiscard storeKind = "discard"
)

// parseStore is the one reader of the --store setting's scheme:
// "sqlite:PATH" (also "sqlite://PATH") or a bare path means SQLite (path is
// the file), "mongodb://" and "mongodb+srv://" MongoDB, and "discard:" the
// store that keeps nothing, only for measuring the HTTP path's ceiling
// (tally bench). Its errors name the setting, never the whole spec, which
// may hold a password.
func parseStore(spec string) (kind storeKind, path string, err error) {
	if strings.TrimSpace(spec) == "" {
		return "", "", errors.New("--store (TALLY_STORE): must not be empty")
	}
	scheme, rest, ok := strings.Cut(spec, ":")
	switch {
	case ok && scheme == "sqlite":
		path = strings.TrimPrefix(rest, "//")
		if path == "" {
			return "", "", errors.New("--store (TALLY_STORE): the SQLite path is empty")
		}
		return storeSQLite, path, nil
	case ok && scheme == "discard":
		if rest != "" {
			return "", "", fmt.Errorf("--store %q: discard takes no path (write discard:)", spec)
		}
		return storeDiscard, "", nil
	case ok && (scheme == "mongodb" || scheme == "mongodb+srv"):
		return storeMongo, "", nil
	case ok && strings.HasPrefix(rest, "//"):
		return "", "", fmt.Errorf("--store (TALLY_STORE): unsupported scheme %q (want sqlite:PATH, a path, a mongodb:// URI or discard:)", scheme)
	default:
		// A bare path, which may hold a colon (a Windows drive letter, say).
		return storeSQLite, spec, nil
	}
}

// openStore opens the store cfg.Store names (see parseStore). logger
// receives what the SQLite store says at Open.
func openStore(ctx context.Context, cfg serveConfig, logger *slog.Logger) (tally.Store, error) {
	kind, path, err := parseStore(cfg.Store)
	if err != nil {
		return nil, usageError{err}
	}
	switch kind {
	case storeDiscard:
		return discard.Store{}, nil
	case storeMongo:
		// Half the write timeout, so that the 503 that says a write's
		// outcome is unknown can still be written.
		st, err := mongo.OpenOptions(ctx, cfg.Store, mongo.Options{Scans: scanLimits(cfg), Timeout: cfg.WriteTimeout / 2, Logger: logger})
		if err != nil {
			// The URI may hold a password: name the store by its scheme only.
			scheme, _, _ := strings.Cut(cfg.Store, ":")
			return nil, fmt.Errorf("opening the %s store: %w", scheme, err)
		}
		return st, nil
	default:
		st, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: cfg.Sync,
			LockWait: cfg.LockWait, Logger: logger, Scans: scanLimits(cfg)})
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		return st, nil
	}
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
