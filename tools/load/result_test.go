package load_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/tools/bench"
	"github.com/tallyhq/tally/tools/load"
)

const mib = 1 << 20

// passing is a run every check accepts: 1,000 events before, 5,500
// created, 300 deleted, memory from 50 to 60 MiB after warm-up.
func passing() *load.Result {
	r := &load.Result{
		Config:      load.Config{Mix: load.DefaultMix, Clients: 4, BulkSize: 500, Warmup: time.Second, RSSFactor: 1.2, RSSSlack: 16 * mib},
		URL:         "http://127.0.0.1:1",
		Pid:         1,
		Elapsed:     10 * time.Second,
		CountBefore: 1000,
		CountAfter:  1000 + 5500 - 300,
		Events:      load.EventCounts{CreatedSingle: 500, CreatedBulk: 5000, Deleted: 300},
		RSS:         load.RSS{Start: 20 * mib, Warm: 50 * mib, End: 60 * mib, Peak: 70 * mib},
	}
	r.Queries = load.Queries(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))[:1]
	r.Reports = []load.QueryStats{{Name: "Q1", Requests: 100, Latency: bench.Latencies{N: 100, P50: 2 * time.Millisecond, P99: 20 * time.Millisecond}, Max: 25 * time.Millisecond}}
	for _, op := range load.Ops() {
		r.Routes = append(r.Routes, load.RouteStats{Op: op, Requests: 100,
			Latency: bench.Latencies{N: 100, P50: time.Millisecond, P99: 9 * time.Millisecond}, Max: 12 * time.Millisecond})
	}
	return r
}

func failed(v load.Verdict) []string {
	var names []string
	for _, c := range v {
		if !c.OK && !c.Skipped {
			names = append(names, c.Name)
		}
	}
	return names
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name       string
		change     func(r *load.Result)
		wantFailed []string // names of the failed checks
	}{
		{name: "passing", change: func(*load.Result) {}},
		{
			name: "a 503 fails",
			change: func(r *load.Result) {
				r.Errors = []load.ErrorCount{{Route: "POST /event", Status: "503", N: 1}}
				r.Routes[load.OpCreate].Errors = 1
			},
			wantFailed: []string{"no 5xx"},
		},
		{
			name: "a 404 or a timeout fails",
			change: func(r *load.Result) {
				r.Errors = []load.ErrorCount{{Route: "GET /event/{id}", Status: "404", N: 2}, {Route: "GET /report", Status: "timeout", N: 1}}
			},
			wantFailed: []string{"no other errors"},
		},
		{
			name:       "a count off by one fails",
			change:     func(r *load.Result) { r.CountAfter++ },
			wantFailed: []string{"count consistent"},
		},
		{
			name:       "no count after the run fails",
			change:     func(r *load.Result) { r.CountErr = errors.New("refused") },
			wantFailed: []string{"count consistent"},
		},
		{
			name: "unanswered creates may have happened",
			change: func(r *load.Result) {
				r.Events.UncertainCreates = 500
				r.CountAfter += 200
			},
		},
		{
			name: "unanswered deletes may have happened",
			change: func(r *load.Result) {
				r.Events.UncertainDeletes = 3
				r.CountAfter -= 3
			},
		},
		{
			name: "beyond the unanswered writes fails",
			change: func(r *load.Result) {
				r.Events.UncertainCreates = 500
				r.CountAfter += 501
			},
			wantFailed: []string{"count consistent"},
		},
		{
			name:   "memory at the bound passes",
			change: func(r *load.Result) { r.RSS.End = 50*mib*6/5 + 16*mib },
		},
		{
			name:       "memory above the bound fails",
			change:     func(r *load.Result) { r.RSS.End = 50*mib*6/5 + 16*mib + 1 },
			wantFailed: []string{"RSS flat"},
		},
		{
			name:   "memory unmeasured is skipped",
			change: func(r *load.Result) { r.Pid, r.RSS = 0, load.RSS{} },
		},
		{
			name: "a route of the mix without a success fails",
			change: func(r *load.Result) {
				r.Routes[load.OpGet].Errors = r.Routes[load.OpGet].Requests
				r.Errors = []load.ErrorCount{{Route: "GET /event/{id}", Status: "404", N: 100}}
			},
			wantFailed: []string{"no other errors", "every route served"},
		},
		{
			name: "a route outside the mix may be idle",
			change: func(r *load.Result) {
				r.Config.Mix.Get = 0
				r.Routes[load.OpGet] = load.RouteStats{Op: load.OpGet}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := passing()
			tc.change(r)
			v := r.Verdict()
			if diff := cmp.Diff(tc.wantFailed, failed(v)); diff != "" {
				t.Errorf("failed checks (-want +got):\n%s\n%s", diff, v)
			}
			if v.OK() != (len(tc.wantFailed) == 0) {
				t.Errorf("OK() = %v with failed checks %q", v.OK(), tc.wantFailed)
			}
			wantLine := "verdict: PASS"
			if len(tc.wantFailed) > 0 {
				wantLine = "verdict: FAIL"
			}
			if !strings.HasSuffix(v.String(), wantLine) {
				t.Errorf("verdict does not end in %q:\n%s", wantLine, v)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	r := passing()
	r.Errors = []load.ErrorCount{{Route: "GET /report", Status: "503", N: 2}}
	var b bytes.Buffer
	if err := load.WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| POST /event | 100 | 10 | 1.00 ms | 9.00 ms | 12.0 ms | 0 |",
		"| GET /event/{id} | 100 |",
		"| all | 500 | 50 |",
		"| 503 | GET /report | 2 |",
		"| Q1 | 100 | 2.00 ms | 20.0 ms | 25.0 ms |",
		"5,500 created (500 single, 5,000 in bulk; 550/s), 300 deleted; totals.count 1,000 before, 6,200 after",
		"| VmRSS | 20.0 MiB | 50.0 MiB | 60.0 MiB | 70.0 MiB |",
		"- RSS flat: ok (end 60.0 MiB ≤ after warm-up 50.0 MiB × 1.2 + 16.0 MiB = 76.0 MiB)",
		"verdict: FAIL",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
