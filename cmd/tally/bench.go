package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally/tools/bench"
)

// benchDefaultEnd is the standard data set's end: a fixed day, so that every
// run loads the same events whatever the date.
const benchDefaultEnd = "2026-01-01"

func parseBenchConfig(fs *flag.FlagSet, args []string) (cfg bench.Config, out string, err error) {
	var sizes, end, store string
	var quick bool
	fs.StringVar(&sizes, "events", "1M,10M", "comma-separated data set `sizes` in events (k and M suffixes allowed; e.g. 1M,10M,30M)")
	fs.IntVar(&cfg.Days, "days", 90, "`days` each data set spans; each size is rounded down to a multiple")
	fs.Int64Var(&cfg.Seed, "seed", 1, "the generator's `seed`")
	fs.StringVar(&end, "end", benchDefaultEnd, "first UTC `date` after the data sets' days")
	fs.DurationVar(&cfg.SingleDuration, "single-duration", 20*time.Second, "how long POST /event is measured on each server")
	fs.IntVar(&cfg.SingleClients, "single-clients", 64, "concurrent keep-alive POST /event `clients`")
	fs.IntVar(&cfg.BulkEvents, "bulk-events", 500_000, "`events` sent to measure POST /events on each server")
	fs.IntVar(&cfg.Batch, "batch", 10_000, "`events` per POST /events, for the load and the bulk measurement (1,000 with --store mongodb)")
	fs.IntVar(&cfg.Posters, "posters", 4, "concurrent POST /events `callers` (2 with --store mongodb)")
	fs.IntVar(&cfg.ReportRuns, "report-runs", 50, "timed `runs` of each standard report")
	fs.IntVar(&cfg.BaselineRuns, "baseline-runs", 5, "timed `runs` of each report's naive raw scan (slow at 10M events, so fewer)")
	fs.DurationVar(&cfg.BaselineTime, "baseline-time", time.Minute, "no more raw-scan runs of a report once they took this long (at least one runs); 0: no limit")
	fs.StringVar(&store, "store", "sqlite", "`store` to measure: sqlite (a file of each size's own), mongodb (a FerretDB the bench builds from\n"+
		"this clone's tools/ferretdb and starts), or a mongodb:// URI (a database of each size's own, dropped after);\n"+
		"a MongoDB store runs two instances on one database")
	fs.IntVar(&cfg.StalenessSamples, "staleness-samples", 200, "MongoDB: `events` timed from their 201 on one instance until the other counts them")
	fs.StringVar(&cfg.Sync, "sync", "", "serve --sync `mode` for the SQLite servers (default: serve's own default)")
	fs.StringVar(&cfg.Dir, "dir", "", "parent `folder` of the temporary databases (default: the system's temporary folder)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary databases and server logs")
	fs.StringVar(&out, "out", "", "Markdown `file` to append the results to, e.g. BENCHMARKS.md (default: print only)")
	fs.BoolVar(&quick, "quick", false, "a smoke run of about a minute: 100k events, 5s of POST /event, 100k bulk events, 20 report runs, 3 baseline runs, 50 staleness samples;\n"+
		"with --store mongodb 5k events, 5 report runs, 1 baseline run, 20 staleness samples (flags given explicitly win)")
	if err := parseFlags(fs, args); err != nil {
		return cfg, "", err
	}

	if quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["events"] {
			sizes = "100k"
		}
		if !set["single-duration"] {
			cfg.SingleDuration = 5 * time.Second
		}
		if !set["bulk-events"] {
			cfg.BulkEvents = 100_000
		}
		if !set["report-runs"] {
			cfg.ReportRuns = 20
		}
		if !set["baseline-runs"] {
			cfg.BaselineRuns = 3
		}
		if !set["staleness-samples"] {
			cfg.StalenessSamples = 50
		}
		if store == bench.StoreFerretDB {
			// FerretDB reads about an event a millisecond and slows down as
			// it grows (BENCHMARKS.md): 100k events would not load.
			if !set["events"] {
				sizes = "5k"
			}
			if !set["report-runs"] {
				cfg.ReportRuns = 5
			}
			if !set["baseline-runs"] {
				cfg.BaselineRuns = 1
			}
			if !set["staleness-samples"] {
				cfg.StalenessSamples = 20
			}
		}
	}

	if store == bench.StoreFerretDB {
		// FerretDB writes a journal entry of thousands of events slowly
		// enough (seconds on a busy 2-core machine) that a 10,000-event
		// request of each of 4 posters outlasts the write deadline.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["batch"] {
			cfg.Batch = 1000
		}
		if !set["posters"] {
			cfg.Posters = 2
		}
	}

	var errs []error
	for s := range strings.SplitSeq(sizes, ",") {
		n, err := parseCount(strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("--events: %w", err))
			continue
		}
		cfg.Sizes = append(cfg.Sizes, n)
	}
	t, err := time.Parse(time.DateOnly, end)
	if err != nil {
		errs = append(errs, fmt.Errorf("--end: %q is not a YYYY-MM-DD date", end))
	}
	cfg.End = t
	switch {
	case store == "sqlite":
	case bench.IsMongo(store):
		cfg.Store = store
		if cfg.Sync != "" {
			errs = append(errs, errors.New("--sync: SQLite only; on MongoDB the URI's write concern decides"))
		}
	default:
		errs = append(errs, fmt.Errorf("--store: %q is not sqlite, mongodb or a mongodb:// URI", store))
	}
	positive := map[string]int{"days": cfg.Days, "single-clients": cfg.SingleClients, "bulk-events": cfg.BulkEvents,
		"posters": cfg.Posters, "report-runs": cfg.ReportRuns, "baseline-runs": cfg.BaselineRuns, "staleness-samples": cfg.StalenessSamples}
	for _, name := range []string{"days", "single-clients", "bulk-events", "posters", "report-runs", "baseline-runs", "staleness-samples"} {
		if positive[name] < 1 {
			errs = append(errs, fmt.Errorf("--%s: must be at least 1", name))
		}
	}
	if cfg.Batch < 1 || cfg.Batch > maxBatch {
		errs = append(errs, fmt.Errorf("--batch: must be between 1 and %d", maxBatch))
	}
	if cfg.BaselineTime < 0 {
		errs = append(errs, errors.New("--baseline-time: must not be negative"))
	}
	if cfg.SingleDuration <= 0 {
		errs = append(errs, errors.New("--single-duration: must be positive"))
	}
	if cfg.Sync != "" && cfg.Sync != "full" && cfg.Sync != "normal" {
		errs = append(errs, fmt.Errorf("--sync: %q is not full or normal", cfg.Sync))
	}
	for _, n := range cfg.Sizes {
		if n < cfg.Days {
			errs = append(errs, fmt.Errorf("--events: %d is fewer than one event a day", n))
		}
	}
	if len(errs) > 0 {
		return cfg, "", usageError{errors.Join(errs...)}
	}
	return cfg, out, nil
}

// parseCount reads a count such as 2000, 100k or 10M.
func parseCount(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1_000, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1_000_000, s[:len(s)-1]
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a positive count", s)
	}
	return n * mult, nil
}

func (c *cli) bench(ctx context.Context, args []string) error {
	fs := c.newFlagSet("bench", "Run the reproducible benchmark (BENCHMARKS.md): this binary's server over each data set\n"+
		"size and over the discard store, and print one Markdown table (--out also appends it to a file).\n"+
		"It uses both cores for minutes: the default 1M and 10M sizes take about 20 minutes; a 30M size\n"+
		"adds roughly a quarter of an hour. --store mongodb (a FerretDB it starts) or --store mongodb://… measures\n"+
		"two instances on one MongoDB database instead; there, pick sizes the server loads in minutes.")
	cfg, out, err := parseBenchConfig(fs, args)
	if err != nil {
		return helpOK(err)
	}
	if cfg.Binary, err = os.Executable(); err != nil {
		return fmt.Errorf("bench: finding this binary: %w", err)
	}
	cfg.Log = c.stderr
	// Before the run: the commit is the code that was built, not whatever
	// the tree holds when the run ends.
	machine := bench.DescribeMachine()
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	if err := bench.WriteMarkdown(&md, res, machine, benchCommand(args)); err != nil {
		return err
	}
	if _, err := c.stdout.Write(md.Bytes()); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	_, werr := f.Write(append([]byte("\n"), md.Bytes()...))
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("bench: appending to %s: %w", out, err)
	}
	fmt.Fprintf(c.stderr, "appended to %s\n", out)
	return nil
}

// benchCommand is the command line as the table records it, with the
// credentials and options of a MongoDB URI left out.
func benchCommand(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		name, uri, ok := strings.Cut(a, "=")
		switch {
		case bench.IsMongo(a) && a != bench.StoreFerretDB:
			out[i] = bench.RedactURI(a)
		case ok && strings.HasPrefix(name, "-") && bench.IsMongo(uri) && uri != bench.StoreFerretDB:
			out[i] = name + "=" + bench.RedactURI(uri)
		default:
			out[i] = a
		}
	}
	return strings.TrimSpace("tally bench " + strings.Join(out, " "))
}
