package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the zoned queries must not depend on the machine's zoneinfo files

	_ "modernc.org/sqlite" // the naive baseline reads the store's file directly

	"github.com/tallyhq/tally"
	"github.com/tallyhq/tally/client"
)

// Query is one of the standard reports, in the terms of GET /report.
type Query struct {
	Name     string
	Title    string   // what it asks, for the table
	GroupBy  []string // empty: the default, all six dimensions
	OrderBy  []string // names, "-" prefixed for descending
	From, To time.Time
	Clients  []int32
	Valid    *bool
	Offset   int
	Limit    int // 0: the default, 100
	// Granularity of the date buckets: "hour", "week", "month"; empty is
	// the default, day.
	Granularity string
	// TZ is the report's IANA zone; empty is UTC. From and To are then
	// local dates (their UTC midnights stand for the dates).
	TZ string
}

// allDimensions is the default group_by, in the contract's order.
var allDimensions = []string{"date", "device_type", "category", "client", "client_group", "valid"}

// StandardQueries returns the standard reports of the benchmark over a data
// set whose last day ends at end (00:00 UTC of the day after it): Q1–Q6 in
// UTC days, answered from the day rollups, and Q7–Q11 in other zones or by
// hour, answered from the sub-day rollups.
func StandardQueries(end time.Time) []Query {
	days := func(n int) time.Time { return end.AddDate(0, 0, -n) }
	valid := true
	// The data set's last n local days in zone tz: the local date of its
	// last instant and the n-1 before it.
	local := func(tz string, n int) (from, to time.Time) {
		y, m, d := end.Add(-time.Second).In(mustZone(tz)).Date()
		to = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
		return to.AddDate(0, 0, -n), to
	}
	q7From, q7To := local("Europe/Berlin", 30)
	q8From, q8To := local("Asia/Kathmandu", 7)
	q9From, q9To := local("America/New_York", 30)
	q11From, q11To := local("Asia/Kolkata", 2)
	return []Query{
		{Name: "Q1", Title: "default: all six dimensions, limit 100"},
		{Name: "Q2", Title: "group_by=date, last 30 days", GroupBy: []string{"date"}, From: days(30), To: end},
		{Name: "Q3", Title: "group_by=date client order_by=-date, 10 clients, 30 days",
			GroupBy: []string{"date", "client"}, OrderBy: []string{"-date"},
			Clients: []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, From: days(30), To: end},
		{Name: "Q4", Title: "group_by=device_type valid", GroupBy: []string{"device_type", "valid"}},
		{Name: "Q5", Title: "group_by=client_group category valid=true, 7 days",
			GroupBy: []string{"client_group", "category"}, Valid: &valid, From: days(7), To: end},
		{Name: "Q6", Title: "group_by=client order_by=client offset=50 limit=20",
			GroupBy: []string{"client"}, OrderBy: []string{"client"}, Offset: 50, Limit: 20},
		{Name: "Q7", Title: "group_by=date tz=Europe/Berlin, last 30 days",
			GroupBy: []string{"date"}, TZ: "Europe/Berlin", From: q7From, To: q7To},
		{Name: "Q8", Title: "group_by=date device_type granularity=hour tz=Asia/Kathmandu, last 7 days",
			GroupBy: []string{"date", "device_type"}, Granularity: "hour", TZ: "Asia/Kathmandu", From: q8From, To: q8To},
		{Name: "Q9", Title: "group_by=client order_by=-sum limit=10 tz=America/New_York, last 30 days",
			GroupBy: []string{"client"}, OrderBy: []string{"-sum"}, Limit: 10, TZ: "America/New_York", From: q9From, To: q9To},
		{Name: "Q10", Title: "group_by=date granularity=week tz=Australia/Lord_Howe",
			GroupBy: []string{"date"}, Granularity: "week", TZ: "Australia/Lord_Howe"},
		{Name: "Q11", Title: "group_by=date client granularity=hour tz=Asia/Kolkata, last 2 days, limit 100",
			GroupBy: []string{"date", "client"}, Granularity: "hour", TZ: "Asia/Kolkata", From: q11From, To: q11To},
	}
}

// mustZone loads a zone of the standard queries, which time/tzdata holds.
func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// location is the query's zone.
func (q *Query) location() (*time.Location, error) {
	if q.TZ == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(q.TZ)
}

// bounds returns the instants of q's start and end dates, local midnights
// in loc, as the API reads start_date and end_date; zero when unset.
func (q *Query) bounds(loc *time.Location) (from, to time.Time) {
	at := func(d time.Time) time.Time {
		if d.IsZero() {
			return d
		}
		y, m, day := d.Date()
		return time.Date(y, m, day, 0, 0, 0, 0, loc)
	}
	return at(q.From), at(q.To)
}

// zoned reports whether q is answered in another zone or by hour, which a
// GROUP BY in SQLite (no time zones) cannot answer.
func (q *Query) zoned() bool { return q.TZ != "" || q.Granularity != "" }

// Client returns q as the client's query of GET /report.
func (q *Query) Client() client.Query {
	cq := client.Query{Clients: q.Clients, Valid: q.Valid, StartDate: q.From, EndDate: q.To,
		TZ: q.TZ, Offset: q.Offset, Limit: q.Limit}
	for _, g := range q.GroupBy {
		c, _ := tally.ParseColumn(g)
		cq.GroupBy = append(cq.GroupBy, c)
	}
	for _, o := range q.OrderBy {
		name, desc := strings.CutPrefix(o, "-")
		c, _ := tally.ParseColumn(name)
		cq.OrderBy = append(cq.OrderBy, tally.Order{Column: c, Desc: desc})
	}
	cq.Granularity, _ = tally.ParseGranularity(q.Granularity)
	return cq
}

func (q *Query) groups() []string {
	if len(q.GroupBy) == 0 {
		return allDimensions
	}
	return q.GroupBy
}

func (q *Query) limit() int {
	if q.Limit == 0 {
		return 100
	}
	return q.Limit
}

// answer is a report's page in a form both sides can be compared in: each
// row's grouped values as text, in group_by order.
type answer struct {
	Total int
	Rows  []answerRow
}

type answerRow struct {
	Key   string // grouped values, "|"-joined
	Count int64
	Sum   tally.Decimal
}

// same reports whether two answers agree exactly; when not, it says where
// they differ first.
func (a answer) same(b answer) (bool, string) {
	if a.Total != b.Total {
		return false, fmt.Sprintf("total_count %d, want %d", a.Total, b.Total)
	}
	if len(a.Rows) != len(b.Rows) {
		return false, fmt.Sprintf("%d rows, want %d", len(a.Rows), len(b.Rows))
	}
	for i := range a.Rows {
		x, y := a.Rows[i], b.Rows[i]
		if x.Key != y.Key || x.Count != y.Count || x.Sum != y.Sum {
			return false, fmt.Sprintf("row %d is %+v, want %+v", i, x, y)
		}
	}
	return true, ""
}

// errBusy is a report the server refused for now (503, or 422 while a
// rollup is being built): asking again later gets the answer.
var errBusy = errors.New("refused for now")

// getReport runs q once and returns its latency (request sent to answer
// decoded) and the answer. A 503 or 422 wraps errBusy.
func getReport(ctx context.Context, c *client.Client, q *Query) (time.Duration, *client.Report, error) {
	cq := q.Client()
	t0 := time.Now()
	rep, err := c.Report(ctx, &cq)
	elapsed := time.Since(t0)
	var ce *client.Error
	switch {
	case errors.As(err, &ce) && (ce.Status == http.StatusServiceUnavailable || ce.Status == http.StatusUnprocessableEntity):
		return 0, nil, fmt.Errorf("%s: %w: %w", q.Name, err, errBusy)
	case err != nil:
		return 0, nil, fmt.Errorf("%s: %w", q.Name, err)
	}
	return elapsed, rep, nil
}

// firstAnswerTimeout bounds how long the first answer of a report may take,
// refusals included.
const firstAnswerTimeout = 10 * time.Minute

// firstReport gets q's first answer and returns how long it took from the
// first request, and how many times the server refused it meanwhile. The
// first report of a zone or hour shape builds its sub-day rollup with a
// scan of every event; past the server's --scan-timeout (30 s) it answers
// 503 while the build goes on, so a refused request is asked again.
func firstReport(ctx context.Context, c *client.Client, q *Query) (time.Duration, *client.Report, int, error) {
	t0 := time.Now()
	for refused := 0; ; refused++ {
		_, rep, err := getReport(ctx, c, q)
		if !errors.Is(err, errBusy) || time.Since(t0) > firstAnswerTimeout {
			return time.Since(t0), rep, refused, err
		}
		select {
		case <-ctx.Done():
			return 0, nil, refused, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// answerOf is a report's page as the comparison with the raw scan reads
// it.
func answerOf(q *Query, rep *client.Report) answer {
	cq := q.Client()
	groups := cq.GroupBy
	if len(groups) == 0 {
		groups = tally.Dimensions
	}
	a := answer{Total: rep.TotalCount, Rows: make([]answerRow, len(rep.Rows))}
	key := make([]string, len(groups))
	for i := range rep.Rows {
		r := &rep.Rows[i]
		for j, g := range groups {
			key[j] = r.Value(g)
		}
		a.Rows[i] = answerRow{Key: strings.Join(key, "|"), Count: r.Count, Sum: r.Sum}
	}
	return a
}

// openRaw opens the store's SQLite file read-only, beside the running server
// (WAL lets a reader in while the server holds the file).
func openRaw(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// microsPerDay turns the events table's ts (Unix microseconds) into a UTC
// day number by integer division, as a raw-scan report would.
const microsPerDay = 24 * 60 * 60 * 1_000_000

// naiveWhere is the WHERE clause of a raw scan of q's events in [from, to),
// either bound zero for none, with its arguments.
func naiveWhere(q *Query, from, to time.Time) ([]string, []any) {
	var where []string
	var args []any
	if !from.IsZero() {
		where = append(where, "ts >= ?")
		args = append(args, from.UnixMicro())
	}
	if !to.IsZero() {
		where = append(where, "ts < ?")
		args = append(args, to.UnixMicro())
	}
	if len(q.Clients) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?,", len(q.Clients)), ",")
		where = append(where, "client IN ("+ph+")")
		for _, c := range q.Clients {
			args = append(args, c)
		}
	}
	if q.Valid != nil {
		where = append(where, "valid = ?")
		args = append(args, *q.Valid)
	}
	return where, args
}

// naiveSQL is q as one GROUP BY over the raw events table: the old service's
// way of answering, whose cost grows with the events scanned. The window
// count gives total_count in the same scan.
func naiveSQL(q *Query) (string, []any) {
	expr := map[string]string{
		"date": fmt.Sprintf("ts / %d", microsPerDay), "device_type": "device_type", "category": "category",
		"client": "client", "client_group": "client_group", "valid": "valid",
	}
	groups := q.groups()
	var cols []string
	for _, g := range groups {
		cols = append(cols, expr[g])
	}
	where, args := naiveWhere(q, q.From, q.To)
	// Order: the order_by columns, then the other grouped ones ascending, as
	// the contract breaks ties.
	var order []string
	ordered := map[string]bool{}
	for _, o := range q.OrderBy {
		name, desc := strings.CutPrefix(o, "-")
		ordered[name] = true
		if desc {
			order = append(order, expr[name]+" DESC")
		} else {
			order = append(order, expr[name])
		}
	}
	for _, g := range groups {
		if !ordered[g] {
			order = append(order, expr[g])
		}
	}
	// Values are value_hi·2^64 + value_lo millionths; the generator's are
	// below 9.2e12, where value_hi is 0, and their sums fit in an int64.
	s := "SELECT " + strings.Join(cols, ", ") + ", COUNT(*), SUM(value_lo), COUNT(*) OVER () FROM events"
	if len(where) > 0 {
		s += " WHERE " + strings.Join(where, " AND ")
	}
	s += " GROUP BY " + strings.Join(cols, ", ") + " ORDER BY " + strings.Join(order, ", ") + " LIMIT ? OFFSET ?"
	args = append(args, q.limit(), q.Offset)
	return s, args
}

// naiveReport answers q from the raw events and returns how long it took:
// a GROUP BY in SQL for UTC days, a scan grouped in Go otherwise.
func naiveReport(ctx context.Context, db *sql.DB, q *Query) (time.Duration, answer, error) {
	if q.zoned() {
		return scanReport(ctx, sqliteEvents(db), q)
	}
	query, args := naiveSQL(q)
	t0 := time.Now()
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, answer{}, fmt.Errorf("naive %s: %w", q.Name, err)
	}
	defer rows.Close()
	groups := q.groups()
	vals := make([]int64, len(groups))
	dest := make([]any, 0, len(groups)+3)
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	var a answer
	var r answerRow
	var micros int64
	dest = append(dest, &r.Count, &micros, &a.Total)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, answer{}, fmt.Errorf("naive %s: %w", q.Name, err)
		}
		key := make([]string, len(groups))
		for i, g := range groups {
			key[i] = naiveValue(q, time.UTC, g, vals[i])
		}
		r.Key = strings.Join(key, "|")
		r.Sum = tally.DecimalFromMicros(micros)
		a.Rows = append(a.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return 0, answer{}, fmt.Errorf("naive %s: %w", q.Name, err)
	}
	elapsed := time.Since(t0)
	if len(a.Rows) == 0 && q.Offset > 0 {
		// A page past the end carries no window count: count the groups.
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM ("+strings.Replace(query, " LIMIT ? OFFSET ?", "", 1)+")",
			args[:len(args)-2]...).Scan(&a.Total); err != nil {
			return 0, answer{}, fmt.Errorf("naive %s: count: %w", q.Name, err)
		}
		elapsed = time.Since(t0)
	}
	return elapsed, a, nil
}

// naiveValue writes a raw column value the way the API writes it. A date
// is a UTC day number from SQL; from a scan (zoned queries) it is the Unix
// seconds of the bucket's first instant (hour) or of its local date's
// midnight in UTC (day, week, month).
func naiveValue(q *Query, loc *time.Location, col string, v int64) string {
	switch {
	case col == "date" && !q.zoned():
		return time.Unix(v*24*60*60, 0).UTC().Format(time.DateOnly)
	case col == "date" && q.Granularity == "hour":
		return time.Unix(v, 0).In(loc).Format(time.RFC3339)
	case col == "date" && q.Granularity == "month":
		return time.Unix(v, 0).UTC().Format("2006-01")
	case col == "date":
		return time.Unix(v, 0).UTC().Format(time.DateOnly)
	}
	switch col {
	case "device_type":
		return tally.DeviceType(v).String()
	case "category":
		if tally.Category(v) == tally.NoCategory {
			return "null"
		}
		return strconv.FormatInt(v, 10)
	case "valid":
		return strconv.FormatBool(v != 0)
	}
	return strconv.FormatInt(v, 10)
}

// ReportResult is one standard report's figures on one data set.
type ReportResult struct {
	Query Query
	Rows  int // rows on the page
	Total int // total_count
	// First is the first answer's latency, which includes building what the
	// report is answered from (a projection, a sub-day rollup); Refused
	// counts the 503s and 422s the server answered before it.
	First    time.Duration
	Refused  int
	Tally    Latencies // the timed runs after the first
	Baseline Latencies
}

// Speedup is how many times faster Tally's median is than the baseline's.
func (r ReportResult) Speedup() float64 {
	if r.Tally.P50 <= 0 {
		return 0
	}
	return float64(r.Baseline.P50) / float64(r.Tally.P50)
}

// measureReports runs each standard report runs times through the server and
// baselineRuns times as a raw scan of the file at dbPath, after checking
// once that both give the same page. The raw scans of a report stop early,
// after at least one, once they have taken baselineTime: at 10M events one
// takes minutes.
func measureReports(ctx context.Context, base, dbPath string, queries []Query, runs, baselineRuns int, baselineTime time.Duration) ([]ReportResult, error) {
	c, closeIdle, err := newClient(base, 1)
	if err != nil {
		return nil, err
	}
	defer closeIdle()
	db, err := openRaw(dbPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()

	var out []ReportResult
	for _, q := range queries {
		// The first request is timed apart: it checks the answer and keeps
		// out of the percentiles what only the first report of a shape
		// pays (building the projection or sub-day rollup it is answered
		// from).
		first, rep, refused, err := firstReport(ctx, c, &q)
		if err != nil {
			return nil, err
		}
		got := answerOf(&q, rep)
		var timings []time.Duration
		for range runs {
			d, _, err := getReport(ctx, c, &q)
			if err != nil {
				return nil, err
			}
			timings = append(timings, d)
		}
		res := ReportResult{Query: q, Rows: len(got.Rows), Total: got.Total, First: first, Refused: refused, Tally: Summarize(timings)}

		timings = timings[:0]
		start := time.Now()
		for i := range baselineRuns {
			if i > 0 && baselineTime > 0 && time.Since(start) >= baselineTime {
				break
			}
			d, want, err := naiveReport(ctx, db, &q)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				if ok, why := got.same(want); !ok {
					return nil, fmt.Errorf("%s: Tally and the raw scan disagree: %s", q.Name, why)
				}
			}
			timings = append(timings, d)
		}
		res.Baseline = Summarize(slices.Clone(timings))
		out = append(out, res)
	}
	return out, nil
}
