package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/api"
)

func withClock(now time.Time) option {
	return func(c *api.Config) { c.Now = func() time.Time { return now } }
}

// reportBody is a JSON report read with exact numbers.
type reportBody struct {
	Pagination struct {
		TotalCount int `json:"total_count"`
	} `json:"pagination"`
	Rows       []map[string]any `json:"rows"`
	Totals     map[string]any   `json:"totals"`
	Comparison *struct {
		StartDate string         `json:"start_date"`
		EndDate   string         `json:"end_date"`
		Totals    map[string]any `json:"totals"`
	} `json:"comparison"`
	Query map[string]any `json:"query"`
}

func decodeReport(t *testing.T, r *response) reportBody {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var b reportBody
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("%s: %v", r.Body, err)
	}
	return b
}

// The clock stands at the midnight that starts 2024-03-31 in Berlin, a
// 23-hour day: an event at that instant is today's, one a second earlier
// yesterday's.
func TestDateRangeParameter(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := time.Date(2024, 3, 31, 0, 0, 0, 0, berlin)
	ts := newServer(t, withClock(now))
	for _, at := range []time.Time{now, now.Add(-time.Second), now.Add(23*time.Hour - time.Second), now.Add(23 * time.Hour)} {
		e := fmt.Sprintf(`{"client":1,"client_group":1,"timestamp":%q,"valid":true,"value":1.5}`, at.UTC().Format(time.RFC3339))
		if r := ts.post(t, "/event", e); r.Status != http.StatusCreated {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	tests := []struct {
		query, start, end string
		count             int64
	}{
		{"date_range=today&tz=Europe/Berlin", "2024-03-31", "2024-04-01", 2},
		{"date_range=yesterday&tz=Europe/Berlin", "2024-03-30", "2024-03-31", 1},
		{"date_range=7d&tz=Europe/Berlin", "2024-03-24", "2024-03-31", 1},
		{"date_range=month&tz=Europe/Berlin", "2024-03-01", "2024-04-01", 3},
		{"date_range=last_month&tz=Europe/Berlin", "2024-02-01", "2024-03-01", 0},
		{"date_range=year&tz=Europe/Berlin", "2024-01-01", "2024-04-01", 3},
		// In UTC the clock reads 2024-03-30T23:00.
		{"date_range=today", "2024-03-30", "2024-03-31", 2},
		{"date_range=30d", "2024-02-29", "2024-03-30", 0},
		// In Kolkata it reads 2024-03-31T04:30; two events are on 1 April.
		{"date_range=90d&tz=Asia/Kolkata", "2024-01-01", "2024-03-31", 0},
		{"date_range=today&tz=Asia/Kolkata", "2024-03-31", "2024-04-01", 2},
	}
	for _, tt := range tests {
		b := decodeReport(t, ts.get(t, "/report?group_by=client&"+tt.query))
		if b.Query["start_date"] != tt.start || b.Query["end_date"] != tt.end {
			t.Errorf("%s: query %v, want [%s, %s)", tt.query, b.Query, tt.start, tt.end)
		}
		if got := b.Totals["count"].(json.Number).String(); got != fmt.Sprint(tt.count) {
			t.Errorf("%s: %s events, want %d", tt.query, got, tt.count)
		}
	}
	b := decodeReport(t, ts.get(t, "/report?date_range=all&clients=1&device_types=null&categories=null+3&valid=true&order_by=-count"))
	want := map[string]any{
		"group_by":   []any{"date", "device_type", "category", "client", "client_group", "valid"},
		"order_by":   []any{"-count"},
		"date_range": "all", "start_date": nil, "end_date": nil, "tz": "UTC", "granularity": "day",
		"clients": []any{json.Number("1")}, "client_groups": nil, "device_types": []any{nil},
		"categories": []any{nil, json.Number("3")}, "valid": true, "compare": nil, "fill": nil,
		"offset": json.Number("0"), "limit": json.Number("100"),
	}
	if fmt.Sprint(b.Query) != fmt.Sprint(want) {
		t.Errorf("query:\n got %v\nwant %v", b.Query, want)
	}
}

func TestReportOptionErrors(t *testing.T) {
	ts := newServer(t)
	fixture(t, ts)
	tests := []struct{ query, field string }{
		{"date_range=week", "date_range"},
		{"date_range=7d&start_date=2026-01-01", "start_date"},
		{"date_range=today&end_date=2026-01-01", "end_date"},
		{"compare=previous_period", "compare"},
		{"compare=previous_year&date_range=all", "compare"},
		{"compare=previous_period&start_date=2026-01-01", "compare"},
		{"compare=last_week&date_range=7d", "compare"},
		{"fill=zero&group_by=client&date_range=7d", "fill"},
		{"fill=zero&group_by=date", "fill"},
		{"fill=zero&group_by=date&end_date=2026-01-01", "fill"},
		{"fill=one&group_by=date&date_range=7d", "fill"},
		{"fill=zero&group_by=date+client&granularity=hour&start_date=2000-01-01&end_date=2200-01-01", "1000000"},
	}
	for _, tt := range tests {
		r := ts.get(t, "/report?"+tt.query)
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", tt.query, r.Status, r.Body)
			continue
		}
		if msg := r.errorMessage(t); !strings.Contains(strings.ReplaceAll(msg, ",", ""), tt.field) {
			t.Errorf("%s: message %q does not name %s", tt.query, msg, tt.field)
		}
	}
}

// An event of the randomized test.
type randEvent struct {
	e tally.Event
	d tally.Decimal
}

// TestCompareAndFillRandom checks fill=zero and compare against a naive
// recomputation from the events themselves, over random ranges around DST
// changes, 29 February and month ends, in zones with whole, half and
// quarter hour offsets, on a real SQLite store.
func TestCompareAndFillRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 14))
	store := openStore(t)
	ts := newServerOn(t, store)

	anchors := []string{"2024-02-29", "2024-03-10", "2024-03-31", "2024-04-07", "2024-10-27",
		"2024-11-03", "2024-12-31", "2025-01-31", "2025-03-01", "2025-04-06", "2025-09-07"}
	var events []randEvent
	for _, a := range anchors {
		d, _ := time.Parse(time.DateOnly, a)
		for _, center := range []time.Time{d, d.AddDate(-1, 0, 0)} {
			for range 60 {
				at := center.Add(time.Duration(rng.Int64N(90*86400)-45*86400) * time.Second)
				e := tally.Event{ID: tally.NewID(), Client: int32(rng.IntN(3)), ClientGroup: int32(rng.IntN(2)),
					DeviceType: tally.DeviceType(rng.IntN(3)), Category: tally.NoCategory,
					Timestamp: at, Valid: rng.IntN(2) == 0}
				if rng.IntN(2) == 0 {
					e.Category = tally.CategoryOf(7)
				}
				e.Value = tally.DecimalFromMicros(rng.Int64N(2e12) - 1e12)
				events = append(events, randEvent{e, e.Value})
			}
		}
	}
	batch := make([]tally.Event, len(events))
	for i := range events {
		batch[i] = events[i].e
	}
	if _, err := store.CreateEvents(context.Background(), batch); err != nil {
		t.Fatal(err)
	}

	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
		"Asia/Kolkata", "Asia/Kathmandu", "America/Santiago", "Pacific/Chatham"}
	dims := []tally.Column{tally.ColDeviceType, tally.ColCategory, tally.ColClient, tally.ColClientGroup, tally.ColValid}
	for i := range 40 {
		loc, _ := time.LoadLocation(zones[rng.IntN(len(zones))])
		g := tally.Granularity(rng.IntN(4))
		days := map[tally.Granularity]int{tally.Hour: 3, tally.Day: 40, tally.Week: 60, tally.Month: 100}[g]
		a, _ := time.Parse(time.DateOnly, anchors[rng.IntN(len(anchors))])
		start := a.AddDate(0, 0, rng.IntN(8)-5)
		end := start.AddDate(0, 0, 1+rng.IntN(days))
		groups := []tally.Column{tally.ColDate}
		for _, c := range rand.New(rand.NewPCG(seed, uint64(i))).Perm(len(dims))[:rng.IntN(3)] {
			groups = append(groups, dims[c])
		}
		rng.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
		fill := rng.IntN(3) > 0
		cmp := []tally.Comparison{tally.NoComparison, tally.PreviousPeriod, tally.PreviousYear}[rng.IntN(3)]
		if !fill && cmp == tally.NoComparison {
			cmp = tally.PreviousYear
		}
		if cmp != tally.NoComparison && !fill && len(groups) > 1 && rng.IntN(3) == 0 {
			groups = slices.DeleteFunc(groups, func(c tally.Column) bool { return c == tally.ColDate })
		}
		q := url.Values{}
		names := make([]string, len(groups))
		for i, c := range groups {
			names[i] = c.String()
		}
		q.Set("group_by", strings.Join(names, " "))
		q.Set("granularity", g.String())
		q.Set("tz", loc.String())
		q.Set("start_date", start.Format(time.DateOnly))
		q.Set("end_date", end.Format(time.DateOnly))
		if fill {
			q.Set("fill", "zero")
		}
		if cmp != tally.NoComparison {
			q.Set("compare", cmp.String())
		}
		if rng.IntN(2) == 0 {
			q.Set("order_by", []string{"-count", "mean", "-sum", "-date"}[rng.IntN(4)])
			if !slices.Contains(groups, tally.ColDate) {
				q.Set("order_by", "-count")
			}
		}
		t.Run(q.Encode(), func(t *testing.T) {
			checkRandomReport(t, ts, q, events, groups, g, loc, start, end, fill, cmp, rng)
		})
	}
}

// naiveRow is the expected aggregates of a row and of its previous row.
type naiveRow struct {
	count, prevCount int64
	sum, prevSum     tally.Decimal
}

func checkRandomReport(t *testing.T, ts *testServer, q url.Values, events []randEvent, groups []tally.Column,
	g tally.Granularity, loc *time.Location, start, end time.Time, fill bool, cmp tally.Comparison, rng *rand.Rand) {
	dateStart := func(d time.Time) time.Time { return tally.DateStart(d.Year(), d.Month(), d.Day(), loc) }
	from, to := dateStart(start), dateStart(end)
	// The earlier range, by the contract's words.
	var pStart, pEnd time.Time
	switch cmp {
	case tally.PreviousPeriod:
		n := int(end.Sub(start).Hours() / 24)
		pStart, pEnd = start.AddDate(0, 0, -n), start
	case tally.PreviousYear:
		yearBefore := func(d time.Time) time.Time {
			if d.Month() == time.February && d.Day() == 29 {
				d = d.AddDate(0, 0, -1)
			}
			return d.AddDate(-1, 0, 0)
		}
		pStart, pEnd = yearBefore(start), yearBefore(end)
	}
	pFrom, pTo := dateStart(pStart), dateStart(pEnd)

	dated := slices.Contains(groups, tally.ColDate)
	label := func(e *tally.Event, bucket string) string {
		var b strings.Builder
		for _, c := range groups {
			switch c {
			case tally.ColDate:
				b.WriteString(bucket)
			case tally.ColDeviceType:
				if e.DeviceType == tally.DeviceNone {
					b.WriteString("<nil>")
				} else {
					b.WriteString(e.DeviceType.String())
				}
			case tally.ColCategory:
				if e.Category == tally.NoCategory {
					b.WriteString("<nil>")
				} else {
					fmt.Fprint(&b, int32(e.Category))
				}
			case tally.ColClient:
				fmt.Fprint(&b, e.Client)
			case tally.ColClientGroup:
				fmt.Fprint(&b, e.ClientGroup)
			case tally.ColValid:
				fmt.Fprint(&b, e.Valid)
			}
			b.WriteByte('|')
		}
		return b.String()
	}
	printBucket := func(k int64) string {
		t := time.Unix(k, 0).UTC()
		switch g {
		case tally.Hour:
			return t.In(loc).Format(time.RFC3339)
		case tally.Month:
			return t.Format("2006-01")
		}
		return t.Format(time.DateOnly)
	}
	// The buckets of a range: those of an instant every quarter hour.
	buckets := func(from, to time.Time) []int64 {
		var keys []int64
		for s := from.Unix(); s < to.Unix(); s += 900 {
			keys = append(keys, tally.ReportBucket(s, g, loc))
		}
		slices.Sort(keys)
		return slices.Compact(keys)
	}
	cur, prev := buckets(from, to), buckets(pFrom, pTo)

	want := map[string]*naiveRow{}
	combos := map[string]*tally.Event{}
	var total, prevTotal naiveRow
	for i := range events {
		e := &events[i].e
		s := e.Timestamp.Unix()
		k := tally.ReportBucket(s, g, loc)
		switch {
		case s >= from.Unix() && s < to.Unix():
			l := label(e, printBucket(k))
			if want[l] == nil {
				want[l] = &naiveRow{}
			}
			want[l].count++
			want[l].sum = want[l].sum.Add(e.Value)
			total.count++
			total.sum = total.sum.Add(e.Value)
			combos[label(e, "")] = e
		}
	}
	if fill {
		for _, e := range combos {
			for _, k := range cur {
				if l := label(e, printBucket(k)); want[l] == nil {
					want[l] = &naiveRow{}
				}
			}
		}
	}
	if cmp != tally.NoComparison {
		for i := range events {
			e := &events[i].e
			s := e.Timestamp.Unix()
			if s < pFrom.Unix() || s >= pTo.Unix() {
				continue
			}
			prevTotal.count++
			prevTotal.sum = prevTotal.sum.Add(e.Value)
			bucket := ""
			if dated {
				pos := slices.Index(prev, tally.ReportBucket(s, g, loc))
				if pos >= len(cur) {
					continue // no bucket at that position in this range
				}
				bucket = printBucket(cur[pos])
			}
			if r := want[label(e, bucket)]; r != nil {
				r.prevCount++
				r.prevSum = r.prevSum.Add(e.Value)
			}
		}
	}

	q.Set("limit", "10000")
	b := decodeReport(t, ts.get(t, "/report?"+q.Encode()))
	if b.Pagination.TotalCount != len(want) || len(b.Rows) != len(want) {
		t.Fatalf("total_count %d, %d rows, want %d", b.Pagination.TotalCount, len(b.Rows), len(want))
	}
	checkAggregates(t, "totals", b.Totals, total.count, total.sum)
	if b.Query["start_date"] != start.Format(time.DateOnly) || b.Query["end_date"] != end.Format(time.DateOnly) {
		t.Errorf("query %v", b.Query)
	}
	for _, row := range b.Rows {
		var l strings.Builder
		for _, c := range groups {
			name := c.String()
			if c == tally.ColDate {
				name = g.String()
			}
			fmt.Fprint(&l, row[name])
			l.WriteByte('|')
		}
		w := want[l.String()]
		if w == nil {
			t.Errorf("row %v: not expected", row)
			continue
		}
		checkAggregates(t, l.String(), row, w.count, w.sum)
		if cmp == tally.NoComparison {
			if _, ok := row["previous"]; ok {
				t.Errorf("row %v: previous without compare", row)
			}
			continue
		}
		p, _ := row["previous"].(map[string]any)
		checkAggregates(t, l.String()+" previous", p, w.prevCount, w.prevSum)
	}
	if cmp != tally.NoComparison {
		c := b.Comparison
		if c == nil || c.StartDate != pStart.Format(time.DateOnly) || c.EndDate != pEnd.Format(time.DateOnly) {
			t.Fatalf("comparison %+v, want [%s, %s)", c, pStart.Format(time.DateOnly), pEnd.Format(time.DateOnly))
		}
		checkAggregates(t, "comparison totals", c.Totals, prevTotal.count, prevTotal.sum)
	} else if b.Comparison != nil {
		t.Errorf("comparison without compare: %+v", b.Comparison)
	}

	// The filled rows are ordered too: by the order_by metric, with a null
	// mean first.
	if o := q.Get("order_by"); o != "" && o != "-date" {
		desc := strings.HasPrefix(o, "-")
		key := func(row map[string]any) float64 {
			v, ok := row[strings.TrimPrefix(o, "-")].(json.Number)
			if !ok {
				return -1e300 // null
			}
			f, _ := v.Float64()
			return f
		}
		for i := 1; i < len(b.Rows); i++ {
			x, y := key(b.Rows[i-1]), key(b.Rows[i])
			if desc && x < y || !desc && x > y {
				t.Errorf("order_by=%s: row %v before %v", o, b.Rows[i-1], b.Rows[i])
			}
		}
	}

	// A page is the same slice of the filled, ordered result.
	if len(b.Rows) > 1 {
		offset, limit := rng.IntN(len(b.Rows)), 1+rng.IntN(len(b.Rows))
		q.Set("offset", fmt.Sprint(offset))
		q.Set("limit", fmt.Sprint(limit))
		p := decodeReport(t, ts.get(t, "/report?"+q.Encode()))
		wantPage := b.Rows[offset:min(offset+limit, len(b.Rows))]
		if fmt.Sprint(p.Rows) != fmt.Sprint(wantPage) || p.Pagination.TotalCount != len(b.Rows) {
			t.Errorf("offset %d limit %d: %v, want %v", offset, limit, p.Rows, wantPage)
		}
		// And as CSV, with the previous columns and empty means.
		q.Set("format", "csv")
		r := ts.get(t, "/report?"+q.Encode())
		records, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if err != nil || len(records) != len(wantPage)+1 {
			t.Fatalf("CSV %q: %d records, %v", r.Body, len(records), err)
		}
		header := strings.Join(records[0], ",")
		if cmp != tally.NoComparison && !strings.HasSuffix(header, ",count,sum,mean,previous_count,previous_sum,previous_mean") ||
			cmp == tally.NoComparison && !strings.HasSuffix(header, ",count,sum,mean") {
			t.Errorf("CSV header %q", header)
		}
		for i, rec := range records[1:] {
			n := len(groups)
			if mean := wantPage[i]["mean"]; rec[n] != fmt.Sprint(wantPage[i]["count"]) ||
				(mean == nil) != (rec[n+2] == "") {
				t.Errorf("CSV row %v, JSON row %v", rec, wantPage[i])
			}
		}
	}
}

// checkAggregates checks count, sum (exactly) and mean (null for no events,
// else the sum divided by the count, rounded once).
func checkAggregates(t *testing.T, what string, got map[string]any, count int64, sum tally.Decimal) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: missing", what)
		return
	}
	gotSum, err := tally.ParseDecimal(got["sum"].(json.Number).String())
	if err != nil || got["count"].(json.Number).String() != fmt.Sprint(count) || !gotSum.Equal(sum) {
		t.Errorf("%s: %v, want count %d, sum %s", what, got, count, sum)
	}
	switch mean := got["mean"].(type) {
	case nil:
		if count != 0 {
			t.Errorf("%s: mean null, count %d", what, count)
		}
	case json.Number:
		if f, _ := mean.Float64(); count == 0 || f != sum.Quo(count) {
			t.Errorf("%s: mean %s, want %v", what, mean, sum.Quo(count))
		}
	}
}
