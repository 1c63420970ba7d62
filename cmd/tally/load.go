package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tallyhq/tally/tools/load"
)

// parseLoadConfig reads load's flags. now seeds the events' days and, when
// --seed is 0, the seed, so that runs against one store do not repeat ids.
func parseLoadConfig(fs *flag.FlagSet, args []string, getenv func(string) string, now time.Time) (load.Config, error) {
	cfg := load.Config{Now: now}
	var mix, slack string
	fs.StringVar(&cfg.URL, "url", "", "base `URL` of a running server on this machine (default: start this binary's server on a temporary SQLite store)")
	fs.IntVar(&cfg.Pid, "pid", 0, "process `id` of the --url server, to sample its memory from /proc (default: memory unmeasured)")
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "how long traffic is sent")
	fs.DurationVar(&cfg.Warmup, "warmup", 20*time.Second, "when the \"after warm-up\" memory is read, from the start of the traffic")
	fs.IntVar(&cfg.Clients, "clients", 32, "concurrent keep-alive `clients`")
	fs.StringVar(&mix, "mix", load.DefaultMix.String(), "`weights` of the operations: create (POST /event), bulk (POST /events), delete, report, get (GET /event/{id})")
	fs.IntVar(&cfg.BulkSize, "bulk", 500, "`events` per POST /events")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "bound on each request")
	envFlag(fs, getenv, &cfg.APIKey, "api-key", "TALLY_API_KEY", "", "API `key` sent as a bearer token, for a server with API keys")
	fs.Int64Var(&cfg.Seed, "seed", 0, "seed of the events; 0: from the clock, so that repeated runs against one store create new ids")
	fs.IntVar(&cfg.Days, "days", 7, "the events fall on this many UTC `days` before today (see README: Load and soak)")
	fs.Float64Var(&cfg.RSSFactor, "rss-factor", 1.2, "memory is flat when the end's RSS ≤ the RSS after warm-up × this `factor` + --rss-slack")
	fs.StringVar(&slack, "rss-slack", "16MiB", "the `size` added to the memory bound (0 for none)")
	fs.StringVar(&cfg.Dir, "dir", "", "parent `folder` of the temporary store (default: the system's temporary folder)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary store and the server's log")
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}

	var errs []error
	m, err := load.ParseMix(mix)
	if err != nil {
		errs = append(errs, fmt.Errorf("--mix: %w", err))
	}
	cfg.Mix = m
	if slack != "0" {
		if cfg.RSSSlack, err = parseSize(slack); err != nil {
			errs = append(errs, fmt.Errorf("--rss-slack: %w", err))
		}
	}
	if cfg.Seed == 0 {
		cfg.Seed = now.UnixNano()
	}
	if cfg.Duration <= 0 || cfg.Timeout <= 0 {
		errs = append(errs, errors.New("--duration and --timeout must be positive"))
	}
	if cfg.Warmup < 0 || cfg.Warmup >= cfg.Duration {
		errs = append(errs, fmt.Errorf("--warmup: %v must be at least 0 and shorter than --duration %v", cfg.Warmup, cfg.Duration))
	}
	if cfg.Clients < 1 || cfg.BulkSize < 1 || cfg.BulkSize > maxBatch || cfg.Days < 1 {
		errs = append(errs, fmt.Errorf("--clients and --days must be at least 1, --bulk between 1 and %d", maxBatch))
	}
	if cfg.RSSFactor < 1 {
		errs = append(errs, errors.New("--rss-factor: must be at least 1"))
	}
	if cfg.URL == "" && cfg.Pid != 0 {
		errs = append(errs, errors.New("--pid: only with --url (a server the run starts is measured anyway)"))
	}
	if len(errs) > 0 {
		return cfg, usageError{errors.Join(errs...)}
	}
	return cfg, nil
}

// errVerdict is a load run that completed and failed its verdict.
var errVerdict = errors.New("load: the verdict failed")

func (c *cli) load(ctx context.Context, args []string) error {
	fs := c.newFlagSet("load", "Send mixed traffic (creates, bulk creates, deletes, reports, reads) from concurrent\n"+
		"keep-alive clients to a server on this machine, print throughput, latency, errors and\n"+
		"the server's memory, and exit 1 unless the verdict passes: no 5xx, no other error,\n"+
		"a report's count equal to the writes acknowledged, memory flat after the warm-up.\n"+
		"Without --url it starts this binary's server on a temporary SQLite store.")
	cfg, err := parseLoadConfig(fs, args, c.getenv, c.now())
	if err != nil {
		return helpOK(err)
	}
	if cfg.URL == "" {
		if cfg.Binary, err = os.Executable(); err != nil {
			return fmt.Errorf("load: finding this binary: %w", err)
		}
	}
	cfg.Log = c.stderr
	res, err := load.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := load.WriteTable(c.stdout, res); err != nil {
		return err
	}
	if !res.Verdict().OK() {
		return errVerdict
	}
	return nil
}
