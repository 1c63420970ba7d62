// Package load is Tally's load and soak test (tally load): concurrent
// keep-alive clients send a mix of creates, bulk creates, deletes, reports
// and reads to a server on this machine for a set time, and the run is
// judged on its errors, on a report's count agreeing with the writes
// acknowledged, and on the server's resident memory staying flat.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/client"
	"github.com/tallyhq/tally/tools/proc"
)

// Config is one load run.
type Config struct {
	// URL is a running server's base URL, on a loopback address. Empty: the
	// run starts Binary as `serve` on a temporary SQLite store.
	URL string
	// Pid is the running server's process id, to read its memory from
	// /proc; 0 leaves memory unmeasured. Ignored without URL.
	Pid    int
	Binary string // the tally executable, when URL is empty
	Dir    string // parent of the temporary store; empty: the system's
	Keep   bool   // keep the temporary store and the server's log

	Duration time.Duration // how long traffic is sent
	Warmup   time.Duration // when, from the start, the "after warm-up" memory is read
	Timeout  time.Duration // bound on each request
	Clients  int           // concurrent keep-alive clients
	Mix      Mix
	BulkSize int    // events per POST /events
	APIKey   string // sent as a bearer token when set

	Seed int64     // seeds the events; runs against one store need different seeds
	Now  time.Time // events fall on the Days UTC days before Now's day
	Days int

	// Memory is flat when the end's resident set is at most the one after
	// warm-up × RSSFactor + RSSSlack.
	RSSFactor float64
	RSSSlack  int64

	Log io.Writer // progress lines; nil discards
}

func (c *Config) check() error {
	var errs []error
	if c.URL == "" && c.Binary == "" {
		errs = append(errs, errors.New("neither a server URL nor a tally binary to start"))
	}
	if c.URL != "" {
		if err := checkLoopback(c.URL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Duration <= 0 || c.Timeout <= 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("duration and timeout must be positive, warm-up not negative"))
	}
	if c.Warmup >= c.Duration {
		errs = append(errs, fmt.Errorf("warm-up %v must end before the run's %v", c.Warmup, c.Duration))
	}
	if c.Clients < 1 || c.BulkSize < 1 || c.Days < 1 {
		errs = append(errs, errors.New("clients, bulk size and days must be at least 1"))
	}
	if err := c.Mix.Check(); err != nil {
		errs = append(errs, err)
	}
	if c.Now.IsZero() {
		errs = append(errs, errors.New("no time given for the events' days"))
	}
	if c.RSSFactor < 1 || c.RSSSlack < 0 {
		errs = append(errs, errors.New("the memory tolerance must be a factor of at least 1 and a non-negative slack"))
	}
	return errors.Join(errs...)
}

// checkLoopback refuses a URL that leaves the machine: a load test aimed at
// someone else's server is an attack.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q is not an http:// base URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("url %q is not on a loopback address (127.0.0.1, ::1, localhost): tally load only targets this machine", raw)
}

// Caps on the ids kept for deletes and reads: enough to choose from, bounded
// so that the load's own memory stays flat too.
const (
	deletePoolCap = 100_000
	getPoolCap    = 10_000
	sampleEvery   = 250 * time.Millisecond
	progressEvery = 10 * time.Second
)

// Run runs the load. Its error is about the run itself (a server that does
// not start, a bad config); what the server did is in the Result and its
// Verdict.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	// A backstop: traffic stops at Duration and every request is bounded, so
	// only a hung start or shutdown could reach it.
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+4*cfg.Timeout+3*time.Minute)
	defer cancel()

	res = &Result{Config: cfg, Queries: Queries(cfg.Now.UTC().Truncate(24 * time.Hour))}
	base, pid := cfg.URL, cfg.Pid
	if base == "" {
		dir, err := os.MkdirTemp(cfg.Dir, "tally-load-")
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		defer func() {
			// Keep the log of a failed run, to see why.
			if cfg.Keep || err != nil {
				logf("kept %s", dir)
				return
			}
			if rerr := os.RemoveAll(dir); rerr != nil {
				err = fmt.Errorf("load: %w", rerr)
			}
		}()
		srv, err := proc.Start(ctx, cfg.Binary, "sqlite:"+filepath.Join(dir, "tally.db"), "", filepath.Join(dir, "serve.log"))
		if err != nil {
			return nil, fmt.Errorf("load: starting the server: %w", err)
		}
		defer func() {
			if serr := srv.Stop(); serr != nil {
				err = errors.Join(err, fmt.Errorf("load: %w", serr))
			}
		}()
		base, pid = srv.URL, srv.Pid()
		res.Started = true
	}
	res.URL, res.Pid = base, pid

	c, closeIdle, err := newClient(base, cfg.APIKey, cfg.Clients, cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer closeIdle()
	if res.CountBefore, err = totalCount(ctx, c); err != nil {
		return nil, fmt.Errorf("load: the count before the run: %w", err)
	}
	res.LoadBefore = loadAverage()
	logf("%s: %d clients for %v, mix %v, bulk %d; %d events before", base, cfg.Clients, cfg.Duration, cfg.Mix, cfg.BulkSize, res.CountBefore)

	mem := newSampler(pid)
	res.RSS.Start = mem.sample()
	stopSampling := mem.run(cfg.Warmup)

	workers := make([]*worker, cfg.Clients)
	pools := &pools{deletes: newPool(deletePoolCap), gets: newPool(getPoolCap)}
	for i := range workers {
		w, err := newWorker(cfg, i, c, res.Queries, pools)
		if err != nil {
			stopSampling()
			return nil, fmt.Errorf("load: %w", err)
		}
		workers[i] = w
	}
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(ctx, deadline) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	progress := time.NewTicker(progressEvery)
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-progress.C:
			var n, bad int64
			for _, w := range workers {
				n += w.requests.Load()
				bad += w.failed.Load()
			}
			logf("  %v: %d requests, %d errors, RSS %s", time.Since(start).Round(time.Second), n, bad, mib(mem.sample()))
		}
	}
	progress.Stop()
	res.Elapsed = time.Since(start)
	stopSampling()
	res.RSS.End = mem.sample()
	res.RSS.Warm, res.RSS.Peak = mem.warmAndPeak()
	res.RSS.Peak = max(res.RSS.Peak, res.RSS.Start, res.RSS.End)
	res.LoadAfter = loadAverage()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}

	res.merge(workers)
	res.CountAfter, res.CountErr = totalCount(ctx, c)
	logf("done: %d requests in %v", res.Requests(), res.Elapsed.Round(time.Millisecond))
	return res, nil
}

// newClient returns a client keeping a connection per concurrent caller
// alive, with every request bounded by timeout. It never resends: the run
// counts a write without an answer as one that may or may not have
// happened.
func newClient(base, apiKey string, conns int, timeout time.Duration) (*client.Client, func(), error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // loopback only, whatever the environment says
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.DisableCompression = true
	hc := &http.Client{Transport: t, Timeout: timeout}
	c, err := client.New(base, client.WithHTTPClient(hc), client.WithAPIKey(apiKey), client.WithRetries(0, 0))
	return c, hc.CloseIdleConnections, err
}

// sampler reads a process's resident set from /proc: now, once the warm-up
// ends, and its peak over samples taken every sampleEvery.
type sampler struct {
	pid        int
	mu         sync.Mutex
	warm, peak int64
}

func newSampler(pid int) *sampler { return &sampler{pid: pid} }

// sample returns the current VmRSS in bytes (0 when unknown) and notes it
// in the peak.
func (s *sampler) sample() int64 {
	if s.pid <= 0 {
		return 0
	}
	st, err := proc.ReadStatus(s.pid)
	if err != nil {
		return 0
	}
	v := st["VmRSS"]
	s.mu.Lock()
	s.peak = max(s.peak, v)
	s.mu.Unlock()
	return v
}

// run samples until the returned stop is called, and reads the warm-up
// figure once warmup has passed.
func (s *sampler) run(warmup time.Duration) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		warm := time.NewTimer(warmup)
		defer warm.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				s.sample()
			case <-warm.C:
				v := s.sample()
				s.mu.Lock()
				s.warm = v
				s.mu.Unlock()
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

func (s *sampler) warmAndPeak() (int64, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.warm, s.peak
}

// loadAverage is /proc/loadavg's first three fields, "" where there is none:
// on a shared machine the figures mean little without it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// pools hold the ids of acknowledged events: deletes take theirs from one,
// reads from the other, which nothing deletes, so that every read must
// find its event.
type pools struct {
	deletes, gets *pool
}

// add puts an acknowledged event's id in one of the pools, a quarter of
// them in the one for reads.
func (p *pools) add(id tally.ID, r *rand.Rand) {
	if r.IntN(4) == 0 {
		p.gets.add(id, r)
	} else {
		p.deletes.add(id, r)
	}
}

// pool is a bounded set of ids; once full, a new id replaces a random one.
type pool struct {
	mu  sync.Mutex
	ids []tally.ID
	cap int
}

func newPool(capacity int) *pool { return &pool{cap: capacity} }

func (p *pool) add(id tally.ID, r *rand.Rand) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) < p.cap {
		p.ids = append(p.ids, id)
		return
	}
	p.ids[r.IntN(len(p.ids))] = id
}

// take removes and returns a random id.
func (p *pool) take(r *rand.Rand) (tally.ID, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		return tally.ID{}, false
	}
	i := r.IntN(len(p.ids))
	id := p.ids[i]
	last := len(p.ids) - 1
	p.ids[i] = p.ids[last]
	p.ids = p.ids[:last]
	return id, true
}

// pick returns a random id, leaving it in the pool.
func (p *pool) pick(r *rand.Rand) (tally.ID, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		return tally.ID{}, false
	}
	return p.ids[r.IntN(len(p.ids))], true
}
