package sqlite

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/tallyhq/tally"
)

// maxSQLList bounds a filter list written into SQL as IN (...): longer lists
// are left to the Aggregator, which checks every filter anyway.
const maxSQLList = 500

// Report answers q from the in-memory cube: from its day cells when q's
// buckets and bounds are whole UTC days, else from the sub-day rollup of the
// dimensions q needs, which is built on first use with one scan of the
// events, shared with every other rollup asked for meanwhile (slots.go; the
// store's scan timeout bounds the wait for it). Queries whose rollup would
// not fit the cube's budget, or whose bounds are not whole 15-minute slots,
// read the raw events in their time range, within the store's scan limits.
func (s *Store) Report(ctx context.Context, q tally.ReportQuery) (tally.Report, error) {
	if r, ok := s.cube.Load().Report(&q); ok {
		return r, nil
	}
	if done, ok := s.awaitSlots(&q); ok {
		if err := s.scans.Wait(ctx, done); err != nil {
			return tally.Report{}, err
		}
		if r, ok := s.cube.Load().Report(&q); ok {
			return r, nil
		}
	}
	var r tally.Report
	err := s.scans.Do(ctx, func(ctx context.Context) error {
		a := tally.NewAggregator(&q)
		if err := s.feedEvents(ctx, &q, a); err != nil {
			return err
		}
		r = a.Report()
		return nil
	})
	if err != nil {
		return tally.Report{}, err
	}
	return r, nil
}

func (s *Store) feedEvents(ctx context.Context, q *tally.ReportQuery, a *tally.Aggregator) error {
	w := eventsWhere(&q.Filter)
	if err := eachEvent(ctx, s.read, w.String(), w.args, a.Add); err != nil {
		return fmt.Errorf("sqlite: report: %w", err)
	}
	return nil
}

// eventsWhere narrows a scan of the events to f's time range and short
// filter lists. The Aggregator (or Filter.Matcher) compares whole seconds;
// the bounds here are whole seconds too, so SQL never drops an event the
// exact check would keep.
func eventsWhere(f *tally.Filter) where {
	var w where
	if !f.From.IsZero() {
		w.add("ts >= ?", secondsToMicros(f.From.Unix()))
	}
	if !f.To.IsZero() {
		w.add("ts < ?", secondsToMicros(f.To.Unix()))
	}
	w.filterLists(f)
	return w
}

// eachEvent calls add for every event the WHERE clause where (with args)
// selects, keyed at the event's own second, as the Aggregator and the
// cube's rollup builds take raw events.
func eachEvent(ctx context.Context, db querier, where string, args []any, add func(tally.CellKey, int64, tally.Decimal)) error {
	rows, err := db.QueryContext(ctx,
		`SELECT ts, device_type, category, client, client_group, valid, value_lo, value_hi FROM events`+where, args...)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	var (
		k               tally.CellKey
		ts, device, cat int64
		v               storedValue
	)
	for rows.Next() {
		if err := rows.Scan(&ts, &device, &cat, &k.Client, &k.ClientGroup, &k.Valid, &v.lo, &v.hi); err != nil {
			return translate(err)
		}
		k.Bucket = floorDiv(ts, 1e6)
		k.DeviceType, k.Category = tally.DeviceType(device), tally.Category(cat)
		add(k, 1, v.decimal())
	}
	return translate(rows.Err())
}

// secondsToMicros converts, saturating far outside the years events can have.
func secondsToMicros(sec int64) int64 {
	switch {
	case sec > math.MaxInt64/1_000_000:
		return math.MaxInt64
	case sec < math.MinInt64/1_000_000:
		return math.MinInt64
	}
	return sec * 1e6
}

func floorDiv(x, y int64) int64 {
	q := x / y
	if x%y != 0 && x < 0 {
		q--
	}
	return q
}

// where builds the WHERE clause that pre-filters rows in SQL. It only narrows
// what the Aggregator would drop anyway.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func (w *where) filterLists(f *tally.Filter) {
	in(w, "device_type", f.DeviceTypes)
	in(w, "category", f.Categories)
	in(w, "client", f.Clients)
	in(w, "client_group", f.ClientGroups)
	if f.Valid != nil {
		w.add("valid = ?", *f.Valid)
	}
}

func in[T ~uint8 | ~int32 | ~int64](w *where, col string, vs []T) {
	switch {
	case vs == nil || len(vs) > maxSQLList:
		return
	case len(vs) == 0:
		w.add("0") // an empty list keeps nothing
		return
	}
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = int64(v)
	}
	w.add(col+" IN (?"+strings.Repeat(", ?", len(vs)-1)+")", args...)
}
