package main

import (
	"errors"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tallyhq/tally/tools/bench"
)

func TestBenchConfig(t *testing.T) {
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	defaults := bench.Config{Sizes: []int{1_000_000, 10_000_000}, Days: 90, Seed: 1, End: end,
		SingleDuration: 20 * time.Second, SingleClients: 64, BulkEvents: 500_000, Batch: 10_000, Posters: 4,
		ReportRuns: 50, BaselineRuns: 5, BaselineTime: time.Minute, StalenessSamples: 200}
	with := func(f func(*bench.Config)) bench.Config {
		c := defaults
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name    string
		args    []string
		want    bench.Config
		wantOut string
	}{
		{name: "defaults", want: defaults}, // printed only: BENCHMARKS.md is tracked
		{
			name: "sizes and runs",
			args: []string{"--events", "2000, 100k,2M", "--report-runs", "3", "--baseline-runs", "1", "--out", "", "--sync", "normal"},
			want: with(func(c *bench.Config) {
				c.Sizes, c.ReportRuns, c.BaselineRuns, c.Sync = []int{2000, 100_000, 2_000_000}, 3, 1, "normal"
			}),
		},
		{
			name: "with 30M",
			args: []string{"--events", "1M,10M,30M"},
			want: with(func(c *bench.Config) {
				c.Sizes = []int{1_000_000, 10_000_000, 30_000_000}
			}),
			wantOut: "",
		},
		{
			name: "quick",
			args: []string{"--quick"},
			want: with(func(c *bench.Config) {
				c.Sizes, c.SingleDuration, c.BulkEvents, c.ReportRuns, c.BaselineRuns = []int{100_000}, 5*time.Second, 100_000, 20, 3
				c.StalenessSamples = 50
			}),
		},
		{
			name: "quick with an explicit flag",
			args: []string{"--quick", "--events", "1M", "--report-runs", "50"},
			want: with(func(c *bench.Config) {
				c.Sizes, c.SingleDuration, c.BulkEvents, c.BaselineRuns = []int{1_000_000}, 5*time.Second, 100_000, 3
				c.StalenessSamples = 50
			}),
		},
		{
			name: "FerretDB started by the bench",
			args: []string{"--store", "mongodb", "--events", "100k", "--staleness-samples", "20"},
			want: with(func(c *bench.Config) {
				c.Store, c.Sizes, c.StalenessSamples, c.Batch, c.Posters = "mongodb", []int{100_000}, 20, 1000, 2
			}),
		},
		{
			name: "FerretDB with batches given",
			args: []string{"--store", "mongodb", "--batch", "500", "--posters", "4"},
			want: with(func(c *bench.Config) { c.Store, c.Batch, c.Posters = "mongodb", 500, 4 }),
		},
		{
			name: "quick on FerretDB",
			args: []string{"--store", "mongodb", "--quick", "--report-runs", "7"},
			want: with(func(c *bench.Config) {
				c.Store, c.Sizes, c.SingleDuration, c.BulkEvents, c.ReportRuns, c.BaselineRuns = "mongodb", []int{5000}, 5*time.Second, 100_000, 7, 1
				c.StalenessSamples, c.Batch, c.Posters = 20, 1000, 2
			}),
		},
		{
			name: "a MongoDB URI",
			args: []string{"--store", "mongodb://u:p@h1,h2/?replicaSet=rs0"},
			want: with(func(c *bench.Config) { c.Store = "mongodb://u:p@h1,h2/?replicaSet=rs0" }),
		},
		{
			name: "out",
			args: []string{"--quick", "--out", "BENCHMARKS.md"},
			want: with(func(c *bench.Config) {
				c.Sizes, c.SingleDuration, c.BulkEvents, c.ReportRuns, c.BaselineRuns = []int{100_000}, 5*time.Second, 100_000, 20, 3
				c.StalenessSamples = 50
			}),
			wantOut: "BENCHMARKS.md",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("bench", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			got, out, err := parseBenchConfig(fs, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(bench.Config{}, "Log")); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if out != tc.wantOut {
				t.Errorf("out = %q, want %q", out, tc.wantOut)
			}
		})
	}
}

func TestBenchConfigErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--events", "0"},
		{"--events", "1M,x"},
		{"--events", "50"}, // fewer than one a day
		{"--batch", "10001"},
		{"--report-runs", "0"},
		{"--single-duration", "0s"},
		{"--baseline-time", "-1s"},
		{"--end", "2026-13-01"},
		{"--sync", "off"},
		{"--store", "postgres://h/db"},
		{"--store", "mongodb", "--sync", "full"},
		{"--store", "mongodb", "--staleness-samples", "0"},
		{"extra"},
	} {
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if _, _, err := parseBenchConfig(fs, args); !errors.As(err, new(usageError)) {
			t.Errorf("parseBenchConfig(%q): got %v, want a usage error", args, err)
		}
	}
}

// The table records the command line: a MongoDB URI in it must lose its
// credentials.
func TestBenchCommandRedacted(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "tally bench"},
		{[]string{"--store", "mongodb", "--quick"}, "tally bench --store mongodb --quick"},
		{[]string{"--store", "mongodb://tally:s3cret@h1:27017,h2/tally?authSource=admin&replicaSet=rs0"},
			"tally bench --store mongodb://h1:27017,h2/tally"},
		{[]string{"--store=mongodb+srv://tally:s3cret@cluster0.example.net/?retryWrites=true"},
			"tally bench --store=mongodb+srv://cluster0.example.net"},
	} {
		if got := benchCommand(tc.args); got != tc.want {
			t.Errorf("benchCommand(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
