package load

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/client"
	"github.com/tallyhq/tally/tools/gen"
)

// errKey names a failure: the operation and the status answered, or
// "timeout" / "no answer" when there was none.
type errKey struct {
	Op     Op
	Status string
}

// Statuses that are not HTTP codes.
const (
	statusTimeout  = "timeout"
	statusNoAnswer = "no answer"   // or one that could not be read
	statusPartial  = "200 partial" // a bulk create that did not accept every event
	statusBadBody  = "200 bad body"
)

// worker is one keep-alive client. Everything but the two counters belongs
// to its goroutine until run returns.
type worker struct {
	client  *client.Client
	mix     Mix
	bulk    int
	queries []Query
	pools   *pools
	rng     *rand.Rand
	gen     *gen.Generator
	span    int64 // milliseconds of the generated days
	batch   []tally.Event

	requests, failed atomic.Int64 // read by the progress lines while running

	n                                  [numOps]int
	lat                                [numOps][]time.Duration
	errs                               map[errKey]int
	qn                                 []int             // reports asked, per query
	qlat                               [][]time.Duration // latencies of the answered ones
	createdSingle, createdBulk         int64
	deleted                            int64
	uncertainCreates, uncertainDeletes int64 // writes that got no clear answer
}

func newWorker(cfg Config, i int, c *client.Client, queries []Query, p *pools) (*worker, error) {
	// One generator per worker, its own seed high in the word so that the
	// workers' ids never overlap; PerDay is beyond any run's reach because
	// the timestamps are drawn separately, over all the days.
	g, err := gen.New(gen.Config{Days: cfg.Days, PerDay: 1 << 24, Seed: cfg.Seed + int64(i)<<40, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	return &worker{
		client: c, mix: cfg.Mix, bulk: cfg.BulkSize,
		queries: queries, pools: p, gen: g,
		rng:  rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i))),
		span: int64(cfg.Days) * int64(24*time.Hour/time.Millisecond),
		errs: make(map[errKey]int),
		qn:   make([]int, len(queries)),
		qlat: make([][]time.Duration, len(queries)),
	}, nil
}

// run sends requests until deadline; the one under way then finishes.
func (w *worker) run(ctx context.Context, deadline time.Time) {
	total := w.mix.Total()
	for ctx.Err() == nil && time.Now().Before(deadline) {
		op := w.mix.Pick(w.rng.IntN(total))
		switch op {
		case OpCreate:
			w.create(ctx)
		case OpBulk:
			w.bulkCreate(ctx)
		case OpDelete:
			id, ok := w.pools.deletes.take(w.rng)
			if !ok {
				// Nothing to delete yet: early in the run, or a mix
				// without creates.
				w.create(ctx)
				continue
			}
			w.delete(ctx, id)
		case OpReport:
			w.report(ctx, w.rng.IntN(len(w.queries)))
		case OpGet:
			id, ok := w.pools.gets.pick(w.rng)
			if !ok {
				w.create(ctx)
				continue
			}
			w.get(ctx, id)
		}
	}
}

func (w *worker) next() tally.Event {
	var e tally.Event
	w.gen.Next(&e)
	e.Timestamp = w.gen.Start().Add(time.Duration(w.rng.Int64N(w.span)) * time.Millisecond)
	return e
}

func (w *worker) create(ctx context.Context) {
	e := w.next()
	w.requests.Add(1)
	t0 := time.Now()
	_, err := w.client.CreateEvent(ctx, &e)
	if err != nil {
		if w.fail(OpCreate, err) {
			w.uncertainCreates++
		}
		return
	}
	w.ok(OpCreate, time.Since(t0))
	w.createdSingle++
	w.pools.add(e.ID, w.rng)
}

func (w *worker) bulkCreate(ctx context.Context) {
	w.batch = w.batch[:0]
	for range w.bulk {
		w.batch = append(w.batch, w.next())
	}
	w.requests.Add(1)
	t0 := time.Now()
	a, err := w.client.CreateEvents(ctx, w.batch)
	d := time.Since(t0)
	if err != nil {
		if w.fail(OpBulk, err) {
			w.uncertainCreates += int64(w.bulk)
		}
		return
	}
	w.createdBulk += int64(a.Accepted)
	if a.Accepted != w.bulk {
		// Fresh events must all be accepted; which ones were is unknown,
		// so none goes to the pools.
		w.failAs(OpBulk, statusPartial)
		return
	}
	w.ok(OpBulk, d)
	for i := range w.batch {
		w.pools.add(w.batch[i].ID, w.rng)
	}
}

func (w *worker) delete(ctx context.Context, id tally.ID) {
	w.requests.Add(1)
	t0 := time.Now()
	if err := w.client.DeleteEvent(ctx, id); err != nil {
		if w.fail(OpDelete, err) {
			w.uncertainDeletes++
		}
		return
	}
	w.ok(OpDelete, time.Since(t0))
	w.deleted++
}

func (w *worker) get(ctx context.Context, id tally.ID) {
	w.requests.Add(1)
	t0 := time.Now()
	got, err := w.client.GetEvent(ctx, id)
	if err != nil {
		w.fail(OpGet, err)
		return
	}
	if got.ID != id {
		w.failAs(OpGet, statusBadBody)
		return
	}
	w.ok(OpGet, time.Since(t0))
}

// report asks query i; the latency runs from sending to the answer's
// last byte (decoded, for JSON).
func (w *worker) report(ctx context.Context, i int) {
	q := &w.queries[i]
	w.qn[i]++
	w.requests.Add(1)
	t0 := time.Now()
	var err error
	if q.CSV {
		var body io.ReadCloser
		if body, err = w.client.ReportCSV(ctx, &q.Query); err == nil {
			_, err = io.Copy(io.Discard, body)
			body.Close()
		}
	} else {
		_, err = w.client.Report(ctx, &q.Query)
	}
	d := time.Since(t0)
	if err != nil {
		w.fail(OpReport, err)
		return
	}
	w.ok(OpReport, d)
	w.qlat[i] = append(w.qlat[i], d)
}

func (w *worker) ok(op Op, d time.Duration) {
	w.n[op]++
	w.lat[op] = append(w.lat[op], d)
}

// fail counts a request that did not get its expected status, and reports
// whether a write it made may nevertheless have happened: no answer, or a
// 5xx, which may come after the store took the write.
func (w *worker) fail(op Op, err error) (uncertain bool) {
	var ce *client.Error
	if !errors.As(err, &ce) {
		w.failAs(op, classify(err))
		return true
	}
	w.failAs(op, strconv.Itoa(ce.Status))
	return ce.Status >= 500
}

func (w *worker) failAs(op Op, status string) {
	w.n[op]++
	w.errs[errKey{op, status}]++
	w.failed.Add(1)
}

func classify(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return statusTimeout
	}
	return statusNoAnswer
}
