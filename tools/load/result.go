package load

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tallyhq/tally/client"
	"github.com/tallyhq/tally/tools/bench"
)

// Result is what a run saw.
type Result struct {
	Config  Config
	Queries []Query
	URL     string
	Pid     int  // 0: memory unmeasured
	Started bool // the run started the server itself
	Elapsed time.Duration

	Routes  []RouteStats // one per operation, in table order
	Reports []QueryStats // one per query of Queries
	Errors  []ErrorCount // by status, then route
	RSS     RSS          // bytes; all 0 when unmeasured
	Events  EventCounts

	// CountBefore and CountAfter are a default report's totals.count before
	// and after the traffic; CountErr is why the latter is missing.
	CountBefore, CountAfter int64
	CountErr                error

	LoadBefore, LoadAfter string // the machine's load average, 1, 5 and 15 min
}

// RouteStats is one route's traffic. Latencies are of the requests that got
// their expected answer.
type RouteStats struct {
	Op       Op
	Requests int // all sent, failures included
	Errors   int
	Latency  bench.Latencies
	Max      time.Duration
}

// QueryStats is one report query's share of GET /report.
type QueryStats struct {
	Name     string
	Requests int
	Latency  bench.Latencies // of the answered ones
	Max      time.Duration
}

// ErrorCount is how many requests to a route failed one way.
type ErrorCount struct {
	Route  string
	Status string // the HTTP status, or "timeout", "no answer", "200 partial", "200 bad body"
	N      int
}

// RSS is the server's resident set at the run's milestones.
type RSS struct {
	Start, Warm, End, Peak int64
}

// EventCounts are the writes acknowledged, and those that got no clear
// answer (which may or may not have happened).
type EventCounts struct {
	CreatedSingle, CreatedBulk         int64
	Deleted                            int64
	UncertainCreates, UncertainDeletes int64
}

// Created is every acknowledged new event.
func (e EventCounts) Created() int64 { return e.CreatedSingle + e.CreatedBulk }

// collect sums the workers' request counts for one route or query and
// summarizes their latencies.
func collect(workers []*worker, of func(*worker) (int, []time.Duration)) (n int, l bench.Latencies, longest time.Duration) {
	var lat []time.Duration
	for _, w := range workers {
		wn, wl := of(w)
		n += wn
		lat = append(lat, wl...)
	}
	l = bench.Summarize(lat)
	if len(lat) > 0 {
		longest = lat[len(lat)-1]
	}
	return n, l, longest
}

func (r *Result) merge(workers []*worker) {
	errs := map[errKey]int{}
	for _, op := range Ops() {
		rs := RouteStats{Op: op}
		rs.Requests, rs.Latency, rs.Max = collect(workers, func(w *worker) (int, []time.Duration) { return w.n[op], w.lat[op] })
		r.Routes = append(r.Routes, rs)
	}
	for i, q := range r.Queries {
		qs := QueryStats{Name: q.Name}
		qs.Requests, qs.Latency, qs.Max = collect(workers, func(w *worker) (int, []time.Duration) { return w.qn[i], w.qlat[i] })
		r.Reports = append(r.Reports, qs)
	}
	for _, w := range workers {
		for k, n := range w.errs {
			errs[k] += n
			r.Routes[k.Op].Errors += n
		}
		r.Events.CreatedSingle += w.createdSingle
		r.Events.CreatedBulk += w.createdBulk
		r.Events.Deleted += w.deleted
		r.Events.UncertainCreates += w.uncertainCreates
		r.Events.UncertainDeletes += w.uncertainDeletes
	}
	for k, n := range errs {
		r.Errors = append(r.Errors, ErrorCount{Route: k.Op.Route(), Status: k.Status, N: n})
	}
	slices.SortFunc(r.Errors, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(a.Status, b.Status), cmp.Compare(a.Route, b.Route))
	})
}

// Requests is the number of requests sent.
func (r *Result) Requests() int {
	n := 0
	for _, rs := range r.Routes {
		n += rs.Requests
	}
	return n
}

// Check is one condition of the verdict.
type Check struct {
	Name    string
	OK      bool
	Skipped bool // not measured, so neither passed nor failed
	Detail  string
}

// Verdict is the run's judgement: it passes when every check does.
type Verdict []Check

// OK reports whether every check passed or was skipped.
func (v Verdict) OK() bool {
	for _, c := range v {
		if !c.OK && !c.Skipped {
			return false
		}
	}
	return true
}

// String writes one line per check, then the verdict line.
func (v Verdict) String() string {
	var b strings.Builder
	for _, c := range v {
		mark := "ok"
		switch {
		case c.Skipped:
			mark = "skipped"
		case !c.OK:
			mark = "FAILED"
		}
		fmt.Fprintf(&b, "- %s: %s (%s)\n", c.Name, mark, c.Detail)
	}
	if v.OK() {
		b.WriteString("verdict: PASS")
	} else {
		b.WriteString("verdict: FAIL")
	}
	return b.String()
}

// Verdict judges the run: no 5xx, no other failed request, every route of
// the mix served, the count consistent with the writes, and memory flat
// after the warm-up.
func (r *Result) Verdict() Verdict {
	var fives, others int
	for _, e := range r.Errors {
		if strings.HasPrefix(e.Status, "5") {
			fives += e.N
		} else {
			others += e.N
		}
	}
	v := Verdict{
		{Name: "no 5xx", OK: fives == 0, Detail: fmt.Sprintf("%d", fives)},
		{Name: "no other errors", OK: others == 0, Detail: fmt.Sprintf("%d", others)},
	}

	var idle []string
	for _, rs := range r.Routes {
		if r.Config.Mix.Weight(rs.Op) > 0 && rs.Requests-rs.Errors == 0 {
			idle = append(idle, rs.Op.Route())
		}
	}
	served := Check{Name: "every route served", OK: len(idle) == 0, Detail: "all of the mix"}
	if len(idle) > 0 {
		served.Detail = "none served: " + strings.Join(idle, ", ")
	}
	v = append(v, served)

	ev := r.Events
	want := r.CountBefore + ev.Created() - ev.Deleted
	count := Check{Name: "count consistent"}
	switch {
	case r.CountErr != nil:
		count.Detail = "no count after the run: " + r.CountErr.Error()
	case ev.UncertainCreates == 0 && ev.UncertainDeletes == 0:
		count.OK = r.CountAfter == want
		count.Detail = fmt.Sprintf("totals.count %d, want %d = %d before + %d created − %d deleted",
			r.CountAfter, want, r.CountBefore, ev.Created(), ev.Deleted)
	default:
		// Writes without an answer may have happened or not.
		lo, hi := want-ev.UncertainDeletes, want+ev.UncertainCreates
		count.OK = lo <= r.CountAfter && r.CountAfter <= hi
		count.Detail = fmt.Sprintf("totals.count %d, want %d..%d: %d before + %d created − %d deleted, %d creates and %d deletes unanswered",
			r.CountAfter, lo, hi, r.CountBefore, ev.Created(), ev.Deleted, ev.UncertainCreates, ev.UncertainDeletes)
	}
	v = append(v, count)

	v = append(v, r.rssCheck())
	return v
}

func (r *Result) rssCheck() Check {
	c := Check{Name: "RSS flat"}
	m := r.RSS
	if m.Warm == 0 || m.End == 0 {
		c.Skipped = true
		c.Detail = "not measured: no server pid"
		return c
	}
	limit := int64(float64(m.Warm)*r.Config.RSSFactor) + r.Config.RSSSlack
	c.OK = m.End <= limit
	rel := "≤"
	if !c.OK {
		rel = ">"
	}
	c.Detail = fmt.Sprintf("end %s %s after warm-up %s × %g + %s = %s",
		mib(m.End), rel, mib(m.Warm), r.Config.RSSFactor, mib(r.Config.RSSSlack), mib(limit))
	return c
}

// totalCount is a default report's totals.count: every event in the store.
func totalCount(ctx context.Context, c *client.Client) (int64, error) {
	rep, err := c.Report(ctx, &client.Query{})
	if err != nil {
		return 0, err
	}
	if rep.Totals == nil {
		return 0, fmt.Errorf("GET /report: no totals in the answer")
	}
	return rep.Totals.Count, nil
}

// WriteTable writes the result as Markdown tables, closed by the verdict.
func WriteTable(w io.Writer, r *Result) error {
	var b strings.Builder
	cfg := r.Config
	server := r.URL + " (running"
	if r.Started {
		server = r.URL + " (started by the run on a temporary SQLite store"
	}
	if r.Pid > 0 {
		server += fmt.Sprintf(", pid %d)", r.Pid)
	} else {
		server += ", no pid: memory unmeasured)"
	}
	fmt.Fprintf(&b, "tally load: %v of traffic from %d clients against %s\n", r.Elapsed.Round(time.Millisecond), cfg.Clients, server)
	fmt.Fprintf(&b, "mix %v, %d events per bulk create, %d report queries, request timeout %v\n", cfg.Mix, cfg.BulkSize, len(r.Queries), cfg.Timeout)
	if r.LoadBefore != "" {
		fmt.Fprintf(&b, "load average (1, 5, 15 min): %s before, %s after\n", r.LoadBefore, r.LoadAfter)
	}

	b.WriteString("\n| route | requests | req/s | p50 | p99 | max | errors |\n|---|--:|--:|--:|--:|--:|--:|\n")
	secs := r.Elapsed.Seconds()
	var all, bad int
	for _, rs := range r.Routes {
		all += rs.Requests
		bad += rs.Errors
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %s | %s |\n", rs.Op.Route(), bench.Thousands(int64(rs.Requests)),
			float64(rs.Requests)/secs, ms(rs.Latency.P50), ms(rs.Latency.P99), ms(rs.Max), bench.Thousands(int64(rs.Errors)))
	}
	fmt.Fprintf(&b, "| all | %s | %.0f | | | | %s |\n", bench.Thousands(int64(all)), float64(all)/secs, bench.Thousands(int64(bad)))

	if len(r.Reports) > 0 {
		b.WriteString("\n| GET /report query | requests | p50 | p99 | max | parameters |\n|---|--:|--:|--:|--:|---|\n")
		for i, q := range r.Reports {
			params := ""
			if i < len(r.Queries) {
				params = "`" + r.Queries[i].Params().Encode() + "`"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", q.Name, bench.Thousands(int64(q.Requests)),
				ms(q.Latency.P50), ms(q.Latency.P99), ms(q.Max), params)
		}
	}

	if len(r.Errors) == 0 {
		b.WriteString("\nerrors by status: none\n")
	} else {
		b.WriteString("\n| status | route | count |\n|---|---|--:|\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", e.Status, e.Route, bench.Thousands(int64(e.N)))
		}
	}

	ev := r.Events
	fmt.Fprintf(&b, "\nevents: %s created (%s single, %s in bulk; %s/s), %s deleted", bench.Thousands(ev.Created()),
		bench.Thousands(ev.CreatedSingle), bench.Thousands(ev.CreatedBulk), bench.Thousands(int64(float64(ev.Created())/secs)), bench.Thousands(ev.Deleted))
	if ev.UncertainCreates+ev.UncertainDeletes > 0 {
		fmt.Fprintf(&b, ", unanswered: %s creates, %s deletes", bench.Thousands(ev.UncertainCreates), bench.Thousands(ev.UncertainDeletes))
	}
	fmt.Fprintf(&b, "; totals.count %s before, ", bench.Thousands(r.CountBefore))
	if r.CountErr != nil {
		b.WriteString("unknown after\n")
	} else {
		fmt.Fprintf(&b, "%s after\n", bench.Thousands(r.CountAfter))
	}

	if r.RSS.Start > 0 {
		fmt.Fprintf(&b, "\n| server RSS | start | after warm-up (%v) | end | peak |\n|---|--:|--:|--:|--:|\n", cfg.Warmup)
		fmt.Fprintf(&b, "| VmRSS | %s | %s | %s | %s |\n", mib(r.RSS.Start), mib(r.RSS.Warm), mib(r.RSS.End), mib(r.RSS.Peak))
	}
	fmt.Fprintf(&b, "\n%s\n", r.Verdict())
	_, err := io.WriteString(w, b.String())
	return err
}

// ms writes a latency in milliseconds, with more digits when small.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "–"
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
