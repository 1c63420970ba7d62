package main

import (
	"errors"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tallyhq/tally/tools/load"
)

func TestLoadConfig(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	defaults := load.Config{Duration: time.Minute, Warmup: 20 * time.Second, Timeout: 10 * time.Second, Clients: 32,
		Mix: load.DefaultMix, BulkSize: 500, Seed: now.UnixNano(), Now: now, Days: 7, RSSFactor: 1.2, RSSSlack: 16 << 20}
	with := func(f func(*load.Config)) load.Config {
		c := defaults
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want load.Config
	}{
		{name: "defaults", want: defaults},
		{
			name: "a running server",
			args: []string{"--url", "http://127.0.0.1:8080", "--pid", "42", "--duration", "5m", "--clients", "8", "--seed", "3"},
			want: with(func(c *load.Config) {
				c.URL, c.Pid, c.Duration, c.Clients, c.Seed = "http://127.0.0.1:8080", 42, 5*time.Minute, 8, 3
			}),
		},
		{
			name: "mix, bulk and tolerance",
			args: []string{"--mix", "create=1,report=1", "--bulk", "10000", "--rss-factor", "1.5", "--rss-slack", "0"},
			want: with(func(c *load.Config) {
				c.Mix, c.BulkSize, c.RSSFactor, c.RSSSlack = load.Mix{Create: 1, Report: 1}, 10_000, 1.5, 0
			}),
		},
		{
			name: "the API key from the environment",
			env:  map[string]string{"TALLY_API_KEY": "k1"},
			want: with(func(c *load.Config) { c.APIKey = "k1" }),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("load", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			got, err := parseLoadConfig(fs, tc.args, func(k string) string { return tc.env[k] }, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(load.Config{}, "Log")); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--mix", "create=0"},
		{"--mix", "upsert=1"},
		{"--duration", "0s"},
		{"--warmup", "1m"}, // as long as the run
		{"--warmup", "-1s"},
		{"--clients", "0"},
		{"--bulk", "10001"},
		{"--rss-factor", "0.5"},
		{"--rss-slack", "16MB"},
		{"--pid", "42"}, // without --url
		{"extra"},
	} {
		fs := flag.NewFlagSet("load", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if _, err := parseLoadConfig(fs, args, func(string) string { return "" }, time.Now()); !errors.As(err, new(usageError)) {
			t.Errorf("parseLoadConfig(%q): got %v, want a usage error", args, err)
		}
	}
}
