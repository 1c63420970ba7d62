package load_test

import (
	"bytes"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/testbin"
	"github.com/tallyhq/tally/tools/load"
	"github.com/tallyhq/tally/tools/proc"
)

func shortConfig(t *testing.T) load.Config {
	t.Helper()
	return load.Config{
		Duration:  2 * time.Second,
		Warmup:    500 * time.Millisecond,
		Timeout:   30 * time.Second, // a shared machine under -race can be slow
		Clients:   4,
		Mix:       load.DefaultMix,
		BulkSize:  50,
		Seed:      time.Now().UnixNano(),
		Now:       time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Days:      30,
		RSSFactor: 1.2,
		// Seconds of traffic are all warm-up: the slack keeps the memory
		// check about leaks, not about the first caches filling.
		RSSSlack: 64 << 20,
		Dir:      t.TempDir(),
	}
}

// mustPass runs cfg and checks the verdict, that every route of the mix
// was served, and that the table shows them.
func mustPass(t *testing.T, cfg load.Config) *load.Result {
	t.Helper()
	var log bytes.Buffer
	cfg.Log = &log
	res, err := load.Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	var table bytes.Buffer
	if err := load.WriteTable(&table, res); err != nil {
		t.Fatal(err)
	}
	if !res.Verdict().OK() {
		t.Errorf("verdict failed:\n%s", table.String())
	}
	for _, rs := range res.Routes {
		if rs.Requests == 0 || rs.Latency.N == 0 {
			t.Errorf("%s: %d requests, %d answered as expected: want traffic on every route", rs.Op.Route(), rs.Requests, rs.Latency.N)
		}
		if !strings.Contains(table.String(), "| "+rs.Op.Route()+" |") {
			t.Errorf("table lacks a row for %s:\n%s", rs.Op.Route(), table.String())
		}
	}
	asked := 0
	for _, q := range res.Reports {
		asked += q.Requests
	}
	if n := res.Routes[load.OpReport].Requests; asked != n || len(res.Reports) != len(res.Queries) {
		t.Errorf("%d reports over %d queries, want the %d of GET /report over %d", asked, len(res.Reports), n, len(res.Queries))
	}
	if res.Events.CreatedSingle == 0 || res.Events.CreatedBulk == 0 || res.Events.Deleted == 0 {
		t.Errorf("events %+v: want single and bulk creates and deletes", res.Events)
	}
	if runtime.GOOS == "linux" && (res.RSS.Start == 0 || res.RSS.Warm == 0 || res.RSS.End == 0 || res.RSS.Peak < res.RSS.End) {
		t.Errorf("RSS %+v: want every figure read from /proc, the peak the highest", res.RSS)
	}
	return res
}

// TestRun runs a few seconds of the default mix against the real binary,
// once on a server the run starts, then twice against a running server,
// whose count the second run must carry over from the first.
func TestRun(t *testing.T) {
	bin := testbin.Build(t)
	t.Run("started", func(t *testing.T) {
		cfg := shortConfig(t)
		cfg.Binary = bin
		res := mustPass(t, cfg)
		if !res.Started || res.CountBefore != 0 {
			t.Errorf("started %v with %d events before: want a fresh server", res.Started, res.CountBefore)
		}
	})
	t.Run("running", func(t *testing.T) {
		srv, err := proc.Start(t.Context(), bin, "sqlite:"+filepath.Join(t.TempDir(), "tally.db"), "", filepath.Join(t.TempDir(), "serve.log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := srv.Stop(); err != nil {
				t.Error(err)
			}
		})
		cfg := shortConfig(t)
		cfg.URL, cfg.Pid = srv.URL, srv.Pid()
		first := mustPass(t, cfg)
		cfg.Seed++
		second := mustPass(t, cfg)
		if second.Started || second.CountBefore != first.CountAfter {
			t.Errorf("second run: started %v, %d events before, want the first run's %d", second.Started, second.CountBefore, first.CountAfter)
		}
	})
}

// TestRunRefuses checks configurations refused before anything starts (the
// binary does not exist, so a run that went on would fail differently).
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*load.Config)
		want   string // in the error
	}{
		{"a remote server", func(c *load.Config) { c.URL = "http://192.0.2.1:8080" }, "not on a loopback address"},
		{"a remote name", func(c *load.Config) { c.URL = "http://example.com" }, "not on a loopback address"},
		{"not a URL", func(c *load.Config) { c.URL = "127.0.0.1:8080" }, "not an http:// base URL"},
		{"nothing to run against", func(c *load.Config) { c.Binary = "" }, "neither a server URL nor a tally binary"},
		{"a warm-up as long as the run", func(c *load.Config) { c.Warmup = c.Duration }, "must end before"},
		{"an empty mix", func(c *load.Config) { c.Mix = load.Mix{} }, "every weight is zero"},
		{"no clients", func(c *load.Config) { c.Clients = 0 }, "at least 1"},
		{"a memory factor below 1", func(c *load.Config) { c.RSSFactor = 0.9 }, "memory tolerance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := shortConfig(t)
			cfg.Binary = "/nonexistent/tally"
			tc.change(&cfg)
			res, err := load.Run(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %+v, %v; want an error saying %q", res, err, tc.want)
			}
		})
	}
}
