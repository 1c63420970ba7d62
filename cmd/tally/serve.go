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
	Store           string // "sqlite:PATH" or a bare path
	MaxBody         int64  // bytes
	Sync            string // SQLite synchronous mode: full or normal
	LogFormat       string // text or json
	ShutdownTimeout time.Duration
}

// Server limits. The write timeout bounds a whole response, so it is generous
// enough for a large CSV report; slow clients are cut off by the read limits.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = time.Minute // a 10 MiB bulk body over a slow link
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

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
	var raw struct{ addr, store, maxBody, sync, logFormat, shutdown string }
	envFlag(fs, getenv, &raw.addr, "addr", "TALLY_ADDR", ":8080", "listen `address` (port 0 picks a free port)")
	envFlag(fs, getenv, &raw.store, "store", "TALLY_STORE", "sqlite:data/tally.db", "where events are kept: sqlite:`PATH`, a bare path, a mongodb:// or mongodb+srv:// URI, or discard: (keeps nothing: a benchmarking aid, the ceiling of tally bench, never for data)")
	envFlag(fs, getenv, &raw.maxBody, "max-body", "TALLY_MAX_BODY", "1MiB", "largest accepted request `size` (bytes, KiB, MiB, GiB)")
	envFlag(fs, getenv, &raw.sync, "sync", "TALLY_SYNC", "full", "SQLite synchronous `mode`: full (survives power loss) or normal (survives a process crash)")
	envFlag(fs, getenv, &raw.logFormat, "log-format", "TALLY_LOG_FORMAT", "text", "log `format`: text or json")
	envFlag(fs, getenv, &raw.shutdown, "shutdown-timeout", "TALLY_SHUTDOWN_TIMEOUT", "15s", "how long in-flight requests may take to finish on shutdown (a `duration`)")
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
	var err error
	if cfg.MaxBody, err = parseSize(raw.maxBody); err != nil {
		bad("max-body", "TALLY_MAX_BODY", "%v", err)
	}
	if cfg.Sync != "full" && cfg.Sync != "normal" {
		bad("sync", "TALLY_SYNC", "%q is not full or normal", cfg.Sync)
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		bad("log-format", "TALLY_LOG_FORMAT", "%q is not text or json", cfg.LogFormat)
	}
	if cfg.ShutdownTimeout, err = time.ParseDuration(raw.shutdown); err != nil || cfg.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "TALLY_SHUTDOWN_TIMEOUT", "%q is not a positive duration", raw.shutdown)
	}
	if len(errs) > 0 {
		return serveConfig{}, usageError{errors.Join(errs...)}
	}
	return cfg, nil
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

	store, err := openStore(ctx, cfg)
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

	handler, err := newHandler(cfg, store, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	addr := ln.Addr().String()
	logger.Info("listening", "addr", addr, "store", redact(cfg.Store), "max_body", cfg.MaxBody)
	if c.ready != nil {
		c.ready(addr)
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

// openStore opens the store the --store setting names. It is the one place
// that reads the setting's scheme: "sqlite:PATH" (also "sqlite://PATH") or a
// bare path means SQLite, "mongodb://" and "mongodb+srv://" MongoDB, and
// "discard:" the store that keeps nothing, only for measuring the HTTP path's
// ceiling (tally bench).
func openStore(ctx context.Context, cfg serveConfig) (tally.Store, error) {
	spec := cfg.Store
	scheme, rest, ok := strings.Cut(spec, ":")
	switch {
	case ok && scheme == "sqlite":
		return openSQLite(ctx, strings.TrimPrefix(rest, "//"), cfg.Sync)
	case ok && scheme == "discard":
		if rest != "" {
			return nil, usageError{fmt.Errorf("--store %q: discard takes no path (write discard:)", spec)}
		}
		return discard.Store{}, nil
	case ok && (scheme == "mongodb" || scheme == "mongodb+srv"):
		st, err := mongo.Open(ctx, spec)
		if err != nil {
			// The URI may hold a password: name the store by its scheme only.
			return nil, fmt.Errorf("opening the %s store: %w", scheme, err)
		}
		return st, nil
	case ok && strings.HasPrefix(rest, "//"):
		return nil, usageError{fmt.Errorf("--store: unsupported scheme %q (want sqlite:PATH, a path, a mongodb:// URI or discard:)", scheme)}
	default:
		// A bare path, which may hold a colon (a Windows drive letter, say).
		return openSQLite(ctx, spec, cfg.Sync)
	}
}

func openSQLite(ctx context.Context, path, sync string) (tally.Store, error) {
	if path == "" {
		return nil, usageError{errors.New("--store: the SQLite path is empty")}
	}
	st, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: sync})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return st, nil
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

// newHandler builds the HTTP API over store, with the Go runtime and process
// metrics next to the API's own on /metrics, and the dashboard at /.
func newHandler(cfg serveConfig, store tally.Store, logger *slog.Logger) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h, err := api.NewHandler(api.Config{Store: store, MaxBody: cfg.MaxBody, Logger: logger, Registry: reg})
	if err != nil {
		return nil, err
	}
	return web.WithDashboard(h), nil
}
