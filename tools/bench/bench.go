// Package bench is Tally's reproducible benchmark (tally bench): it runs the
// real server as a child process, loads the generator's standard data sets
// through the HTTP API, and measures ingestion against a no-op store's
// ceiling and the standard reports against a naive raw scan of the same
// file, into one table (see BENCHMARKS.md).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tallyhq/tally/tools/gen"
	"github.com/tallyhq/tally/tools/proc"
)

// Config is one benchmark run.
type Config struct {
	Binary         string        // the tally executable, run as `serve`
	Sizes          []int         // data set sizes in events (each rounded down to a multiple of Days)
	Days           int           // days the data sets span
	Seed           int64         // the generator's seed
	End            time.Time     // 00:00 UTC of the day after the data sets' last day
	SingleDuration time.Duration // how long POST /event is measured
	SingleClients  int           // concurrent keep-alive POST /event callers
	BulkEvents     int           // events sent to measure POST /events
	Batch          int           // events per POST /events
	Posters        int           // concurrent POST /events callers
	ReportRuns     int           // timed runs of each report
	BaselineRuns   int           // timed runs of each report's raw scan
	BaselineTime   time.Duration // no more raw-scan runs of a report once they took this long; 0: no limit
	Sync           string        // serve --sync; empty: the server's default
	// Store is where the data sets go: empty for SQLite (a file of each
	// size's own), StoreFerretDB for a FerretDB the bench starts, or a
	// mongodb:// or mongodb+srv:// URI, whose server gets a database of
	// each size's own, dropped after it. A MongoDB store runs two
	// instances on that database (see runMongoSize).
	Store string
	// StalenessSamples is how many events are timed from their 201 on
	// one instance until the other counts them (MongoDB only).
	StalenessSamples int
	Dir              string    // parent of the temporary folder; empty: the system's
	Keep             bool      // keep the temporary folder (databases, logs)
	Log              io.Writer // progress lines; nil discards
}

// Result is what a run measured.
type Result struct {
	Config Config
	// Store names the MongoDB deployment of a MongoDB run (no
	// credentials); empty for SQLite.
	Store   string
	Mongo   []MongoSizeResult // a MongoDB run's sizes, instead of Ceiling and Sizes
	Ceiling Ingest            // the same ingestion on the discard store
	// CeilingRSS is the discard server's peak resident set, bytes.
	CeilingRSS int64
	Sizes      []SizeResult
	Started    time.Time
	Elapsed    time.Duration
}

// SizeResult is what one data set measured.
type SizeResult struct {
	Events   int // loaded
	LoadTime time.Duration
	// Restart is the time from starting the server again on the loaded
	// file, after a kill -9, until GET /readyz answers 200.
	Restart time.Duration
	// Empty is the bulk measurement (only the Bulk fields) on an empty
	// store, for comparison with Ingest's, on the loaded one.
	Empty     Ingest
	Ingest    Ingest // on the loaded store, after the reports
	Reports   []ReportResult
	PeakRSS   int64 // bytes: the highest of both server processes over their lives
	DiskBytes int64 // database and WAL files after the load
}

// LoadedShare is the bulk rate into the loaded store over the rate into an
// empty one.
func (s SizeResult) LoadedShare() float64 {
	if s.Empty.BulkRate() == 0 {
		return 0
	}
	return s.Ingest.BulkRate() / s.Empty.BulkRate()
}

// LoadRate is the data set's load speed in events per second.
func (s SizeResult) LoadRate() float64 { return rate(s.Events, s.LoadTime) }

// BytesPerEvent is the disk used per loaded event.
func (s SizeResult) BytesPerEvent() float64 {
	if s.Events == 0 {
		return 0
	}
	return float64(s.DiskBytes) / float64(s.Events)
}

// Seeds of the event streams beyond the data set, offset from Config.Seed
// so that every stream has ids of its own.
const (
	singleSeed    = 1_000_003
	bulkSeed      = 2_000_003
	stalenessSeed = 3_000_003
)

func (c *Config) check() error {
	var errs []error
	if c.Binary == "" {
		errs = append(errs, errors.New("no tally binary"))
	}
	if c.Days < 1 {
		errs = append(errs, errors.New("days must be at least 1"))
	}
	for _, n := range c.Sizes {
		if n < c.Days {
			errs = append(errs, fmt.Errorf("size %d is below one event a day", n))
		}
	}
	if c.SingleDuration <= 0 || c.SingleClients < 1 || c.BulkEvents < 1 || c.Batch < 1 || c.Posters < 1 ||
		c.ReportRuns < 1 || c.BaselineRuns < 1 {
		errs = append(errs, errors.New("durations, counts and runs must be positive"))
	}
	if c.Store != "" && !IsMongo(c.Store) {
		errs = append(errs, fmt.Errorf("store %q is neither empty (SQLite), %q nor a mongodb:// URI", c.Store, StoreFerretDB))
	}
	if IsMongo(c.Store) && c.StalenessSamples < 1 {
		errs = append(errs, errors.New("staleness samples must be positive"))
	}
	if IsMongo(c.Store) && c.Sync != "" {
		errs = append(errs, errors.New("sync is for SQLite: on MongoDB the URI's write concern decides"))
	}
	if c.End.IsZero() || !c.End.Equal(c.End.UTC().Truncate(24*time.Hour)) {
		errs = append(errs, errors.New("end must be a UTC midnight"))
	}
	return errors.Join(errs...)
}

// Run runs the benchmark. It needs the machine to itself to mean much: it
// loads both cores with the server and its clients.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	dir, err := os.MkdirTemp(cfg.Dir, "tally-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		// Keep the logs of a failed run, to see why.
		if cfg.Keep || err != nil {
			logf("kept %s", dir)
			return
		}
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = fmt.Errorf("bench: %w", rerr)
		}
	}()

	res = &Result{Config: cfg, Started: time.Now()}
	if IsMongo(cfg.Store) {
		if err := runMongo(ctx, cfg, res, dir, logf); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		res.Elapsed = time.Since(res.Started)
		return res, nil
	}
	logf("ceiling: the discard store")
	res.Ceiling, res.CeilingRSS, err = runCeiling(ctx, cfg, dir, logf)
	if err != nil {
		return nil, fmt.Errorf("bench: ceiling: %w", err)
	}
	for _, n := range cfg.Sizes {
		logf("size %d", n)
		sr, err := runSize(ctx, cfg, dir, n, logf)
		if err != nil {
			return nil, fmt.Errorf("bench: %d events: %w", n, err)
		}
		res.Sizes = append(res.Sizes, sr)
	}
	res.Elapsed = time.Since(res.Started)
	return res, nil
}

// runMongo measures each size on the MongoDB store cfg names. The ceiling
// and the single and bulk ingestion measurements are left to the SQLite
// run: the load is measured with one and with two instances instead.
func runMongo(ctx context.Context, cfg Config, res *Result, dir string, logf func(string, ...any)) (err error) {
	srv, err := openMongoServer(ctx, cfg.Store, dir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, srv.close()) }()
	res.Store = srv.description
	logf("store: %s", res.Store)
	for _, n := range cfg.Sizes {
		logf("size %d", n)
		mr, err := runMongoSize(ctx, cfg, srv, dir, n, logf)
		if err != nil {
			return fmt.Errorf("%d events: %w", n, err)
		}
		res.Mongo = append(res.Mongo, mr)
	}
	return nil
}

func runCeiling(ctx context.Context, cfg Config, dir string, logf func(string, ...any)) (Ingest, int64, error) {
	srv, err := proc.Start(ctx, cfg.Binary, "discard:", "", filepath.Join(dir, "discard.log"))
	if err != nil {
		return Ingest{}, 0, err
	}
	in, err := measureIngest(ctx, cfg, srv.URL, logf)
	rss := srv.PeakRSS()
	return in, rss, errors.Join(err, srv.Stop())
}

func runSize(ctx context.Context, cfg Config, dir string, n int, logf func(string, ...any)) (sr SizeResult, err error) {
	sdir := filepath.Join(dir, "events-"+strconv.Itoa(n))
	if err := os.Mkdir(sdir, 0o755); err != nil {
		return sr, err
	}
	if sr.Empty, err = measureEmpty(ctx, cfg, sdir, logf); err != nil {
		return sr, fmt.Errorf("empty store: %w", err)
	}

	dbPath := filepath.Join(sdir, "tally.db")
	srv, err := proc.Start(ctx, cfg.Binary, "sqlite:"+dbPath, cfg.Sync, filepath.Join(sdir, "serve.log"))
	if err != nil {
		return sr, err
	}
	var firstPeak int64
	defer func() {
		sr.PeakRSS = firstPeak
		if srv != nil {
			sr.PeakRSS = max(firstPeak, srv.PeakRSS())
			err = errors.Join(err, srv.Stop())
		}
	}()

	g, err := gen.New(gen.Config{Days: cfg.Days, PerDay: n / cfg.Days, Seed: cfg.Seed, Now: cfg.End})
	if err != nil {
		return sr, err
	}
	sr.Events = g.Len()
	logf("loading %d events over %d days in batches of %d, %d posters", sr.Events, cfg.Days, cfg.Batch, cfg.Posters)
	if sr.LoadTime, err = postBatches(ctx, []string{srv.URL}, g, sr.Events, cfg.Batch, cfg.Posters); err != nil {
		return sr, fmt.Errorf("load: %w", err)
	}
	logf("loaded in %v: %.0f events/s", sr.LoadTime.Round(time.Millisecond), sr.LoadRate())
	if sr.DiskBytes, err = diskUsage(dbPath); err != nil {
		return sr, err
	}

	// A crash right after the load, then the rest on the restarted server.
	logf("restart: kill -9 (pid %d), start again on the same file", srv.Pid())
	firstPeak = srv.PeakRSS()
	srv.Kill()
	srv = nil
	t0 := time.Now()
	if srv, err = proc.Start(ctx, cfg.Binary, "sqlite:"+dbPath, cfg.Sync, filepath.Join(sdir, "serve-restarted.log")); err != nil {
		return sr, fmt.Errorf("restart: %w", err)
	}
	if err := srv.WaitReady(ctx, proc.StartTimeout); err != nil {
		return sr, fmt.Errorf("restart: %w", err)
	}
	sr.Restart = time.Since(t0)
	logf("  ready in %v", sr.Restart.Round(time.Millisecond))

	logf("reports: %d runs each, raw-scan baseline up to %d runs or %v each", cfg.ReportRuns, cfg.BaselineRuns, cfg.BaselineTime)
	if sr.Reports, err = measureReports(ctx, srv.URL, dbPath, StandardQueries(g.End()), cfg.ReportRuns, cfg.BaselineRuns, cfg.BaselineTime); err != nil {
		return sr, err
	}
	for _, r := range sr.Reports {
		logf("  %s first %v, p50 %v p99 %v, raw scan p50 %v of %d runs (%.0f×)", r.Query.Name, r.First, r.Tally.P50, r.Tally.P99, r.Baseline.P50, r.Baseline.N, r.Speedup())
	}
	if sr.Ingest, err = measureIngest(ctx, cfg, srv.URL, logf); err != nil {
		return sr, err
	}
	logf("  into the loaded store: %.0f%% of the rate into an empty one", 100*sr.LoadedShare())
	return sr, nil
}

// measureEmpty is the bulk measurement on an empty store of its own, in
// dir: what the same events cost before the store holds anything.
func measureEmpty(ctx context.Context, cfg Config, dir string, logf func(string, ...any)) (in Ingest, err error) {
	srv, err := proc.Start(ctx, cfg.Binary, "sqlite:"+filepath.Join(dir, "empty.db"), cfg.Sync, filepath.Join(dir, "serve-empty.log"))
	if err != nil {
		return in, err
	}
	defer func() { err = errors.Join(err, srv.Stop()) }()
	g, err := bulkEvents(cfg)
	if err != nil {
		return in, err
	}
	in.BulkEvents = cfg.BulkEvents
	logf("POST /events into an empty store: %d events in batches of %d, %d posters", in.BulkEvents, cfg.Batch, cfg.Posters)
	if in.BulkTime, err = postBatches(ctx, []string{srv.URL}, g, in.BulkEvents, cfg.Batch, cfg.Posters); err != nil {
		return in, err
	}
	logf("  %.0f events/s", in.BulkRate())
	return in, nil
}

// bulkEvents returns the bulk measurement's events: the same on every
// store, so the empty and the loaded store take the same work.
func bulkEvents(cfg Config) (*gen.Generator, error) {
	perDay := (cfg.BulkEvents + cfg.Days - 1) / cfg.Days
	return gen.New(gen.Config{Days: cfg.Days, PerDay: perDay, Seed: cfg.Seed + bulkSeed, Now: cfg.End})
}

// measureIngest measures POST /event and POST /events on a running server
// with fresh events of the generator's distributions.
func measureIngest(ctx context.Context, cfg Config, base string, logf func(string, ...any)) (Ingest, error) {
	var in Ingest
	// A generator far larger than any run can use: its events are made as
	// they are sent.
	single, err := gen.New(gen.Config{Days: cfg.Days, PerDay: 1 << 24, Seed: cfg.Seed + singleSeed, Now: cfg.End})
	if err != nil {
		return in, err
	}
	logf("POST /event: %d clients for %v", cfg.SingleClients, cfg.SingleDuration)
	var lat []time.Duration
	if in.SingleEvents, in.SingleTime, lat, err = postSingles(ctx, base, single, cfg.SingleClients, cfg.SingleDuration); err != nil {
		return in, err
	}
	in.Single = Summarize(lat)
	logf("  %.0f events/s, p50 %v, p99 %v", in.SingleRate(), in.Single.P50, in.Single.P99)

	bulk, err := bulkEvents(cfg)
	if err != nil {
		return in, err
	}
	in.BulkEvents = cfg.BulkEvents
	logf("POST /events: %d events in batches of %d, %d posters", in.BulkEvents, cfg.Batch, cfg.Posters)
	if in.BulkTime, err = postBatches(ctx, []string{base}, bulk, in.BulkEvents, cfg.Batch, cfg.Posters); err != nil {
		return in, err
	}
	logf("  %.0f events/s", in.BulkRate())
	return in, nil
}

// diskUsage is the size of the database file and its write-ahead log.
func diskUsage(dbPath string) (int64, error) {
	var total int64
	for _, p := range []string{dbPath, dbPath + "-wal"} {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return 0, err
		default:
			total += fi.Size()
		}
	}
	return total, nil
}
