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
		ReportRuns: 50, BaselineRuns: 5, BaselineTime: time.Minute}
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
			}),
		},
		{
			name: "quick with an explicit flag",
			args: []string{"--quick", "--events", "1M", "--report-runs", "50"},
			want: with(func(c *bench.Config) {
				c.Sizes, c.SingleDuration, c.BulkEvents, c.BaselineRuns = []int{1_000_000}, 5*time.Second, 100_000, 3
			}),
		},
		{
			name: "out",
			args: []string{"--quick", "--out", "BENCHMARKS.md"},
			want: with(func(c *bench.Config) {
				c.Sizes, c.SingleDuration, c.BulkEvents, c.ReportRuns, c.BaselineRuns = []int{100_000}, 5*time.Second, 100_000, 20, 3
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
		{"extra"},
	} {
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if _, _, err := parseBenchConfig(fs, args); !errors.As(err, new(usageError)) {
			t.Errorf("parseBenchConfig(%q): got %v, want a usage error", args, err)
		}
	}
}
