package bench

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tallyhq/tally"
)

// scanGroup is one group of a raw scan: its grouped values in group_by
// order (see scanReport), its count and its exact sum.
type scanGroup struct {
	vals  [6]int64
	count int64
	sum   tally.Decimal
}

// rawEvent is one raw event as a naive scan reads it: its time in Unix
// microseconds, its five other dimensions as stored (see dimensionOrder)
// and its exact value.
type rawEvent struct {
	ts    int64
	dims  [5]int64
	value tally.Decimal
}

// dimensionOrder names rawEvent.dims. Values compare as the contract
// orders them: null device types (0) and categories (tally.NoCategory)
// first, false before true.
var dimensionOrder = [5]string{"device_type", "category", "client", "client_group", "valid"}

// rawSource reads the live raw events of q's filters (clients, valid) in
// [from, to), either bound zero for none, and hands each to yield: a store's
// events read as directly as the store allows.
type rawSource func(ctx context.Context, q *Query, from, to time.Time, yield func(*rawEvent)) error

// sqliteEvents reads the events table of the file db has open.
func sqliteEvents(db *sql.DB) rawSource {
	return func(ctx context.Context, q *Query, from, to time.Time, yield func(*rawEvent)) error {
		where, args := naiveWhere(q, from, to)
		query := "SELECT ts, device_type, category, client, client_group, valid, value_lo, value_hi FROM events"
		if len(where) > 0 {
			query += " WHERE " + strings.Join(where, " AND ")
		}
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var (
			e      rawEvent
			lo, hi int64
		)
		for rows.Next() {
			if err := rows.Scan(&e.ts, &e.dims[0], &e.dims[1], &e.dims[2], &e.dims[3], &e.dims[4], &lo, &hi); err != nil {
				return err
			}
			e.value = tally.DecimalFromParts(hi, lo)
			yield(&e)
		}
		return rows.Err()
	}
}

// scanReport answers a query the naive way: it reads every raw event in
// range from src and groups them in Go, taking each event's bucket from
// time.In in the query's zone (SQLite has no time zones, so no GROUP BY
// can do this; a MongoDB store is answered this way for every query). It
// shares no code with tally.Aggregator, so that agreeing with the server
// checks both.
func scanReport(ctx context.Context, src rawSource, q *Query) (time.Duration, answer, error) {
	loc, err := q.location()
	if err != nil {
		return 0, answer{}, fmt.Errorf("naive %s: %w", q.Name, err)
	}
	from, to := q.bounds(loc)
	groups := q.groups()
	dim := make([]int, len(groups)) // index in rawEvent.dims; -1 for the date
	for i, g := range groups {
		dim[i] = slices.Index(dimensionOrder[:], g)
	}

	t0 := time.Now()
	index := map[[6]int64]*scanGroup{}
	var vals [6]int64
	err = src(ctx, q, from, to, func(e *rawEvent) {
		for i, d := range dim {
			switch {
			case d >= 0:
				vals[i] = e.dims[d]
			case q.zoned():
				vals[i] = scanBucket(time.Unix(floorDiv(e.ts, 1_000_000), 0).In(loc), q.Granularity)
			default:
				vals[i] = floorDiv(e.ts, microsPerDay) // naiveValue's UTC day number
			}
		}
		grp := index[vals]
		if grp == nil {
			grp = &scanGroup{vals: vals}
			index[vals] = grp
		}
		grp.count++
		grp.sum = grp.sum.Add(e.value)
	})
	if err != nil {
		return 0, answer{}, fmt.Errorf("naive %s: %w", q.Name, err)
	}

	all := make([]*scanGroup, 0, len(index))
	for _, grp := range index {
		all = append(all, grp)
	}
	slices.SortFunc(all, func(x, y *scanGroup) int { return compareGroups(q, groups, x, y) })
	a := answer{Total: len(all)}
	page := all[min(q.Offset, len(all)):]
	page = page[:min(q.limit(), len(page))]
	for _, grp := range page {
		key := make([]string, len(groups))
		for i, g := range groups {
			key[i] = naiveValue(q, loc, g, grp.vals[i])
		}
		a.Rows = append(a.Rows, answerRow{Key: strings.Join(key, "|"), Count: grp.count, Sum: grp.sum})
	}
	return time.Since(t0), a, nil
}

// scanBucket returns the key of the date bucket that local time t falls in:
// for an hour, the Unix seconds of the hour's first instant, which is the
// start of the local hour or, when the offset changed within it (Lord
// Howe's 30-minute shift), the change; for a day, week (from Monday) or
// month, the Unix seconds of its first local date's midnight in UTC.
func scanBucket(t time.Time, granularity string) int64 {
	if granularity == "hour" {
		start := t.Add(-time.Duration(t.Minute())*time.Minute - time.Duration(t.Second())*time.Second)
		if zoneStart, _ := t.ZoneBounds(); !zoneStart.IsZero() && zoneStart.After(start) {
			start = zoneStart
		}
		return start.Unix()
	}
	y, m, d := t.Date()
	switch granularity {
	case "week":
		d -= (int(t.Weekday()) + 6) % 7
	case "month":
		d = 1
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
}

// compareGroups orders groups as the API contract does: by the order_by
// terms, then by the other grouped columns ascending in group_by order.
// Grouped values compare as stored (null device types and categories
// first).
func compareGroups(q *Query, groups []string, x, y *scanGroup) int {
	value := func(name string, grp *scanGroup) int64 {
		return grp.vals[slices.Index(groups, name)]
	}
	column := func(name string) int {
		switch name {
		case "count":
			return cmp.Compare(x.count, y.count)
		case "sum":
			return x.sum.Cmp(y.sum)
		case "mean":
			return cmp.Compare(x.sum.Quo(x.count), y.sum.Quo(y.count))
		}
		return cmp.Compare(value(name, x), value(name, y))
	}
	ordered := map[string]bool{}
	for _, o := range q.OrderBy {
		name, desc := strings.CutPrefix(o, "-")
		ordered[name] = true
		if c := column(name); c != 0 {
			if desc {
				return -c
			}
			return c
		}
	}
	for _, g := range groups {
		if ordered[g] {
			continue
		}
		if c := column(g); c != 0 {
			return c
		}
	}
	return 0
}

// floorDiv is x / y rounded down (timestamps before 1970 are negative).
func floorDiv(x, y int64) int64 {
	q := x / y
	if x%y != 0 && x < 0 {
		q--
	}
	return q
}
