package bench_test

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/testbin"
	"github.com/tallyhq/tally/tools/bench"
)

// TestRunTinyMongo runs the MongoDB path of the harness on a tiny data set:
// two instances on one database of the FerretDB the bench starts (or of
// TALLY_TEST_MONGODB_URI), loaded through one and then both, every report
// answered alike by both instances and by the raw scan of the events
// collection (Run fails otherwise), the staleness samples taken and B
// restarted after a kill -9 and counting every event. The figures are not
// checked: machines are shared.
func TestRunTinyMongo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB and three servers, and scans its events 30 times: half a minute to minutes on a shared machine")
	}
	store := os.Getenv("TALLY_TEST_MONGODB_URI")
	if store == "" {
		store = bench.StoreFerretDB
	}
	cfg := bench.Config{
		Binary:           testbin.Build(t),
		Store:            store,
		Sizes:            []int{2000},
		Days:             90,
		Seed:             7,
		End:              time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		SingleDuration:   time.Second,
		SingleClients:    8,
		BulkEvents:       3000,
		Batch:            250,
		Posters:          2,
		ReportRuns:       1,
		BaselineRuns:     1,
		StalenessSamples: 3,
		Dir:              t.TempDir(),
	}
	var log bytes.Buffer
	cfg.Log = &log
	res, err := bench.Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	if len(res.Mongo) != 1 || len(res.Sizes) != 0 {
		t.Fatalf("%d MongoDB sizes and %d SQLite sizes measured, want 1 and 0", len(res.Mongo), len(res.Sizes))
	}
	s := res.Mongo[0]
	if s.Events != 1980 || s.OneEvents != 990 || s.TwoEvents != 990 {
		t.Errorf("loaded %d events, %d through A and %d through both, want 1980, 990 and 990", s.Events, s.OneEvents, s.TwoEvents)
	}
	if s.OneTime <= 0 || s.TwoTime <= 0 || s.OneBatches < 1 || s.TwoBatches < 1 {
		t.Errorf("load = %+v, want both halves timed and committed in batches", s)
	}
	if s.Staleness.N != 3 {
		t.Errorf("%d staleness samples, want 3", s.Staleness.N)
	}
	if s.Restart <= 0 {
		t.Errorf("restart took %v", s.Restart)
	}
	if len(s.Reports) != 11 {
		t.Fatalf("%d reports, want 11", len(s.Reports))
	}
	for _, r := range s.Reports {
		for name, inst := range map[string]bench.InstanceReport{"A": r.A, "B": r.B} {
			if inst.Tally.N != 1 || inst.First <= 0 {
				t.Errorf("%s on %s = %+v, want a first answer and 1 timed run", r.Query.Name, name, inst)
			}
		}
		if r.Baseline.N != 1 || r.Total == 0 || r.Rows == 0 {
			t.Errorf("%s = %+v, want 1 baseline run and rows", r.Query.Name, r)
		}
	}
	for _, n := range s.Notes {
		t.Logf("note: %s", n) // a product defect to look at, not the harness's
	}
	if runtime.GOOS == "linux" && (s.PeakRSS[0] == 0 || s.PeakRSS[1] == 0) {
		t.Errorf("peak RSS %v: want both read from /proc", s.PeakRSS)
	}

	var md bytes.Buffer
	if err := bench.WriteMarkdown(&md, res, bench.DescribeMachine(), "tally bench --store mongodb"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"on MongoDB", "- Store: ", "| 1,980 events |", "| load through A and B at once",
		"| staleness, 201 on A until B counts it", "| Q11 p50 / p99 on A; on B", "| Q11 first answer on A; on B",
		"| Q11 raw scan", "| restart of B after kill -9", "| peak RSS of A; of B", "Targets: "} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, md.String())
		}
	}
	if testing.Verbose() {
		t.Log(md.String())
	}
}
