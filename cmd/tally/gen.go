package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/client"
	"github.com/tallyhq/tally/tools/gen"
)

type genConfig struct {
	Gen         gen.Config
	URL         string // base URL of a server; empty writes NDJSON to stdout
	APIKey      string // sent as a bearer token with URL
	Concurrency int
	Batch       int
}

// maxBatch is the contract's limit on events per POST /events.
const maxBatch = 10_000

func parseGenConfig(fs *flag.FlagSet, args []string, now time.Time, getenv func(string) string) (genConfig, error) {
	var cfg genConfig
	var end string
	fs.IntVar(&cfg.Gen.Days, "days", 30, "number of whole UTC `days` to spread events over")
	fs.IntVar(&cfg.Gen.PerDay, "per-day", 1000, "events per day")
	fs.Int64Var(&cfg.Gen.Seed, "seed", 1, "random seed: the same seed and end give the same events")
	fs.StringVar(&end, "end", "", "first UTC `date` (YYYY-MM-DD) after the generated days (default today)")
	fs.StringVar(&cfg.URL, "url", "", "base `URL` of a running server to POST the events to (default: write NDJSON to stdout)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 16, "concurrent requests with --url")
	fs.IntVar(&cfg.Batch, "batch", 1, "events per request with --url: 1 posts to /event, more posts arrays to /events")
	apiKey := apiKeyFlag(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return genConfig{}, err
	}
	cfg.APIKey = apiKey()

	cfg.Gen.Now = now
	var errs []error
	if end != "" {
		t, err := time.Parse(time.DateOnly, end)
		if err != nil {
			errs = append(errs, fmt.Errorf("--end: %q is not a YYYY-MM-DD date", end))
		}
		cfg.Gen.Now = t
	}
	if cfg.Gen.Days < 0 {
		errs = append(errs, errors.New("--days: must be at least 0"))
	}
	if cfg.Gen.PerDay < 0 {
		errs = append(errs, errors.New("--per-day: must be at least 0"))
	}
	if cfg.Concurrency < 1 {
		errs = append(errs, errors.New("--concurrency: must be at least 1"))
	}
	if cfg.Batch < 1 || cfg.Batch > maxBatch {
		errs = append(errs, fmt.Errorf("--batch: must be between 1 and %d", maxBatch))
	}
	if cfg.URL != "" {
		if _, err := client.New(cfg.URL); err != nil {
			errs = append(errs, fmt.Errorf("--url: %w", err))
		}
	}
	if len(errs) > 0 {
		return genConfig{}, usageError{errors.Join(errs...)}
	}
	return cfg, nil
}

func (c *cli) gen(ctx context.Context, args []string) error {
	fs := c.newFlagSet("gen", "Generate reproducible synthetic events: NDJSON on stdout, or POSTed to a server with --url.")
	cfg, err := parseGenConfig(fs, args, c.now(), c.getenv)
	if err != nil {
		return helpOK(err)
	}
	g, err := gen.New(cfg.Gen)
	if err != nil {
		return usageError{err}
	}
	if cfg.URL == "" {
		return writeNDJSON(ctx, c.stdout, g)
	}
	return c.post(ctx, cfg, g)
}

func writeNDJSON(ctx context.Context, w io.Writer, g *gen.Generator) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var e tally.Event
	var line []byte
	for i := 0; g.Next(&e); i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line = append(e.AppendJSON(line[:0]), '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// postJob is one request's worth of events.
type postJob []tally.Event

// postStats counts what the server answered. Its methods are safe for
// concurrent use.
type postStats struct {
	done atomic.Int64 // events answered, whatever the answer; read by the progress line

	mu         sync.Mutex
	accepted   int
	duplicates int
	failed     map[string]int // events by reason: an HTTP status, "rejected" or "network"
	messages   []string       // the first few failure messages
}

const maxMessages = 5

func (s *postStats) fail(reason string, n int, msg string) {
	s.done.Add(int64(n))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed[reason] += n
	if len(s.messages) < maxMessages {
		s.messages = append(s.messages, reason+": "+msg)
	}
}

// succeed records a 2xx answer for n events, of which some were accepted or
// duplicates; the bulk endpoint's rejected events are reported with fail.
func (s *postStats) succeed(n, accepted, duplicates int) {
	s.done.Add(int64(n))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted += accepted
	s.duplicates += duplicates
}

func (s *postStats) failures() int {
	n := 0
	for _, v := range s.failed {
		n += v
	}
	return n
}

// post sends the generator's events to the server with cfg.Concurrency
// workers sharing one keep-alive connection pool.
func (c *cli) post(ctx context.Context, cfg genConfig, g *gen.Generator) error {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = cfg.Concurrency
	transport.MaxIdleConnsPerHost = cfg.Concurrency
	hc := &http.Client{Transport: transport, Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	tc, err := newClient(cfg.URL, cfg.APIKey, hc)
	if err != nil {
		return err
	}

	stats := &postStats{failed: map[string]int{}}
	jobs := make(chan postJob, 2*cfg.Concurrency)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	start := time.Now()
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			for job := range jobs {
				if ctx.Err() != nil {
					continue // drain so the producer never blocks
				}
				postOne(ctx, tc, cfg.Batch > 1, job, stats)
			}
		})
	}
	stopProgress := c.progress(stats, g.Len(), start)

	for ctx.Err() == nil {
		job := make(postJob, cfg.Batch)
		n := 0
		for n < cfg.Batch && g.Next(&job[n]) {
			n++
		}
		if n == 0 {
			break
		}
		select {
		case jobs <- job[:n]:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()

	c.printSummary(stats, elapsed)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted after %d of %d events", stats.done.Load(), g.Len())
	case stats.failures() > 0:
		return fmt.Errorf("%d of %d events failed", stats.failures(), g.Len())
	}
	return nil
}

// postOne sends one job: to POST /event when it is not bulk, else to
// POST /events, which the client resends while its outcome is unknown.
func postOne(ctx context.Context, tc *client.Client, bulk bool, job postJob, stats *postStats) {
	if !bulk {
		_, err := tc.CreateEvent(ctx, &job[0])
		if err == nil {
			stats.succeed(1, 1, 0)
			return
		}
		failed(ctx, stats, len(job), err)
		return
	}
	res, err := tc.CreateEvents(ctx, job)
	if err != nil {
		failed(ctx, stats, len(job), err)
		return
	}
	stats.succeed(len(job)-len(res.Rejected), res.Accepted, res.Duplicates)
	for _, r := range res.Rejected {
		id := r.ID
		if id == "" {
			id = "null"
		}
		stats.fail("rejected", 1, fmt.Sprintf("event %s: %s", id, r.Message))
	}
}

// failed counts n events that err left without an answer: by the HTTP
// status when the server answered, else as a network failure.
func failed(ctx context.Context, stats *postStats, n int, err error) {
	var ce *client.Error
	switch {
	case errors.As(err, &ce):
		stats.fail(fmt.Sprintf("%d %s", ce.Status, http.StatusText(ce.Status)), n, ce.Message)
	case ctx.Err() == nil: // else interrupted: not an answer
		stats.fail("network", n, err.Error())
	}
}

func (c *cli) printSummary(s *postStats, elapsed time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	done := s.done.Load()
	rate := float64(done) / elapsed.Seconds()
	fmt.Fprintf(c.stderr, "sent %d events in %s (%.0f events/s): %d accepted, %d duplicates, %d failed",
		done, elapsed.Round(time.Millisecond), rate, s.accepted, s.duplicates, s.failures())
	if len(s.failed) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.failed)) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, s.failed[k]))
		}
		fmt.Fprintf(c.stderr, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(c.stderr)
	for _, m := range s.messages {
		fmt.Fprintln(c.stderr, "  "+m)
	}
}

// progress shows a one-line progress report on stderr while it is a
// terminal, and returns the function that stops and erases it.
func (c *cli) progress(s *postStats, total int, start time.Time) (stop func()) {
	f, ok := c.stderr.(*os.File)
	if !ok || total == 0 {
		return func() {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
				n := s.done.Load()
				rate := float64(n) / time.Since(start).Seconds()
				fmt.Fprintf(f, "\r\033[K%d/%d events (%d%%), %.0f events/s", n, total, n*100/int64(total), rate)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
