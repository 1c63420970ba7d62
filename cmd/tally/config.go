package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
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
	APIKeys     []string
	APIKeysFile string
	AuthReads   bool
}

// defaultStore is where serve, verify and repair keep events when neither
// --store nor TALLY_STORE says.
const defaultStore = "sqlite:data/tally.db"

// DefaultConfig is serve's configuration when no flag and no variable says
// otherwise: the one place its defaults are written. The flags' defaults,
// what -h prints and the README's configuration table come from it
// (TestConfigurationTable checks the README).
func DefaultConfig() serveConfig {
	return serveConfig{
		Addr:            defaultAddr,
		Store:           defaultStore,
		MaxBody:         api.DefaultMaxBody,
		Sync:            "full",
		LogFormat:       "text",
		ShutdownTimeout: 15 * time.Second,
		// Twice the shutdown timeout, so that a new process started
		// beside the old one of a rolling deploy outlasts the old one's
		// drain and close.
		LockWait: 30 * time.Second,
		// The cube and the id filters are long-lived; without a limit the
		// heap grows to twice them before each collection.
		MemoryLimit:       200 << 20,
		ReadHeaderTimeout: 5 * time.Second,
		// A 10 MiB bulk body over a slow link needs a while.
		ReadTimeout: time.Minute,
		// Generous enough for a large CSV report.
		WriteTimeout:     2 * time.Minute,
		IdleTimeout:      2 * time.Minute,
		MaxHeaderBytes:   64 << 10,
		MaxBatchEvents:   api.DefaultMaxBatchEvents,
		MaxBatchBytes:    api.DefaultMaxBatchBytes,
		MaxInFlight:      api.DefaultMaxInFlight,
		MaxInFlightBytes: api.DefaultMaxInFlightBytes,
		MinBodyRate:      api.DefaultMinBodyRate,
		BodyRateGrace:    api.DefaultBodyRateGrace,
		ScanTimeout:      tally.DefaultScanTimeout,
		MaxScans:         tally.DefaultMaxScans,
	}
}

// setting is one of serve's settings: a flag, the variable read when the
// flag is not given, and the field of a serveConfig it sets.
type setting struct {
	flag, env string
	value     flag.Value
	usage     string
}

// settings binds c's fields to their flags and variables, in the order of
// the README's table. A flag's default is the field's value when the flag
// is registered: DefaultConfig's.
func (c *serveConfig) settings() []setting {
	return []setting{
		{"addr", "TALLY_ADDR", (*stringValue)(&c.Addr), "listen `address` (port 0 picks a free port)"},
		{"store", "TALLY_STORE", (*stringValue)(&c.Store), "where events are kept: sqlite:`PATH`, a bare path, a mongodb:// or mongodb+srv:// URI, or discard: (keeps nothing: a benchmarking aid, the ceiling of tally bench, never for data)"},
		{"sync", "TALLY_SYNC", &choiceValue{&c.Sync, []string{"full", "normal"}}, "SQLite synchronous `mode`: full (survives power loss) or normal (survives a process crash); SQLite only"},
		{"max-body", "TALLY_MAX_BODY", (*sizeValue)(&c.MaxBody), "largest accepted request `size` (bytes, KiB, MiB, GiB)"},
		{"log-format", "TALLY_LOG_FORMAT", &choiceValue{&c.LogFormat, []string{"text", "json"}}, "log `format`: text or json"},
		{"shutdown-timeout", "TALLY_SHUTDOWN_TIMEOUT", (*durationValue)(&c.ShutdownTimeout), "how long in-flight requests may take to finish on shutdown (a `duration`)"},
		{"retention", "TALLY_RETENTION", (*retentionValue)(&c.Retention), "how long events are kept: a number of days (400d) or a `duration` (720h); older events are deleted in the background and refused on create (off keeps them for ever)"},
		{"lock-wait", "TALLY_LOCK_WAIT", (*durationValue)(&c.LockWait), "how long to wait for another process to release the SQLite file before failing (a `duration`, 0 fails at once); SQLite only"},
		{"read-header-timeout", "TALLY_READ_HEADER_TIMEOUT", (*durationValue)(&c.ReadHeaderTimeout), "how long a client may take to send the request headers (a `duration`)"},
		{"read-timeout", "TALLY_READ_TIMEOUT", (*durationValue)(&c.ReadTimeout), "how long a client may take to send a whole request (a `duration`)"},
		{"write-timeout", "TALLY_WRITE_TIMEOUT", (*durationValue)(&c.WriteTimeout), "how long writing a whole response may take (a `duration`)"},
		{"idle-timeout", "TALLY_IDLE_TIMEOUT", (*durationValue)(&c.IdleTimeout), "how long an idle keep-alive connection stays open (a `duration`)"},
		{"max-header-bytes", "TALLY_MAX_HEADER_BYTES", (*sizeValue)(&c.MaxHeaderBytes), "largest accepted request header section (a `size`)"},
		{"max-batch-events", "TALLY_MAX_BATCH_EVENTS", (*countValue)(&c.MaxBatchEvents), "most events in one POST /events (a `count`)"},
		{"max-batch-bytes", "TALLY_MAX_BATCH_BYTES", (*sizeValue)(&c.MaxBatchBytes), "largest POST /events body, after decompression (a `size`)"},
		{"max-in-flight", "TALLY_MAX_IN_FLIGHT", (*countValue)(&c.MaxInFlight), "most requests served at once; more get 503 with Retry-After (a `count`)"},
		{"max-in-flight-bytes", "TALLY_MAX_IN_FLIGHT_BYTES", (*sizeValue)(&c.MaxInFlightBytes), "most request body bytes held at once; more get 503 with Retry-After (a `size`)"},
		{"min-body-rate", "TALLY_MIN_BODY_RATE", (*rateValue)(&c.MinBodyRate), "slowest average `rate` (a size per second, /s optional) at which a request body may arrive once --min-body-rate-grace has passed; slower bodies get 408"},
		{"min-body-rate-grace", "TALLY_MIN_BODY_RATE_GRACE", (*durationValue)(&c.BodyRateGrace), "how long a request body may take before --min-body-rate applies (a `duration`)"},
		{"max-scans", "TALLY_MAX_SCANS", (*countValue)(&c.MaxScans), "most reports over raw events running at once; more get 503 with Retry-After (a `count`)"},
		{"scan-timeout", "TALLY_SCAN_TIMEOUT", (*durationValue)(&c.ScanTimeout), "how long a report over raw events (hour buckets, a zone other than UTC) may run before it is refused as too broad (a `duration`; when not set, at most half of --write-timeout)"},
		{"api-keys", "TALLY_API_KEYS", (*keysValue)(&c.APIKeys), "comma-separated API `keys`; when set, POST and DELETE need Authorization: Bearer <key>"},
		{"api-keys-file", "TALLY_API_KEYS_FILE", (*stringValue)(&c.APIKeysFile), "a `file` of API keys, one a line (# starts a comment), added to --api-keys"},
		{"auth-reads", "TALLY_AUTH_READS", (*boolValue)(&c.AuthReads), "require an API key for GET /event and /report too (a `bool`: true or false)"},
		{"memory-limit", "TALLY_MEMORY_LIMIT", (*sizeValue)(&c.MemoryLimit), "soft limit of the Go heap (a `size`, or 0 for none): the collector works harder near it instead of letting the heap double; once the live heap (cells, id filters) comes within 64 MiB of it, the limit follows the live heap plus 64 MiB"},
		{"debug-addr", "TALLY_DEBUG_ADDR", (*stringValue)(&c.DebugAddr), "`address` to serve /debug/pprof on, apart from the API (off when empty; keep it on loopback)"},
	}
}

// pick returns the settings of ss named by flags, in that order.
func pick(ss []setting, flags ...string) []setting {
	var out []setting
	for _, name := range flags {
		for _, s := range ss {
			if s.flag == name {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseSettings registers ss on fs and parses args. A flag given on the
// command line wins over its variable, which wins over the default. It
// returns the names of the settings given either way, for rules that
// depend on whether a setting was chosen. A variable that does not parse is
// an error unless its flag overrides it.
func parseSettings(fs *flag.FlagSet, args []string, getenv func(string) string, ss []setting) (map[string]bool, error) {
	for _, s := range ss {
		fs.Var(s.value, s.flag, s.usage+" (env "+s.env+")")
	}
	given := make(map[string]bool)
	envErrs := make(map[string]error)
	for _, s := range ss {
		v := getenv(s.env)
		if v == "" {
			continue
		}
		given[s.flag] = true
		if err := s.value.Set(v); err != nil {
			envErrs[s.flag] = fmt.Errorf("--%s (%s): invalid value %q: %w", s.flag, s.env, v, err)
		}
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		given[f.Name] = true
		delete(envErrs, f.Name)
	})
	var errs []error
	for _, s := range ss {
		if err := envErrs[s.flag]; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, usageError{errors.Join(errs...)}
	}
	return given, nil
}

// parseServeConfig reads serve's flags and environment and validates them.
func parseServeConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (serveConfig, error) {
	cfg := DefaultConfig()
	given, err := parseSettings(fs, args, getenv, cfg.settings())
	if err != nil {
		return serveConfig{}, err
	}
	if !given["scan-timeout"] && cfg.WriteTimeout > 0 {
		// So that the refusal of a long scan can still be written.
		cfg.ScanTimeout = min(cfg.ScanTimeout, cfg.WriteTimeout/2)
	}
	if cfg.APIKeysFile != "" {
		keys, err := readKeys(cfg.APIKeysFile)
		if err != nil {
			return serveConfig{}, usageError{fmt.Errorf("--api-keys-file (TALLY_API_KEYS_FILE): %w", err)}
		}
		cfg.APIKeys = append(cfg.APIKeys, keys...)
	}
	if err := cfg.validate(given); err != nil {
		return serveConfig{}, usageError{err}
	}
	return cfg, nil
}

// validate checks the ranges of c's values and the rules between them;
// given names the settings chosen by a flag or a variable.
func (c *serveConfig) validate(given map[string]bool) error {
	var errs []error
	bad := func(flag, env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s (%s): %s", flag, env, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", "TALLY_ADDR", "%v", err)
	}
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			bad("debug-addr", "TALLY_DEBUG_ADDR", "%v", err)
		}
	}
	kind, _, err := parseStore(c.Store)
	if err != nil {
		errs = append(errs, err)
	}
	if err == nil && kind != storeSQLite {
		// Options the store cannot honour are refused, not ignored: one who
		// sets --sync normal expects faster, less durable commits, one who
		// sets --sync full expects syncs that MongoDB leaves to the URI's
		// write concern. A warning would scroll past in the start-up log;
		// failing at start makes the choice, and the typo in a deployment
		// that copied SQLite settings, visible at once.
		for _, o := range []struct{ flag, env, mongo string }{
			{"sync", "TALLY_SYNC", "durability comes from the URI's write concern (w=majority&journal=true)"},
			{"lock-wait", "TALLY_LOCK_WAIT", "any number of processes share the database: none waits for another"},
		} {
			if !given[o.flag] {
				continue
			}
			why := ""
			if kind == storeMongo {
				why = "; on MongoDB " + o.mongo
			}
			bad(o.flag, o.env, "applies to SQLite stores only, and --store is a %s store: unset it%s", kind, why)
		}
	}
	for _, d := range []struct {
		v         time.Duration
		flag, env string
	}{
		{c.ShutdownTimeout, "shutdown-timeout", "TALLY_SHUTDOWN_TIMEOUT"},
		{c.ReadHeaderTimeout, "read-header-timeout", "TALLY_READ_HEADER_TIMEOUT"},
		{c.ReadTimeout, "read-timeout", "TALLY_READ_TIMEOUT"},
		{c.WriteTimeout, "write-timeout", "TALLY_WRITE_TIMEOUT"},
		{c.IdleTimeout, "idle-timeout", "TALLY_IDLE_TIMEOUT"},
		{c.BodyRateGrace, "min-body-rate-grace", "TALLY_MIN_BODY_RATE_GRACE"},
		{c.ScanTimeout, "scan-timeout", "TALLY_SCAN_TIMEOUT"},
	} {
		if d.v <= 0 {
			bad(d.flag, d.env, "%s is not a positive duration", formatDuration(d.v))
		}
	}
	if c.LockWait < 0 {
		bad("lock-wait", "TALLY_LOCK_WAIT", "%s is negative", formatDuration(c.LockWait))
	}
	if c.WriteTimeout > 0 && c.ScanTimeout >= c.WriteTimeout {
		bad("scan-timeout", "TALLY_SCAN_TIMEOUT", "%s is not shorter than --write-timeout %s: the refusal could not be written",
			formatDuration(c.ScanTimeout), formatDuration(c.WriteTimeout))
	}
	for _, n := range []struct {
		v         int64
		flag, env string
	}{
		{c.MaxBody, "max-body", "TALLY_MAX_BODY"},
		{c.MaxHeaderBytes, "max-header-bytes", "TALLY_MAX_HEADER_BYTES"},
		{c.MaxBatchBytes, "max-batch-bytes", "TALLY_MAX_BATCH_BYTES"},
		{c.MaxInFlightBytes, "max-in-flight-bytes", "TALLY_MAX_IN_FLIGHT_BYTES"},
		{c.MinBodyRate, "min-body-rate", "TALLY_MIN_BODY_RATE"},
		{int64(c.MaxBatchEvents), "max-batch-events", "TALLY_MAX_BATCH_EVENTS"},
		{int64(c.MaxInFlight), "max-in-flight", "TALLY_MAX_IN_FLIGHT"},
		{int64(c.MaxScans), "max-scans", "TALLY_MAX_SCANS"},
	} {
		if n.v <= 0 {
			bad(n.flag, n.env, "must be positive")
		}
	}
	if c.MemoryLimit < 0 {
		bad("memory-limit", "TALLY_MEMORY_LIMIT", "must be 0 or more")
	}
	if c.AuthReads && len(c.APIKeys) == 0 {
		bad("auth-reads", "TALLY_AUTH_READS", "needs API keys (--api-keys or --api-keys-file)")
	}
	return errors.Join(errs...)
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

// envFlag registers a string flag whose default is the environment variable
// env when set, so that a flag given on the command line wins over the
// variable, which wins over the built-in default.
func envFlag(fs *flag.FlagSet, getenv func(string) string, p *string, name, env, def, usage string) {
	if v := getenv(env); v != "" {
		def = v
	}
	fs.StringVar(p, name, def, usage+" (env "+env+")")
}
