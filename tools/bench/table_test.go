package bench_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/tools/bench"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// sampleResult is a two-size run whose figures hit and miss targets.
func sampleResult() *bench.Result {
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := bench.Config{Sizes: []int{1_000_000, 10_000_000}, Days: 90, Seed: 1, End: end,
		SingleDuration: 20 * time.Second, SingleClients: 64, BulkEvents: 500_000, Batch: 10_000, Posters: 4,
		ReportRuns: 50, BaselineRuns: 5, BaselineTime: time.Minute}
	reports := func(p50 time.Duration, scan time.Duration) []bench.ReportResult {
		var out []bench.ReportResult
		for i, q := range bench.StandardQueries(end) {
			out = append(out, bench.ReportResult{Query: q, Rows: 100, Total: 1000,
				First: 40 * p50 * time.Duration(i+1), Refused: i / 10,
				Tally:    bench.Latencies{N: 50, P50: p50 * time.Duration(i+1), P99: 2 * p50 * time.Duration(i+1)},
				Baseline: bench.Latencies{N: 5, P50: scan, P99: scan}})
		}
		return out
	}
	return &bench.Result{
		Config:     cfg,
		Ceiling:    bench.Ingest{SingleEvents: 400_000, SingleTime: 20 * time.Second, Single: bench.Latencies{N: 400_000, P50: ms(3), P99: ms(9)}, BulkEvents: 500_000, BulkTime: 2 * time.Second},
		CeilingRSS: 30 << 20,
		Sizes: []bench.SizeResult{
			{Events: 999_990, LoadTime: 8 * time.Second, PeakRSS: 120 << 20, DiskBytes: 120_000_000, Restart: 1200 * time.Millisecond,
				Empty:   bench.Ingest{BulkEvents: 500_000, BulkTime: 4500 * time.Millisecond},
				Ingest:  bench.Ingest{SingleEvents: 250_000, SingleTime: 20 * time.Second, Single: bench.Latencies{N: 250_000, P50: ms(5), P99: ms(15)}, BulkEvents: 500_000, BulkTime: 4 * time.Second},
				Reports: reports(time.Millisecond, 1500*time.Millisecond)},
			{Events: 9_999_990, LoadTime: 120 * time.Second, PeakRSS: 320 << 20, DiskBytes: 1_200_000_000, Restart: 3500 * time.Millisecond,
				Empty:   bench.Ingest{BulkEvents: 500_000, BulkTime: 4 * time.Second},
				Ingest:  bench.Ingest{SingleEvents: 150_000, SingleTime: 20 * time.Second, Single: bench.Latencies{N: 150_000, P50: ms(8), P99: ms(40)}, BulkEvents: 500_000, BulkTime: 6 * time.Second},
				Reports: reports(3*time.Millisecond, 200*time.Millisecond)},
		},
		Started: time.Date(2026, 11, 28, 4, 0, 0, 0, time.UTC),
		Elapsed: 19*time.Minute + 30*time.Second,
	}
}

func TestWriteMarkdown(t *testing.T) {
	m := bench.Machine{CPUs: 2, CPUModel: "Test CPU", Memory: "4.0 GiB", GoVersion: "go1.26.8", OS: "linux/amd64", Commit: "0123456789ab"}
	var buf bytes.Buffer
	if err := bench.WriteMarkdown(&buf, sampleResult(), m, "tally bench"); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "table.md", buf.Bytes())
}

// The verdict names each missed target, so that a reader of the table does
// not have to find the crosses.
func TestWriteMarkdownVerdict(t *testing.T) {
	var buf bytes.Buffer
	if err := bench.WriteMarkdown(&buf, sampleResult(), bench.Machine{}, "tally bench"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	_, missed, ok := strings.Cut(out, "Missed: ")
	if !ok {
		t.Fatalf("no missed targets listed:\n%s", out)
	}
	for _, want := range []string{
		"bulk ≥ 100,000/s at 10M",                          // 83k/s
		"single ≥ 50% of ceiling at 10M",                   // 7.5k of 20k/s
		"Q2 ≥ 50× raw scan at 10M",                         // 33×
		"peak RSS ≤ 300 MiB at 10M",                        // 320 MiB
		"Q1 p50 at 10M ≤ 2× at 1M",                         // 3× the 1M p50
		"Q11 p50 at 10M ≤ 2× at 1M",                        // 3× the 1M p50
		"restart ≤ 3 s at 10M",                             // 3.5 s
		"bulk into the loaded store ≥ 80% of empty at 10M", // 67%
	} {
		if !strings.Contains(missed, want) {
			t.Errorf("missed targets lack %q: %s", want, missed)
		}
	}
	for _, met := range []string{
		"ceiling at 1M",            // 62%
		"100,000/s at 1M",          // 125k/s
		"Q6 p50 ≤ 25 ms",           // 18 ms
		"Q1 ≥ 50× raw scan at 10M", // 67×
		"restart ≤ 3 s at 1M",      // 1.2 s
		"of empty at 1M",           // 111%
	} {
		if strings.Contains(missed, met) {
			t.Errorf("missed targets list %q, which is met: %s", met, missed)
		}
	}
	if !strings.Contains(out, "Targets: ") {
		t.Errorf("no verdict line:\n%s", out)
	}
}

// sampleMongoResult is a one-size MongoDB run whose Q7–Q11 miss the report
// target on one instance (Q7 on B) or both (Q8–Q11).
func sampleMongoResult() *bench.Result {
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := bench.Config{Store: "mongodb://h1/?replicaSet=rs0", Sizes: []int{10_000}, Days: 90, Seed: 1, End: end,
		Batch: 1000, Posters: 2, ReportRuns: 20, BaselineRuns: 3, BaselineTime: time.Minute, StalenessSamples: 200}
	var reports []bench.MongoReportResult
	for i, q := range bench.StandardQueries(end) {
		p50 := time.Duration(i+1) * 2 * time.Millisecond
		if i >= 6 {
			p50 = time.Duration(i) * 4 * time.Millisecond // 24 ms for Q7, 40 ms for Q11
		}
		reports = append(reports, bench.MongoReportResult{Query: q, Rows: 10, Total: 10,
			A:        bench.InstanceReport{First: 3 * p50, Tally: bench.Latencies{N: 20, P50: p50, P99: 2 * p50, Max: 2 * p50}},
			B:        bench.InstanceReport{First: 4 * p50, Refused: i / 10, Tally: bench.Latencies{N: 20, P50: p50 + ms(2), P99: 3 * p50, Max: 3 * p50}},
			Baseline: bench.Latencies{N: 3, P50: 5 * time.Second, P99: 6 * time.Second, Max: 6 * time.Second}})
	}
	return &bench.Result{
		Config: cfg,
		Store:  "MongoDB 8.0.4, replica set rs0, at mongodb://h1",
		Mongo: []bench.MongoSizeResult{{Events: 9990,
			OneEvents: 4995, OneTime: 10 * time.Second, OneBatches: 6, OneRetries: 0,
			TwoEvents: 4995, TwoTime: 5 * time.Second, TwoBatches: 8, TwoRetries: 3,
			CatchUp:   120 * time.Millisecond,
			Staleness: bench.Latencies{N: 200, P50: ms(104), P99: ms(180), Max: ms(230)},
			Reports:   reports, Restart: 1500 * time.Millisecond, PeakRSS: [2]int64{60 << 20, 55 << 20},
			Notes: []string{"instance B on SIGTERM at the end: server did not stop within 30s"}}},
		Started: time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC),
		Elapsed: 4*time.Minute + 10*time.Second,
	}
}

func TestWriteMarkdownMongo(t *testing.T) {
	m := bench.Machine{CPUs: 2, CPUModel: "Test CPU", Memory: "4.0 GiB", GoVersion: "go1.26.8", OS: "linux/amd64", Commit: "0123456789ab"}
	var buf bytes.Buffer
	if err := bench.WriteMarkdown(&buf, sampleMongoResult(), m, "tally bench --store mongodb://h1"); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "table-mongo.md", buf.Bytes())
}

// checkGolden compares got with testdata/name, which -update rewrites.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}
