package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/gen"
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
	statusNoAnswer = "no answer"
	statusPartial  = "200 partial" // a bulk create that did not accept every event
	statusBadBody  = "200 bad body"
)

// worker is one keep-alive client. Everything but the two counters belongs
// to its goroutine until run returns.
type worker struct {
	client   *http.Client
	base     string
	apiKey   string
	mix      Mix
	bulk     int
	queries  []Query
	pools    *pools
	rng      *rand.Rand
	gen      *gen.Generator
	span     int64 // milliseconds of the generated days
	body     []byte
	answer   bytes.Buffer
	lastType string // the answer's Content-Type
	ids      []tally.ID

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

func newWorker(cfg Config, i int, client *http.Client, base string, queries []Query, p *pools) (*worker, error) {
	// One generator per worker, its own seed high in the word so that the
	// workers' ids never overlap; PerDay is beyond any run's reach because
	// the timestamps are drawn separately, over all the days.
	g, err := gen.New(gen.Config{Days: cfg.Days, PerDay: 1 << 24, Seed: cfg.Seed + int64(i)<<40, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	return &worker{
		client: client, base: base, apiKey: cfg.APIKey, mix: cfg.Mix, bulk: cfg.BulkSize,
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
	w.body = e.AppendJSON(w.body[:0])
	status, d, err := w.send(ctx, http.MethodPost, "/event", w.body, "application/json")
	if status != http.StatusCreated {
		if w.fail(OpCreate, status, err) {
			w.uncertainCreates++
		}
		return
	}
	w.ok(OpCreate, d)
	w.createdSingle++
	w.pools.add(e.ID, w.rng)
}

// bulkAnswer is the body of a 200 from POST /events.
type bulkAnswer struct {
	Accepted   int               `json:"accepted"`
	Duplicates int               `json:"duplicates"`
	Rejected   []json.RawMessage `json:"rejected"`
}

func (w *worker) bulkCreate(ctx context.Context) {
	w.body = append(w.body[:0], '[')
	w.ids = w.ids[:0]
	for i := range w.bulk {
		if i > 0 {
			w.body = append(w.body, ',')
		}
		e := w.next()
		w.body = e.AppendJSON(w.body)
		w.ids = append(w.ids, e.ID)
	}
	w.body = append(w.body, ']')
	status, d, err := w.send(ctx, http.MethodPost, "/events", w.body, "application/json")
	if status != http.StatusOK {
		if w.fail(OpBulk, status, err) {
			w.uncertainCreates += int64(w.bulk)
		}
		return
	}
	var a bulkAnswer
	if err := json.Unmarshal(w.answer.Bytes(), &a); err != nil {
		// The events may or may not be in.
		w.uncertainCreates += int64(w.bulk)
		w.failAs(OpBulk, statusBadBody)
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
	for _, id := range w.ids {
		w.pools.add(id, w.rng)
	}
}

func (w *worker) delete(ctx context.Context, id tally.ID) {
	status, d, err := w.send(ctx, http.MethodDelete, "/event/"+id.String(), nil, "")
	if status != http.StatusNoContent {
		if w.fail(OpDelete, status, err) {
			w.uncertainDeletes++
		}
		return
	}
	w.ok(OpDelete, d)
	w.deleted++
}

func (w *worker) get(ctx context.Context, id tally.ID) {
	status, d, err := w.send(ctx, http.MethodGet, "/event/"+id.String(), nil, "")
	if status != http.StatusOK {
		w.fail(OpGet, status, err)
		return
	}
	var got struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(w.answer.Bytes(), &got) != nil || got.ID != id.String() {
		w.failAs(OpGet, statusBadBody)
		return
	}
	w.ok(OpGet, d)
}

func (w *worker) report(ctx context.Context, i int) {
	q := &w.queries[i]
	path := "/report?" + q.Params.Encode()
	status, d, err := w.send(ctx, http.MethodGet, path, nil, "")
	w.qn[i]++
	if status != http.StatusOK {
		w.fail(OpReport, status, err)
		return
	}
	want := "application/json"
	if q.CSV {
		want = "text/csv"
	}
	if ct := w.lastType; !strings.HasPrefix(ct, want) {
		w.failAs(OpReport, statusBadBody)
		return
	}
	w.ok(OpReport, d)
	w.qlat[i] = append(w.qlat[i], d)
}

// send makes one request and reads the whole answer into w.answer. Its
// status is 0 when there was no answer, err says why. The latency runs from
// sending to the answer's last byte.
func (w *worker) send(ctx context.Context, method, path string, body []byte, contentType string) (int, time.Duration, error) {
	w.requests.Add(1)
	w.answer.Reset()
	w.lastType = ""
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := newRequest(ctx, method, w.base+path, rd)
	if err != nil {
		return 0, 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if w.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+w.apiKey)
	}
	t0 := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, err = w.answer.ReadFrom(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the answer: %w", err)
	}
	w.lastType = resp.Header.Get("Content-Type")
	return resp.StatusCode, d, nil
}

func newRequest(ctx context.Context, method, url string, body *bytes.Reader) (*http.Request, error) {
	if body == nil {
		return http.NewRequestWithContext(ctx, method, url, http.NoBody)
	}
	return http.NewRequestWithContext(ctx, method, url, body)
}

func (w *worker) ok(op Op, d time.Duration) {
	w.n[op]++
	w.lat[op] = append(w.lat[op], d)
}

// fail counts a request that did not get its expected status, and reports
// whether a write it made may nevertheless have happened: no answer, or a
// 5xx, which may come after the store took the write.
func (w *worker) fail(op Op, status int, err error) (uncertain bool) {
	if status == 0 {
		w.failAs(op, classify(err))
		return true
	}
	w.failAs(op, strconv.Itoa(status))
	return status >= 500
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
