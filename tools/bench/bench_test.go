package bench_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/testbin"
	"github.com/tallyhq/tally/tools/bench"
)

// TestRunTiny runs the whole harness on a tiny data set against the real
// binary: servers start, restart after a kill -9 and stop, the load and the
// ingestion measurements (on an empty and on the loaded store) are
// accepted, and every report, Q7–Q11 in other zones and by hour included,
// agrees with the raw scan (Run fails otherwise). The figures themselves are not checked: machines are shared.
func TestRunTiny(t *testing.T) {
	cfg := bench.Config{
		Binary:         testbin.Build(t),
		Sizes:          []int{2000},
		Days:           90,
		Seed:           7,
		End:            time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		SingleDuration: time.Second,
		SingleClients:  8,
		BulkEvents:     3000,
		Batch:          1000,
		Posters:        2,
		ReportRuns:     2,
		BaselineRuns:   1,
		Dir:            t.TempDir(),
	}
	var log bytes.Buffer
	cfg.Log = &log
	res, err := bench.Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	if len(res.Sizes) != 1 {
		t.Fatalf("%d sizes measured, want 1", len(res.Sizes))
	}
	s := res.Sizes[0]
	if s.Events != 1980 { // 2000 rounded down to 22 a day
		t.Errorf("loaded %d events, want 1980", s.Events)
	}
	for name, in := range map[string]bench.Ingest{"ceiling": res.Ceiling, "sqlite": s.Ingest} {
		if in.SingleEvents == 0 || in.Single.N != in.SingleEvents || in.BulkEvents != 3000 || in.BulkTime <= 0 {
			t.Errorf("%s ingestion = %+v, want single events with one latency each and 3000 bulk events", name, in)
		}
	}
	if s.Empty.BulkEvents != 3000 || s.Empty.BulkTime <= 0 {
		t.Errorf("empty store ingestion = %+v, want 3000 bulk events", s.Empty)
	}
	if s.Restart <= 0 {
		t.Errorf("restart took %v", s.Restart)
	}
	if len(s.Reports) != 11 {
		t.Fatalf("%d reports, want 11", len(s.Reports))
	}
	for _, r := range s.Reports {
		if r.Tally.N != 2 || r.Baseline.N != 1 || r.Total == 0 || r.Rows == 0 || r.First <= 0 {
			t.Errorf("%s = %+v, want a first answer, 2 timed runs, 1 baseline run and rows", r.Query.Name, r)
		}
	}
	if s.DiskBytes == 0 {
		t.Error("no bytes on disk")
	}
	if runtime.GOOS == "linux" && (s.PeakRSS == 0 || res.CeilingRSS == 0) {
		t.Errorf("peak RSS %d, ceiling %d: want both read from /proc", s.PeakRSS, res.CeilingRSS)
	}

	var md bytes.Buffer
	if err := bench.WriteMarkdown(&md, res, bench.DescribeMachine(), "tally bench"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 1,980 events |", "| restart after kill -9", "| POST /events into an empty store",
		"| Q6 p50 / p99", "| Q11 p50 / p99", "| Q11 first answer", "| Q11 raw scan", "Targets: "} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, md.String())
		}
	}
}
