package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/tools/discard"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestServeConfigPrecedence(t *testing.T) {
	defaults := serveConfig{Addr: ":8080", Store: "sqlite:data/tally.db", MaxBody: 1 << 20, Sync: "full",
		LogFormat: "text", ShutdownTimeout: 15 * time.Second,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, MaxBatchEvents: 10000, MaxBatchBytes: 10 << 20, MaxInFlight: 1024, MaxInFlightBytes: 256 << 20,
		MemoryLimit: 200 << 20, MinBodyRate: 1 << 10, BodyRateGrace: 10 * time.Second, LockWait: 30 * time.Second,
		ScanTimeout: 30 * time.Second, MaxScans: 4}
	with := func(f func(*serveConfig)) serveConfig {
		c := defaults
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want serveConfig
	}{
		{name: "defaults", want: defaults},
		{
			name: "env over defaults",
			env: map[string]string{"TALLY_ADDR": "127.0.0.1:9000", "TALLY_STORE": "/tmp/x.db", "TALLY_MAX_BODY": "512KiB",
				"TALLY_SYNC": "normal", "TALLY_LOG_FORMAT": "json", "TALLY_SHUTDOWN_TIMEOUT": "3s"},
			want: with(func(c *serveConfig) {
				c.Addr, c.Store, c.MaxBody, c.Sync, c.LogFormat, c.ShutdownTimeout = "127.0.0.1:9000", "/tmp/x.db", 512<<10, "normal", "json", 3*time.Second
			}),
		},
		{
			name: "flags over env",
			args: []string{"--addr", ":0", "--store=sqlite:/a.db", "-max-body", "1048576", "--sync", "full",
				"--log-format", "text", "--shutdown-timeout", "1m"},
			env: map[string]string{"TALLY_ADDR": "127.0.0.1:9000", "TALLY_STORE": "/tmp/x.db", "TALLY_MAX_BODY": "512KiB",
				"TALLY_SYNC": "normal", "TALLY_LOG_FORMAT": "json", "TALLY_SHUTDOWN_TIMEOUT": "3s"},
			want: with(func(c *serveConfig) { c.Addr, c.Store, c.ShutdownTimeout = ":0", "sqlite:/a.db", time.Minute }),
		},
		{
			name: "a flag wins only for itself",
			args: []string{"--max-body", "2MiB"},
			env:  map[string]string{"TALLY_MAX_BODY": "512KiB", "TALLY_LOG_FORMAT": "json"},
			want: with(func(c *serveConfig) { c.MaxBody, c.LogFormat = 2<<20, "json" }),
		},
		{
			name: "limits and keys",
			args: []string{"--max-in-flight", "8", "--write-timeout", "10s", "--api-keys", "a, b,,", "--memory-limit", "0", "--debug-addr", "127.0.0.1:6060"},
			env:  map[string]string{"TALLY_MAX_BATCH_EVENTS": "500", "TALLY_MAX_BATCH_BYTES": "1MiB", "TALLY_AUTH_READS": "true"},
			want: with(func(c *serveConfig) {
				c.MaxInFlight, c.WriteTimeout, c.APIKeys = 8, 10*time.Second, []string{"a", "b"}
				c.ScanTimeout = 5 * time.Second // half the write timeout, when not set
				c.MaxBatchEvents, c.MaxBatchBytes, c.AuthReads = 500, 1<<20, true
				c.MemoryLimit, c.DebugAddr = 0, "127.0.0.1:6060"
			}),
		},
		{
			name: "body rate floor",
			args: []string{"--min-body-rate", "512B/s"},
			env:  map[string]string{"TALLY_MIN_BODY_RATE": "4KiB", "TALLY_MIN_BODY_RATE_GRACE": "3s"},
			want: with(func(c *serveConfig) { c.MinBodyRate, c.BodyRateGrace = 512, 3*time.Second }),
		}, {
			name: "scan limits",
			args: []string{"--scan-timeout", "1m"},
			env:  map[string]string{"TALLY_MAX_SCANS": "1", "TALLY_SCAN_TIMEOUT": "5s"},
			want: with(func(c *serveConfig) { c.ScanTimeout, c.MaxScans = time.Minute, 1 }),
		},
		{
			name: "a flag overrides a variable that does not parse",
			args: []string{"--max-body", "2MiB", "--shutdown-timeout", "1s"},
			env:  map[string]string{"TALLY_MAX_BODY": "1MB", "TALLY_SHUTDOWN_TIMEOUT": "soon"},
			want: with(func(c *serveConfig) { c.MaxBody, c.ShutdownTimeout = 2<<20, time.Second }),
		},
		{
			name: "typed forms",
			args: []string{"--retention", "400d", "--auth-reads=1", "--memory-limit", "1GiB", "--idle-timeout", "90s"},
			env:  map[string]string{"TALLY_API_KEYS": "k", "TALLY_LOCK_WAIT": "0"},
			want: with(func(c *serveConfig) {
				c.Retention, c.AuthReads, c.APIKeys = tally.Retention{Age: 400 * 24 * time.Hour}, true, []string{"k"}
				c.MemoryLimit, c.IdleTimeout, c.LockWait = 1<<30, 90*time.Second, 0
			}),
		},
		{
			name: "a MongoDB store without SQLite options",
			env:  map[string]string{"TALLY_STORE": "mongodb://db1:27017/tally"},
			want: with(func(c *serveConfig) { c.Store = "mongodb://db1:27017/tally" }),
		},
		{
			name: "empty env means unset",
			env:  map[string]string{"TALLY_ADDR": ""},
			want: defaults,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			got, err := parseServeConfig(fs, tc.args, envOf(tc.env))
			if err != nil {
				t.Fatalf("parseServeConfig(%q): %v", tc.args, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServeConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{name: "bad env size", env: map[string]string{"TALLY_MAX_BODY": "1MB"}},
		{name: "bad flag size overrides good env", args: []string{"--max-body", "lots"}, env: map[string]string{"TALLY_MAX_BODY": "1MiB"}},
		{name: "sync", args: []string{"--sync", "off"}},
		{name: "log format", env: map[string]string{"TALLY_LOG_FORMAT": "xml"}},
		{name: "address without port", args: []string{"--addr", "localhost"}},
		{name: "empty store", args: []string{"--store", " "}},
		{name: "shutdown timeout", args: []string{"--shutdown-timeout", "-1s"}},
		{name: "zero in-flight", args: []string{"--max-in-flight", "0"}},
		{name: "bad memory limit", args: []string{"--memory-limit", "lots"}},
		{name: "debug address without port", args: []string{"--debug-addr", "localhost"}},
		{name: "bad timeout", env: map[string]string{"TALLY_READ_TIMEOUT": "soon"}},
		{name: "zero body rate", args: []string{"--min-body-rate", "0"}},
		{name: "bad body rate", env: map[string]string{"TALLY_MIN_BODY_RATE": "fast"}},
		{name: "bad body rate grace", env: map[string]string{"TALLY_MIN_BODY_RATE_GRACE": "0s"}},
		{name: "zero scans", args: []string{"--max-scans", "0"}},
		{name: "scan timeout not a duration", env: map[string]string{"TALLY_SCAN_TIMEOUT": "30"}},
		{name: "scan timeout past the write timeout", args: []string{"--scan-timeout", "2m", "--write-timeout", "2m"}},
		{name: "auth reads without keys", args: []string{"--auth-reads", "true"}},
		{name: "auth reads not a bool", args: []string{"--api-keys", "k", "--auth-reads", "yes"}},
		{name: "missing keys file", args: []string{"--api-keys-file", "/nonexistent/keys"}},
		{name: "negative lock wait", env: map[string]string{"TALLY_LOCK_WAIT": "-1s"}},
		{name: "negative memory limit", args: []string{"--memory-limit", "-1"}},
		{name: "retention", env: map[string]string{"TALLY_RETENTION": "forever"}},
		{name: "sqlite path empty", args: []string{"--store", "sqlite:"}},
		{name: "unsupported scheme", args: []string{"--store", "postgres://db/tally"}},
		{name: "unknown flag", args: []string{"--bogus"}},
		{name: "stray argument", args: []string{"extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			_, err := parseServeConfig(fs, tc.args, envOf(tc.env))
			var u usageError
			if !errors.As(err, &u) {
				t.Errorf("parseServeConfig(%q, %v) error = %v, want a usage error", tc.args, tc.env, err)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1048576", 1 << 20},
		{"1MiB", 1 << 20},
		{"512KiB", 512 << 10},
		{"512 kib", 512 << 10},
		{"2GiB", 2 << 30},
		{"100B", 100},
		{" 7 ", 7},
	} {
		got, err := parseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "0", "0MiB", "-1", "1.5MiB", "1MB", "1 M", "MiB", "9223372036854775807GiB", "99999999999999999999"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestOpenStoreDiscard(t *testing.T) {
	ctx := t.Context()
	st, err := openStore(ctx, serveConfig{Store: "discard:"}, nil)
	if err != nil {
		t.Fatalf("openStore(discard:): %v", err)
	}
	if _, ok := st.(discard.Store); !ok {
		t.Errorf("openStore(discard:) = %T, want discard.Store", st)
	}
	if _, err := openStore(ctx, serveConfig{Store: "discard:/tmp/x.db"}, nil); !errors.As(err, new(usageError)) {
		t.Errorf("openStore(discard:/tmp/x.db): got %v, want a usage error", err)
	}
}

// SQLite-only options chosen for another store are refused at start, with
// a message naming the option, its variable and why, and never the URI.
func TestSQLiteOnlyOptions(t *testing.T) {
	const mongoURI = "mongodb://tally:s3cret@db1:27017/tally"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string // in the error; nil: accepted
	}{
		{name: "sync flag on MongoDB", args: []string{"--store", mongoURI, "--sync", "normal"},
			want: []string{"--sync (TALLY_SYNC): applies to SQLite stores only, and --store is a MongoDB store", "write concern"}},
		{name: "sync full named on MongoDB", env: map[string]string{"TALLY_STORE": mongoURI, "TALLY_SYNC": "full"},
			want: []string{"--sync (TALLY_SYNC): applies to SQLite stores only"}},
		{name: "lock wait on MongoDB", args: []string{"--lock-wait", "0"}, env: map[string]string{"TALLY_STORE": "mongodb+srv://cluster.example/tally"},
			want: []string{"--lock-wait (TALLY_LOCK_WAIT): applies to SQLite stores only"}},
		{name: "sync on discard", args: []string{"--store", "discard:", "--sync", "normal"},
			want: []string{"--sync (TALLY_SYNC): applies to SQLite stores only, and --store is a discard store: unset it"}},
		{name: "both at once", args: []string{"--store", mongoURI, "--sync", "normal", "--lock-wait", "1m"},
			want: []string{"--sync (TALLY_SYNC)", "--lock-wait (TALLY_LOCK_WAIT)"}},
		{name: "MongoDB with the defaults", args: []string{"--store", mongoURI}},
		{name: "sync on SQLite", args: []string{"--store", "sqlite:/tmp/x.db", "--sync", "normal", "--lock-wait", "0"}},
		{name: "sync on a bare path", env: map[string]string{"TALLY_STORE": "/tmp/x.db", "TALLY_SYNC": "normal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			_, err := parseServeConfig(fs, tc.args, envOf(tc.env))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("parseServeConfig(%q, %v): %v", tc.args, tc.env, err)
				}
				return
			}
			if !errors.As(err, new(usageError)) {
				t.Fatalf("parseServeConfig(%q, %v) error = %v, want a usage error", tc.args, tc.env, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the store's password", err)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "1B", 1000: "1000B", 1 << 10: "1KiB", 1536: "1536B",
		64 << 10: "64KiB", 1 << 20: "1MiB", 200 << 20: "200MiB", 3 << 30: "3GiB", 1<<40 + 1<<20: "1048577MiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := parseByteCount(want); err != nil || back != n {
			t.Errorf("parseByteCount(%q) = %d, %v; want %d", want, back, err, n)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 5 * time.Second: "5s", time.Minute: "1m", 90 * time.Second: "1m30s",
		time.Hour: "1h", 90 * time.Minute: "1h30m", time.Hour + time.Second: "1h0m1s", 1500 * time.Millisecond: "1.5s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(want); err != nil || back != d {
			t.Errorf("time.ParseDuration(%q) = %v, %v; want %v", want, back, err, d)
		}
	}
}

// Errors name the flag and its variable, and the value when it came from
// the variable (the flag package names a flag's own); one mistake is one
// line.
func TestServeConfigMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "size from the environment", env: map[string]string{"TALLY_MAX_BODY": "1MB"},
			want: `--max-body (TALLY_MAX_BODY): invalid value "1MB": not a size: a number with B, KiB, MiB or GiB, such as 512KiB`},
		{name: "several variables", env: map[string]string{"TALLY_AUTH_READS": "yes", "TALLY_READ_TIMEOUT": "soon", "TALLY_RETENTION": "forever"},
			want: `--retention (TALLY_RETENTION): invalid value "forever": neither a number of days (400d) nor a positive duration (720h), nor off` + "\n" +
				`--read-timeout (TALLY_READ_TIMEOUT): invalid value "soon": not a duration such as 30s, 2m or 1h30m` + "\n" +
				`--auth-reads (TALLY_AUTH_READS): invalid value "yes": not true or false`},
		{name: "zero write timeout alone", args: []string{"--write-timeout", "0"},
			want: `--write-timeout (TALLY_WRITE_TIMEOUT): 0s is not a positive duration`},
		{name: "scan timeout as long as the write timeout", args: []string{"--scan-timeout", "1m", "--write-timeout", "60s"},
			want: `--scan-timeout (TALLY_SCAN_TIMEOUT): 1m is not shorter than --write-timeout 1m: the refusal could not be written`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			_, err := parseServeConfig(fs, tc.args, envOf(tc.env))
			if err == nil {
				t.Fatalf("parseServeConfig(%q, %v) succeeded, want %q", tc.args, tc.env, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}
